import { randomInt } from 'node:crypto';

/** A number in [0, 1), drawn from a seeded sequence. */
export type Random = () => number;

/** mulberry32: a tiny PRNG whose whole state is one 32-bit seed, so a run is replayed from its seed. */
export function mulberry32(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed from `variable` when set (a run to replay), else a fresh one. */
export function seedFrom(variable: string): number {
  const given = process.env[variable];
  if (given === undefined || given === '') return randomInt(0, 2 ** 31);
  const seed = Number(given);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`${variable} must be a non-negative whole number; got '${given}'`);
  return seed;
}

/** `size` bytes drawn from their own seed, so every generation's content is replayed too. */
export function seededBytes(seed: number, size: number): Buffer {
  const next = mulberry32(seed);
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) {
    const word = Math.floor(next() * 2 ** 32);
    for (let k = 0; k < 4 && i + k < size; k += 1) bytes[i + k] = (word >>> (8 * k)) & 0xff;
  }
  return bytes;
}

export const between = (next: Random, low: number, high: number): number => low + Math.floor(next() * (high - low + 1));
