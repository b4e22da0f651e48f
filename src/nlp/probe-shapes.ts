import type { TaskConfig } from '../model/task-config.js';

interface Expected {
  text: string;
  matches: (shape: number[]) => boolean;
}

/** The output shape a task's post-processing reads, for a batch of `rows` rows of `length` tokens. */
export function expectedShape(config: TaskConfig, rows: number, length: number): Expected {
  const labels = config.labels?.length ?? 0;
  const size = config.text_embedding?.embedding_size;
  const is =
    (...dims: Array<number | null>) =>
    (shape: number[]) =>
      shape.length === dims.length && dims.every((d, i) => d === null || shape[i] === d);
  switch (config.task) {
    case 'text_classification':
    case 'zero_shot_classification':
    case 'text_similarity':
      return { text: `[${rows}, ${labels}] (one score per label)`, matches: is(rows, labels) };
    case 'ner':
      return { text: `[${rows}, ${length}, ${labels}] (one score per token and label)`, matches: is(rows, length, labels) };
    case 'question_answering':
      return { text: `[${rows}, ${length}, 2] (start and end logits per token)`, matches: is(rows, length, 2) };
    case 'fill_mask':
      return { text: `[${rows}, ${length}, vocabulary size]`, matches: is(rows, length, null) };
    case 'text_embedding':
      return {
        text: `[${rows}, ${size ?? 'dim'}] or [${rows}, ${length}, ${size ?? 'dim'}]`,
        matches: (shape) => is(rows, size ?? null)(shape) || is(rows, length, size ?? null)(shape),
      };
    case 'text_expansion':
      return {
        text: `[${rows}, vocabulary size] or [${rows}, ${length}, vocabulary size]`,
        matches: (s) => is(rows, null)(s) || is(rows, length, null)(s),
      };
    default:
      return { text: `a first dimension of ${rows} (the batch)`, matches: (shape) => shape[0] === rows };
  }
}
