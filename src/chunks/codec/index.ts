// How chunk documents are written and read, one codec per encoding (see codec.ts).
import { cborCodec } from './cbor.js';
import type { ChunkCodec, ChunkEncoding } from './codec.js';
import { base64Codec } from './json.js';

export * from './codec.js';
export { decodeCbor } from './cbor.js';

const CODECS: Record<ChunkEncoding, ChunkCodec> = { base64: base64Codec, cbor: cborCodec };

export function codecFor(encoding: ChunkEncoding): ChunkCodec {
  return CODECS[encoding];
}
