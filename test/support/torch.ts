import { inject } from 'vitest';
import { readReference, type ReferenceModel, type TorchReference, type TorchSetup } from '../../bench/support/torch-models.js';

export type { TorchReference };

/** native-torch, the Python with torch and the fixture models, which the global setup prepared. */
export const torchSetup = (): TorchSetup => inject('torch');

export const torchReference = (name: ReferenceModel): Promise<TorchReference> => readReference(torchSetup().fixtures, name);

/** The largest difference between two nested arrays of numbers of the same shape; Infinity when the shapes differ. */
export function maxDifference(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b);
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return Infinity;
  return a.reduce((max: number, x, i) => Math.max(max, maxDifference(x, b[i])), 0);
}
