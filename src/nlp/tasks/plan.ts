import { InvalidArgumentError } from '../../errors.js';
import type { NestedNumbers } from '../../native/protocol.js';
import type { TextModel, TextRequest } from '../text-model.js';
import type { TokenizedText } from '../tokenizer.js';

/** One result in Elastic's shape. */
export type InferenceResult = Record<string, unknown>;

/** The rows a request sends in its one batch, and how their output rows become one result per doc. */
export interface TaskPlan {
  rows: TokenizedText[];
  finish: (outputs: NestedNumbers[]) => InferenceResult[] | Promise<InferenceResult[]>;
}

export type PlanTask = (model: TextModel, request: TextRequest) => Promise<TaskPlan>;

/** Each text alone, truncated as the request says. */
export function encodeEach(model: TextModel, request: TextRequest): Promise<TokenizedText[]> {
  const { truncate, maxSequenceLength } = request;
  return Promise.all(request.texts.map((text) => model.tokenizer.encode(text, { truncate, maxSequenceLength })));
}

/** Elastic writes is_truncated only when a text was cut. */
export function withTruncation(result: InferenceResult, truncated: boolean): InferenceResult {
  return truncated ? { ...result, is_truncated: true } : result;
}

/** A whole number option of the request, or its default. */
export function intOption(options: Record<string, unknown>, name: string, fallback: number, min: number): number {
  const value = options[name] ?? fallback;
  if (!Number.isInteger(value) || (value as number) < min) {
    throw new InvalidArgumentError(`${name} must be a whole number of at least ${min}; got ${JSON.stringify(value)}`);
  }
  return value as number;
}

/** A text option of the request; `required` names what to send when it is missing. */
export function textOption(options: Record<string, unknown>, name: string, task: string): string {
  const value = options[name];
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidArgumentError(
      `${task} needs the ${name} in the request: send {"inference_config": {"${task}": {"${name}": "…"}}}${value === undefined ? '' : `; got ${JSON.stringify(value)}`}`,
    );
  }
  return value;
}

/** Only the options a task knows: a misspelt one is refused rather than ignored. */
export function checkOptions(options: Record<string, unknown>, task: string, known: readonly string[]): void {
  const unknown = Object.keys(options).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    const takes = known.length > 0 ? `takes ${[...known, 'tokenization'].join(', ')}` : 'takes only tokenization';
    throw new InvalidArgumentError(
      `inference_config.${task} ${takes}; ${unknown.map((k) => JSON.stringify(k)).join(', ')} is not one of them`,
    );
  }
}
