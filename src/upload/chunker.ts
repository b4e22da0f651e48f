import type { BufferPool } from '../chunks/buffer-pool.js';

/** One chunk of a model file as an upload writes it; `last` marks the end of the model. */
export interface ChunkToWrite {
  docNum: number;
  bytes: Buffer;
  last: boolean;
}

/**
 * Cuts a byte stream into chunks. With a pool, chunk buffers come from it, and the consumer hands
 * each back when done with it.
 *
 * Cuts a byte stream into chunks of exactly `chunkSize` bytes (the last one shorter). One chunk is
 * held back so the last can be marked `last` (the `eos` flag) even when the size is unknown.
 */
export async function* cutIntoChunks(input: AsyncIterable<Buffer>, chunkSize: number, pool?: BufferPool): AsyncGenerator<ChunkToWrite> {
  const allocate = () => (pool ? pool.take(chunkSize) : Buffer.allocUnsafe(chunkSize));
  let held: Buffer | null = null;
  let current = allocate();
  let filled = 0;
  let docNum = 0;
  for await (const piece of input) {
    let offset = 0;
    while (offset < piece.length) {
      const copied = piece.copy(current, filled, offset);
      offset += copied;
      filled += copied;
      if (filled === chunkSize) {
        if (held) yield { docNum: docNum++, bytes: held, last: false };
        held = current;
        current = allocate();
        filled = 0;
      }
    }
  }
  if (filled > 0) {
    if (held) yield { docNum: docNum++, bytes: held, last: false };
    yield { docNum, bytes: current.subarray(0, filled), last: true };
  } else if (held) {
    yield { docNum, bytes: held, last: true };
  }
}
