import { crc32 } from './crc32.js';
import { ChunkMissingError, IntegrityError } from '../errors.js';
import type { Es } from '../es/es.js';
import { DEFAULT_RETRY, withRetry, type RetryOptions } from '../es/retry.js';
import { hasStatus } from '../es/translate.js';
import type { BufferPool } from './buffer-pool.js';
import { fetchChunkSource, type ChunkSource } from './chunk-source.js';
import { chunkDocId } from '../model/layout.js';
import { codecFor, type ChunkEncoding } from './codec/index.js';
import type { GenerationRef } from '../model/meta.js';

export interface ChunkToWrite {
  docNum: number;
  bytes: Buffer;
  last: boolean;
}

export function checksumOf(bytes: Buffer): number {
  return crc32(bytes);
}

/** Where one chunk should be and how long it must be. */
export interface ChunkAddress extends GenerationRef {
  modelId: string;
  docNum: number;
  expectedLength: number;
  encoding: ChunkEncoding;
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
      () =>
        fetchChunkSource(
          es,
          {
            index: address.chunks_index,
            id,
            where,
            expectedLength: address.expectedLength,
            codec: codecFor(address.encoding),
            onNodeFailed: retry.onNodeFailed,
          },
          pool,
          retry.signal,
        ),
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
