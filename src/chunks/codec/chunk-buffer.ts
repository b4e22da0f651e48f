import type { BufferPool } from '../buffer-pool.js';
import { crc32 } from '../crc32.js';
import type { ChunkFields, DecodedChunkSource } from './codec.js';

/**
 * Where a decoder puts a chunk's bytes as they arrive: a buffer of the expected length, the CRC32
 * computed over each piece as it is written, and the bytes that did not fit counted (not written),
 * so the length check can say how long the definition really was.
 */
export class ChunkBuffer {
  readonly buffer: Buffer;
  #written = 0;
  #overflow = 0;
  #crc = 0;

  constructor(expected: number, pool?: BufferPool) {
    this.buffer = pool ? pool.take(expected) : Buffer.allocUnsafe(expected);
  }

  /** Copies `source[start, end)` in. */
  copy(source: Buffer, start: number, end: number): void {
    const size = end - start;
    if (!this.#fits(size)) return;
    source.copy(this.buffer, this.#written, start, end);
    this.#advance(size);
  }

  /** Decodes whole groups of base64 characters in. */
  writeBase64(base64: string): void {
    if (!this.#fits(Buffer.byteLength(base64, 'base64'))) return;
    this.#advance(this.buffer.write(base64, this.#written, 'base64'));
  }

  result(fields: ChunkFields): DecodedChunkSource {
    return { bytes: this.buffer.subarray(0, this.#written), length: this.#written + this.#overflow, crc: this.#crc, fields };
  }

  #fits(size: number): boolean {
    if (this.#overflow === 0 && size <= this.buffer.length - this.#written) return true;
    this.#overflow += size;
    return false;
  }

  #advance(size: number): void {
    this.#crc = crc32(this.buffer.subarray(this.#written, this.#written + size), this.#crc);
    this.#written += size;
  }
}
