// Base64 in pieces small enough for V8's young generation. A whole 4 MiB chunk as one base64 string
// lands in the large-object space and lives until a major GC: with a few chunks in flight that was
// most of the process's peak memory. Pieces are scavenged cheaply instead.

/** Input bytes per piece: a multiple of 3, so the pieces' base64 concatenates without padding. */
const ENCODE_PIECE = 48 * 1024;

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
