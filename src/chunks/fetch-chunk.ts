import { ChunkMissingError } from '../errors.js';
import type { Es } from '../es/es.js';
import { DEFAULT_RETRY, withRetry, type RetryOptions } from '../es/retry.js';
import { hasStatus } from '../es/translate.js';
import type { BufferPool } from './buffer-pool.js';
import { fetchChunkSource, type ChunkSource } from './chunk-source.js';
import { chunkDocId } from '../model/layout.js';
import { codecFor } from './codec/index.js';
import { checkChunk } from './check-chunk.js';
import { describeChunk, type ChunkAddress } from './chunk-address.js';

/** Fetches one chunk by id, decodes it and checks its length and checksum. */
export async function fetchChunk(es: Es, address: ChunkAddress, pool: BufferPool, retry: RetryOptions = DEFAULT_RETRY): Promise<Buffer> {
  const doc = await fetchChunkDocument(es, address, pool, retry);
  try {
    return checkChunk(doc, address);
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
