import { crc32 } from './crc32.js';
import { IntegrityError } from '../errors.js';
import type { Es } from '../es/es.js';
import type { NodeFailure } from '../es/streaming-get.js';
import type { BufferPool } from './buffer-pool.js';
import type { ChunkCodec } from './codec/index.js';

export interface ChunkSource {
  /** `definition`, decoded (at most the expected length of it: see `length`). */
  bytes: Buffer;
  /** How many bytes `definition` decodes to. */
  length: number;
  /** CRC32 of `bytes`. */
  crc: number;
  definition_length: number;
  crc32: number;
}

/** Where one chunk document is, and how long its decoded `definition` should be. */
export interface ChunkSourceRequest {
  index: string;
  id: string;
  /** "chunk N of model 'x' (document ...)", for messages. */
  where: string;
  expectedLength: number;
  /** The encoding of the generation the chunk belongs to. */
  codec: ChunkCodec;
  /** Told when a node of several could not be reached while reading it. */
  onNodeFailed?: ((failure: NodeFailure) => void) | undefined;
}

/**
 * Fetches one chunk document's `_source` in the generation's encoding and decodes `definition` as
 * the answer arrives (see the codecs). A document the streaming decoder cannot take (JSON escapes
 * in the base64) is fetched again whole and parsed.
 */
export async function fetchChunkSource(es: Es, request: ChunkSourceRequest, pool: BufferPool, signal?: AbortSignal): Promise<ChunkSource> {
  const decoder = request.codec.decoder(request.expectedLength, pool);
  let decoded;
  try {
    await readSource(es, request, (part) => decoder.push(part), signal);
    decoded = decoder.finish();
  } catch (error) {
    pool.give(decoder.buffer);
    if (error instanceof SyntaxError) throw notAChunk(request.where, error);
    throw error;
  }
  if (decoded)
    return {
      bytes: decoded.bytes,
      length: decoded.length,
      crc: decoded.crc,
      definition_length: decoded.fields.definition_length,
      crc32: decoded.fields.crc32,
    };
  pool.give(decoder.buffer);
  return fetchWholeChunkSource(es, request, signal);
}

/** GETs the document's `_source`, each part of the answer to `onPart` as it arrives. */
function readSource(es: Es, request: ChunkSourceRequest, onPart: (part: Buffer) => void, signal?: AbortSignal): Promise<void> {
  const doing = `reading ${request.where}`;
  const path = `/${encodeURIComponent(request.index)}/_source/${encodeURIComponent(request.id)}`;
  // Not through es.call: StreamingGet's errors are already ours, and the decoder's own complaints
  // (SyntaxErrors thrown by `onPart`) must reach fetchChunkSource as they are, to name the chunk.
  return es.streaming.get(path, doing, onPart, signal, { accept: request.codec.accept }, request.onNodeFailed);
}

/** The slow way: the whole body, then parsed by the codec. */
async function fetchWholeChunkSource(es: Es, request: ChunkSourceRequest, signal?: AbortSignal): Promise<ChunkSource> {
  const parts: Buffer[] = [];
  await readSource(es, request, (part) => parts.push(Buffer.from(part)), signal);
  const parsed = parseChunkSource(request.codec, Buffer.concat(parts), request.where);
  return { ...parsed, length: parsed.bytes.length, crc: crc32(parsed.bytes) };
}

type ParsedChunkSource = Pick<ChunkSource, 'bytes' | 'definition_length' | 'crc32'>;

/**
 * Parses a whole chunk document. Only documents the streaming decoder could not take come here
 * (JSON escapes in the base64, or a ragged length), so it is a whole parse and a lenient decode.
 */
export function parseChunkSource(codec: ChunkCodec, raw: Buffer, where: string): ParsedChunkSource {
  try {
    const { bytes, fields } = codec.parseWhole(raw);
    return { bytes, ...fields };
  } catch (error) {
    throw notAChunk(where, error as Error);
  }
}

function notAChunk(where: string, error: Error): IntegrityError {
  return new IntegrityError(`${where} is not a valid chunk document (${error.message}); upload the model again with --replace`, {
    cause: error,
  });
}
