import { crc32 } from './crc32.js';
import { ChunkMissingError, IntegrityError } from '../errors.js';
import type { Es } from '../es/es.js';
import { DEFAULT_RETRY, withRetry, type RetryOptions } from '../es/retry.js';
import { hasStatus } from '../es/translate.js';
import { base64Length, writeBase64 } from './base64.js';
import type { BufferPool } from './buffer-pool.js';
import { fetchChunkSource, type ChunkSource } from './chunk-source.js';
import { chunkDocId } from './layout.js';
import type { GenerationRef } from './meta.js';

/** The chunk document (see encodeChunkDoc), named after Elastic ML's TrainedModelDefinitionDoc fields. */
export interface ChunkDoc {
  model_id: string;
  generation: number;
  doc_num: number;
  definition: string;
  definition_length: number;
  total_definition_length?: number;
  crc32: number;
  eos: boolean;
}

export interface ChunkToWrite {
  docNum: number;
  bytes: Buffer;
  last: boolean;
}

export function checksumOf(bytes: Buffer): number {
  return crc32(bytes);
}

/**
 * The JSON source of one chunk document, as bytes. Built by hand, with the base64 written straight
 * into the buffer, so no serializer copies it again and no multi-megabyte string is made.
 */
export function encodeChunkDoc(
  modelId: string,
  generation: number,
  chunk: ChunkToWrite,
  totalLength: number | null,
  crc: number,
  pool?: BufferPool,
): Buffer {
  const total = totalLength === null ? '' : `,"total_definition_length":${totalLength}`;
  const head =
    `{"model_id":"${modelId}","generation":${generation},"doc_num":${chunk.docNum},` +
    `"definition_length":${chunk.bytes.length}${total},"crc32":${crc},"eos":${chunk.last},"definition":"`;
  const size = head.length + base64Length(chunk.bytes.length) + 2;
  const doc = pool ? pool.take(size) : Buffer.allocUnsafe(size);
  doc.write(head, 0, 'latin1');
  const end = writeBase64(chunk.bytes, doc, head.length);
  doc.write('"}', end, 'latin1');
  return doc;
}

/** Where one chunk should be and how long it must be. */
export interface ChunkAddress extends GenerationRef {
  modelId: string;
  docNum: number;
  expectedLength: number;
}

/** Fetches one chunk by id, decodes it and checks its length and checksum. */
export async function fetchChunk(es: Es, address: ChunkAddress, pool: BufferPool, retry: RetryOptions = DEFAULT_RETRY): Promise<Buffer> {
  const doc = await fetchChunkDocument(es, address, pool, retry);
  try {
    return decodeChunk(doc, address);
  } catch (error) {
    pool.give(doc.bytes);
    throw error;
  }
}

/**
 * Fetches one chunk document by id and decodes its `definition`, checking nothing: a missing one is
 * a ChunkMissingError. `address.expectedLength` sizes the buffer the definition is decoded into.
 */
export async function fetchChunkDocument(
  es: Es,
  address: ChunkAddress,
  pool: BufferPool,
  retry: RetryOptions = DEFAULT_RETRY,
): Promise<ChunkSource> {
  const where = describeChunk(address);
  const id = chunkDocId(address.modelId, address.generation, address.docNum);
  try {
    return await withRetry(
      () => fetchChunkSource(es, { index: address.chunks_index, id, where, expectedLength: address.expectedLength }, pool, retry.signal),
      retry,
    );
  } catch (error) {
    if (hasStatus(error, 404)) {
      throw new ChunkMissingError(`${where} is missing; the stored model is damaged: upload it again with --replace`, { cause: error });
    }
    throw error;
  }
}

/** "chunk N of model 'x' (document '...' in index)", for messages. */
export function describeChunk(address: ChunkAddress): string {
  const id = chunkDocId(address.modelId, address.generation, address.docNum);
  return `chunk ${address.docNum} of model '${address.modelId}' (document '${id}' in ${address.chunks_index})`;
}

function decodeChunk(doc: ChunkSource, address: ChunkAddress): Buffer {
  // Described only on a failure: this runs once per chunk of every deploy.
  const where = () => describeChunk(address);
  const expectedLength = address.expectedLength;
  if (doc.length !== doc.definition_length || doc.length !== expectedLength) {
    // A chunk as long as its own document says may be right and the meta document wrong: a deploy
    // cannot tell, since it reads one chunk at a time, but verify compares them all.
    const verdict =
      doc.length === doc.definition_length
        ? `the chunk or the meta document is wrong ('feeder models verify ${address.modelId}' tells which); upload the model again with --replace`
        : 'the stored model is damaged: upload it again with --replace';
    throw new IntegrityError(
      `${where()} has ${doc.length} bytes (its document says ${doc.definition_length}, the model's meta document implies ${expectedLength}); ${verdict}`,
    );
  }
  if (doc.crc !== doc.crc32) {
    throw new IntegrityError(`${where()} fails its CRC32 check; the stored model is damaged: upload it again with --replace`);
  }
  return doc.bytes;
}
