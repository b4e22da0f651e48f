import type { BufferPool } from './buffer-pool.js';

// Base64 in pieces small enough for V8's young generation. A whole 4 MiB chunk as one base64 string
// lands in the large-object space and lives until a major GC: with a few chunks in flight that was
// most of the process's peak memory. Pieces are scavenged cheaply instead.

/** Input bytes per piece: a multiple of 3, so the pieces' base64 concatenates without padding. */
const ENCODE_PIECE = 48 * 1024;
/** Base64 characters per piece: a multiple of 4. */
const DECODE_PIECE = 64 * 1024;

export function base64Length(byteLength: number): number {
  return 4 * Math.ceil(byteLength / 3);
}

/** Writes the base64 of `bytes` into `target` at `offset`; returns the offset after it. */
export function writeBase64(bytes: Buffer, target: Buffer, offset: number): number {
  let at = offset;
  for (let start = 0; start < bytes.length; start += ENCODE_PIECE) {
    at += target.write(bytes.toString('base64', start, Math.min(start + ENCODE_PIECE, bytes.length)), at, 'latin1');
  }
  return at;
}

/** Decodes the base64 text in `source[start, end)`; null when it is not plain base64 (escapes, whitespace). */
export function decodeBase64Range(source: Buffer, start: number, end: number, pool?: BufferPool): Buffer | null {
  const length = end - start;
  if (length % 4 !== 0 || source.subarray(start, end).includes(0x5c)) return null;
  const padding = length === 0 ? 0 : (source[end - 1] === 0x3d ? 1 : 0) + (source[end - 2] === 0x3d ? 1 : 0);
  const size = (length / 4) * 3 - padding;
  const out = pool ? pool.take(size) : Buffer.allocUnsafe(size);
  let written = 0;
  for (let at = start; at < end; at += DECODE_PIECE) {
    written += out.write(source.toString('latin1', at, Math.min(at + DECODE_PIECE, end)), written, 'base64');
  }
  return written === out.length ? out : out.subarray(0, written);
}
