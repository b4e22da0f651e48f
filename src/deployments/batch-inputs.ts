import type { NestedNumbers, ResponseFrame, ResultFrame } from '../native/protocol.js';
import { ARG_NAMES, type InferenceInputs, type TokenBatch } from '../native/token-ids.js';

/** The value each input is padded with, for requests whose rows may be padded to a batch's longest (text requests). */
export interface PadValues {
  tokens: number;
  arg_1?: number;
  arg_2?: number;
  arg_3?: number;
}

export type InputName = 'tokens' | (typeof ARG_NAMES)[number];

let unmergeable = 0;

/**
 * Requests of one key may go to the process as one frame. Padded requests share a key when they
 * pad with the same values and carry the same inputs; raw ones when all their rows have the same
 * length and they carry the same inputs. Anything else gets a key of its own and goes alone.
 */
export function mergeKey(inputs: InferenceInputs, pad: PadValues | undefined): string {
  const present = ARG_NAMES.filter((name) => inputs[name] !== undefined);
  if (!isBatch(inputs.tokens) || !present.every((name) => isBatch(inputs[name]))) return `alone:${(unmergeable += 1)}`;
  if (pad && present.every((name) => typeof pad[name] === 'number'))
    return `pad:${pad.tokens}:${present.map((name) => `${name}=${pad[name]}`).join(',')}`;
  const length = inputs.tokens[0]?.length;
  if (length === undefined || inputs.tokens.some((row) => row.length !== length)) return `alone:${(unmergeable += 1)}`;
  return `raw:${length}:${present.join(',')}`;
}

/** One frame's inputs from the requests' rows in order; padded rows get `pad` at their end, up to the longest. */
export function mergeInputs(parts: InferenceInputs[], pad: PadValues | undefined): InferenceInputs {
  if (parts.length === 1) return parts[0]!;
  const longest = Math.max(...parts.flatMap((p) => p.tokens.map((row) => row.length)));
  const merge = (name: InputName): TokenBatch => {
    const rows = parts.flatMap((p) => p[name]!);
    const fill = pad?.[name];
    if (fill === undefined) return rows;
    return rows.map((row) => (row.length === longest ? row : [...row, ...new Array<number>(longest - row.length).fill(fill)]));
  };
  const merged: InferenceInputs = { tokens: merge('tokens') };
  for (const name of ARG_NAMES) if (parts[0]![name] !== undefined) merged[name] = merge(name);
  return merged;
}

/**
 * Each request's own rows of a batch's answer, as a frame of its own with the batch's time; null
 * when the answer does not have one entry per row sent, which no split can make right.
 */
export function splitAnswer(answer: ResultFrame, rowCounts: number[]): ResponseFrame[] | null {
  const rows: NestedNumbers[] = answer.result?.inference;
  const total = rowCounts.reduce((sum, n) => sum + n, 0);
  if (!Array.isArray(rows) || rows.length !== total) return null;
  let offset = 0;
  return rowCounts.map((count) => {
    const own = rows.slice(offset, (offset += count));
    return { type: 'result', request_id: answer.request_id, result: { inference: own }, time_ms: answer.time_ms };
  });
}

export function rowCount(inputs: InferenceInputs): number {
  return Array.isArray(inputs.tokens) ? inputs.tokens.length : 1;
}

function isBatch(value: unknown): value is TokenBatch {
  return Array.isArray(value) && value.length > 0 && value.every((row) => Array.isArray(row));
}
