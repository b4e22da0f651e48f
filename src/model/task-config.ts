import { SourceError } from '../errors.js';
import type { NlpInfo } from './assets.js';

/** The tasks a stored model can be given, with Elastic ML's names. */
export const TASKS = [
  'text_embedding',
  'text_classification',
  'zero_shot_classification',
  'text_similarity',
  'ner',
  'fill_mask',
  'question_answering',
  'text_expansion',
  'pass_through',
] as const;
export type Task = (typeof TASKS)[number];

/** The task config stored beside the model (docs/nlp.md describes every field). */
export interface TaskConfig {
  task: Task;
  labels: string[] | null;
  tokenization: { family: string; do_lower_case: boolean; max_sequence_length: number; truncate: string };
  /** The native process's inputs, in order: tokens, then arg_1 (attention mask), arg_2, arg_3. */
  inputs: string[];
  input: { field_names: string[] };
  text_embedding?: { pooling: string; normalize: boolean; embedding_size: number };
}

/** Reads a task config as the import script wrote it; anything else is refused before it is stored. */
export function parseTaskConfig(bytes: Buffer, name: string): TaskConfig {
  let config: Partial<TaskConfig>;
  try {
    config = JSON.parse(bytes.toString('utf8')) as Partial<TaskConfig>;
  } catch (error) {
    throw new SourceError(`the task config ${name} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  const length = config.tokenization?.max_sequence_length;
  if (!TASKS.includes(config.task as Task) || typeof config.tokenization?.family !== 'string' || !Number.isSafeInteger(length)) {
    throw new SourceError(`the task config ${name} has no task, tokenizer family or max_sequence_length; import the model again`);
  }
  return config as TaskConfig;
}

/** What the meta document keeps of a task config, for `models show` and a deploy. */
export function summaryOf(config: TaskConfig): Omit<NlpInfo, 'assets'> {
  return {
    task: config.task,
    labels: config.labels,
    tokenizer_family: config.tokenization.family,
    max_sequence_length: config.tokenization.max_sequence_length,
  };
}
