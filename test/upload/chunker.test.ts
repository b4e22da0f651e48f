import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cutIntoChunks } from '../../src/upload/chunker.js';

async function* pieces(bytes: Buffer, pieceSize: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += pieceSize) yield bytes.subarray(i, i + pieceSize);
}

async function cut(bytes: Buffer, pieceSize: number, chunkSize: number) {
  const chunks = [];
  for await (const chunk of cutIntoChunks(pieces(bytes, pieceSize), chunkSize)) chunks.push({ ...chunk, bytes: Buffer.from(chunk.bytes) });
  return chunks;
}

describe('cutIntoChunks', () => {
  it.each([
    [10, 3, 4],
    [12, 5, 4],
    [12, 12, 4],
    [1, 1, 4],
    [4, 1, 4],
    [1000, 7, 64],
  ])('cuts %i bytes read %i at a time into chunks of %i, in order, the last marked', async (size, pieceSize, chunkSize) => {
    const bytes = randomBytes(size);
    const chunks = await cut(bytes, pieceSize, chunkSize);
    expect(Buffer.concat(chunks.map((c) => c.bytes)).equals(bytes)).toBe(true);
    expect(chunks.map((c) => c.docNum)).toEqual(chunks.map((_, i) => i));
    expect(chunks.slice(0, -1).every((c) => c.bytes.length === chunkSize && !c.last)).toBe(true);
    expect(chunks.at(-1)!.last).toBe(true);
    expect(chunks).toHaveLength(Math.ceil(size / chunkSize));
  });

  it('yields nothing for an empty stream', async () => {
    expect(await cut(Buffer.alloc(0), 1, 4)).toEqual([]);
  });
});
