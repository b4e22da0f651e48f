import type { NestedNumbers } from '../native/protocol.js';

/** Probabilities from logits, shifted by the largest so that exp cannot overflow. */
export function softmax(logits: readonly number[]): number[] {
  const max = Math.max(...logits);
  const exps = logits.map((x) => Math.exp(x - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((x) => x / sum);
}

export function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i += 1) if (values[i]! > values[best]!) best = i;
  return best;
}

/** Indexes of the `k` largest values, largest first (ties: the lower index first, as a stable sort gives). */
export function topIndexes(values: readonly number[], k: number): number[] {
  return values
    .map((_, i) => i)
    .sort((a, b) => values[b]! - values[a]!)
    .slice(0, Math.max(0, k));
}

/** The dimensions of a nested array, following its first elements. */
export function shapeOf(value: NestedNumbers): number[] {
  const shape: number[] = [];
  let current: NestedNumbers = value;
  while (Array.isArray(current)) {
    shape.push(current.length);
    current = current[0] ?? 0;
  }
  return shape;
}

/** A row of the output as a vector, or null when it is not one. */
export function asVector(row: NestedNumbers | undefined): number[] | null {
  return Array.isArray(row) && row.every((x) => typeof x === 'number') ? row : null;
}

/** A row of the output as a matrix (one vector per token), or null when it is not one. */
export function asMatrix(row: NestedNumbers | undefined): number[][] | null {
  if (!Array.isArray(row) || row.length === 0) return null;
  const vectors = row.map((r) => asVector(r));
  return vectors.every((v) => v !== null) ? vectors : null;
}
