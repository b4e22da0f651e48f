import { setMaxListeners } from 'node:events';
import type { Es } from '../es/es.js';
import { DEFAULT_RETRY, type RetryOptions } from '../es/retry.js';
import { BufferPool } from './buffer-pool.js';
import type { ChunkSource } from './chunk-source.js';
import type { ChunkAddress } from './chunk-address.js';
import { fetchChunk, fetchChunkDocument } from './fetch-chunk.js';
import { storedEncoding } from './codec/index.js';
import type { ReadyMeta } from '../model/meta.js';

/** Counts chunks held in memory, to show that the reader never holds more than its window allows. */
export class ChunkGauge {
  live = 0;
  peak = 0;

  acquire(): void {
    this.live += 1;
    if (this.live > this.peak) this.peak = this.live;
  }

  release(): void {
    this.live -= 1;
  }
}

export interface ReadChunksOptions {
  /** Fetches in flight ahead of the chunk the consumer holds. */
  prefetch: number;
  signal?: AbortSignal | undefined;
  retry?: RetryOptions;
  gauge?: ChunkGauge;
}

export type ChunkResult = { docNum: number; bytes: Buffer } | { docNum: number; error: Error };

/**
 * The chunks of the model's current generation, in order; a chunk that cannot be had comes as an
 * error. A yielded buffer is reused once the loop moves on: copy it to keep it.
 */
export async function* readChunkResults(es: Es, meta: ReadyMeta, options: ReadChunksOptions): AsyncGenerator<ChunkResult> {
  storedEncoding(meta.model_id, meta.encoding);
  const gauge = options.gauge ?? new ChunkGauge();
  // Decoded chunks (window + the one held) are recycled; answers are decoded as they arrive, never held whole.
  const pool = new BufferPool(options.prefetch + 1);
  const signal = windowSignal(options);
  const fetchOptions = { ...options, signal };
  const release = (result: ChunkResult) => {
    if (!('bytes' in result)) return;
    gauge.release();
    pool.give(result.bytes);
  };
  yield* inOrder(
    meta.chunk_count,
    options.prefetch,
    signal,
    (docNum) => fetchCounted(es, addressOf(meta, docNum), fetchOptions, gauge, pool),
    release,
  );
}

export type ChunkDocumentResult = { address: ChunkAddress; doc: ChunkSource } | { address: ChunkAddress; error: Error };

/**
 * The chunk documents at these addresses, in order and decoded but unchecked, for a caller that
 * judges them itself (verify, against each document's own fields). Buffers are reused likewise.
 */
export async function* readChunkDocuments(
  es: Es,
  addresses: readonly ChunkAddress[],
  options: ReadChunksOptions,
): AsyncGenerator<ChunkDocumentResult> {
  const pool = new BufferPool(options.prefetch + 1);
  const signal = windowSignal(options);
  const retry = { ...(options.retry ?? DEFAULT_RETRY), signal };
  const fetch = (i: number): Promise<ChunkDocumentResult> => {
    const address = addresses[i]!;
    return fetchChunkDocument(es, address, pool, retry).then(
      (doc) => ({ address, doc }),
      (error: Error) => ({ address, error }),
    );
  };
  const release = (result: ChunkDocumentResult) => {
    if ('doc' in result) pool.give(result.doc.bytes);
  };
  yield* inOrder(addresses.length, options.prefetch, signal, fetch, release);
}

/**
 * Every request in the window listens on the signal: a signal of our own, with room for all of
 * them, so a wide window is not reported as a listener leak on the caller's signal.
 */
function windowSignal(options: ReadChunksOptions): AbortSignal | undefined {
  const signal = options.signal && AbortSignal.any([options.signal]);
  if (signal) setMaxListeners(options.prefetch + 10, signal);
  return signal;
}

/**
 * fetch(0 .. count - 1), `prefetch` of them in flight, yielded in order. `release` gets each result
 * once the consumer moves on, and those still in flight when it stops early.
 */
async function* inOrder<T>(
  count: number,
  prefetch: number,
  signal: AbortSignal | undefined,
  fetch: (n: number) => Promise<T>,
  release: (result: T) => void,
): AsyncGenerator<T> {
  const window: Promise<T>[] = [];
  let next = 0;
  const fill = () => {
    while (next < count && window.length < prefetch) window.push(fetch(next++));
  };
  try {
    fill();
    while (window.length > 0) {
      signal?.throwIfAborted();
      const result = await window.shift()!;
      fill();
      try {
        yield result;
      } finally {
        release(result);
      }
    }
  } finally {
    // Settle what is still in flight so nothing is left running and the gauge stays true.
    for (const pending of await Promise.all(window)) release(pending);
  }
}

/** Like readChunkResults, but stops at the first chunk that cannot be had. Buffers are reused likewise. */
export async function* readChunks(es: Es, meta: ReadyMeta, options: ReadChunksOptions): AsyncGenerator<Buffer> {
  for await (const result of readChunkResults(es, meta, options)) {
    if ('error' in result) throw result.error;
    yield result.bytes;
  }
}

async function fetchCounted(
  es: Es,
  address: ChunkAddress,
  options: ReadChunksOptions,
  gauge: ChunkGauge,
  pool: BufferPool,
): Promise<ChunkResult> {
  try {
    const bytes = await fetchChunk(es, address, pool, { ...(options.retry ?? DEFAULT_RETRY), signal: options.signal });
    gauge.acquire();
    return { docNum: address.docNum, bytes };
  } catch (error) {
    return { docNum: address.docNum, error: error as Error };
  }
}

export function addressOf(meta: ReadyMeta, docNum: number): ChunkAddress {
  const { chunk_count: count, chunk_size: size, total_length: total } = meta;
  const expectedLength = docNum < count - 1 ? size : total - size * (count - 1);
  const encoding = storedEncoding(meta.model_id, meta.encoding);
  return { modelId: meta.model_id, generation: meta.generation, chunks_index: meta.chunks_index, docNum, expectedLength, encoding };
}
