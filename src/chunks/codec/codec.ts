import { IntegrityError, InvalidArgumentError } from '../../errors.js';
import type { BufferPool } from '../buffer-pool.js';

/**
 * How a model's chunk documents are written: `base64`, JSON documents with the chunk as base64 text
 * (Elastic ML's and Eland's layout), or `cbor`, CBOR documents with the chunk as a raw byte string.
 * Chosen per upload and recorded in the meta document; every generation keeps its own.
 */
export type ChunkEncoding = 'base64' | 'cbor';

export const ENCODINGS: readonly ChunkEncoding[] = ['base64', 'cbor'];

/** The encoding of new uploads when neither `--encoding` nor `upload.encoding` says (docs/benchmarks.md, docs/design.md). */
export const DEFAULT_ENCODING: ChunkEncoding = 'cbor';

/** A chunk document's fields besides `definition`. */
export interface ChunkFields {
  definition_length: number;
  crc32: number;
}

/** What a chunk document's `_source` holds, `definition` decoded. */
export interface DecodedChunkSource {
  /** The decoded bytes, or the first `expected` of them when there were more (see `length`). */
  bytes: Buffer;
  /** How many bytes `definition` decodes to: more than `bytes.length` when it did not fit. */
  length: number;
  /** CRC32 of `bytes`, computed while decoding. */
  crc: number;
  fields: ChunkFields;
}

/**
 * Decodes one `_source` part by part as it arrives, the chunk straight into its buffer. `finish`
 * returns null when the document needs the slow way (see the codec), and throws a SyntaxError
 * saying what is wrong when it is not a chunk document.
 */
export interface ChunkDecoder {
  /** The chunk buffer: to be handed back to the pool when `finish` did not return it. */
  readonly buffer: Buffer;
  push(part: Buffer): void;
  finish(): DecodedChunkSource | null;
}

export interface ChunkToEncode {
  modelId: string;
  generation: number;
  docNum: number;
  bytes: Buffer;
  last: boolean;
  /** The whole model's length, when known before the end. */
  totalLength: number | null;
  crc: number;
}

export interface ChunkCodec {
  readonly encoding: ChunkEncoding;
  /** The `Content-Type` of a document written in this encoding. */
  readonly contentType: string;
  /** The `Accept` of a `_source` GET: Elasticsearch answers a document stored in this encoding as it was sent. */
  readonly accept: string;
  /** The document's size for a chunk of `chunkBytes` bytes, at most: for sizing buffer pools. */
  maxDocumentSize(chunkBytes: number): number;
  /** The document's `_source`, in a buffer from `pool` when given. */
  encode(chunk: ChunkToEncode, pool?: BufferPool): Buffer;
  decoder(expected: number, pool?: BufferPool): ChunkDecoder;
  /** The slow way, for a whole document the streaming decoder handed back. */
  parseWhole(raw: Buffer): { bytes: Buffer; fields: ChunkFields };
}

/** The fields a chunk must have, checked, or a SyntaxError naming the one that is wrong. */
export function checkFields(fields: Record<string, unknown>): ChunkFields {
  for (const name of ['definition_length', 'crc32'] as const) {
    const value = fields[name];
    if (value === undefined) throw new SyntaxError(`no "${name}" field`);
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new SyntaxError(`"${name}" is ${JSON.stringify(value)}, not a non-negative integer`);
    }
  }
  return { definition_length: fields.definition_length as number, crc32: fields.crc32 as number };
}

/** An `--encoding` or `upload.encoding` value, checked. */
export function parseEncoding(value: string, from = '--encoding'): ChunkEncoding {
  if ((ENCODINGS as readonly string[]).includes(value)) return value as ChunkEncoding;
  throw new InvalidArgumentError(`${from} must be one of ${ENCODINGS.join(', ')}; got '${value}'`);
}

/**
 * The encoding a stored generation records; a meta document written before encodings existed has
 * none and is base64. An encoding this feeder does not know is refused before any chunk is read.
 */
export function storedEncoding(modelId: string, encoding: unknown): ChunkEncoding {
  if (encoding === undefined || encoding === null) return 'base64';
  if (typeof encoding === 'string' && (ENCODINGS as readonly string[]).includes(encoding)) return encoding as ChunkEncoding;
  throw new IntegrityError(
    `model '${modelId}' is stored with chunk encoding ${JSON.stringify(encoding)}, which this feeder does not know (it reads ${ENCODINGS.join(
      ' and ',
    )}); upgrade feeder, or upload the model again with --replace`,
  );
}
