import { InternalError } from '../errors.js';
import type { NestedNumbers, ResponseFrame } from '../native/protocol.js';
import type { InferenceInputs } from '../native/token-ids.js';
import type { TokenizedText } from './tokenizer.js';

/** What each input is padded with; `deployment.infer` passes it on so that a batcher can pad further. */
export type PadValues = { tokens: number } & Partial<Record<'arg_1' | 'arg_2' | 'arg_3', number>>;

export interface PaddedBatch {
  inputs: InferenceInputs;
  pad: PadValues;
}

type InputName = 'tokens' | 'arg_1' | 'arg_2' | 'arg_3';

// Elastic's convention: tokens, arg_1 the attention mask, arg_2 the token type ids, arg_3 the position ids.
const ROW_OF: Record<InputName, (row: TokenizedText) => number[]> = {
  tokens: (row) => row.ids,
  arg_1: (row) => row.attentionMask,
  arg_2: (row) => row.typeIds,
  arg_3: (row) => row.ids.map((_, i) => i),
};

/**
 * All rows in one batch, each padded to the longest: `tokens` with the tokenizer's pad id, the
 * others with 0, so that a padded position is masked out and a row answers as it would alone.
 */
export function padBatch(rows: readonly TokenizedText[], inputNames: readonly string[], padId: number): PaddedBatch {
  const length = Math.max(...rows.map((row) => row.ids.length));
  const inputs = {} as Record<InputName, number[][]>;
  const pad = { tokens: padId } as PadValues;
  for (const name of inputNames as InputName[]) {
    const fill = name === 'tokens' ? padId : 0;
    inputs[name] = rows.map((row) => padRow(ROW_OF[name](row), length, fill));
    if (name !== 'tokens') pad[name] = 0;
  }
  return { inputs: inputs, pad };
}

function padRow(row: number[], length: number, fill: number): number[] {
  return row.length === length ? row : [...row, ...new Array<number>(length - row.length).fill(fill)];
}

/** The output's rows, one per row sent; an error frame or a wrong batch size is the model's failure. */
export function outputRows(frame: ResponseFrame, count: number, modelId: string): NestedNumbers[] {
  if (frame.type === 'error') throw new InternalError(`model '${modelId}' refused the batch: ${frame.error.error}`);
  if (frame.type !== 'result') throw new InternalError(`model '${modelId}' answered the batch with a ${frame.type} frame`);
  const rows = frame.result.inference;
  if (!Array.isArray(rows) || rows.length < count) {
    throw new InternalError(
      `model '${modelId}' answered ${Array.isArray(rows) ? rows.length : 0} rows for a batch of ${count}: its first output dimension must be the batch`,
    );
  }
  return rows.slice(0, count);
}
