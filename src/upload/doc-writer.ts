import type { Es } from '../es/es.js';
import { DEFAULT_RETRY, withRetry, type RetryOptions } from '../es/retry.js';
import type { BufferPool } from '../chunks/buffer-pool.js';
import type { ChunkCodec } from '../chunks/codec/index.js';

export interface DocWriterOptions {
  index: string;
  codec: ChunkCodec;
  /** Requests in flight at once; `add` waits while this many are out. */
  concurrency: number;
  /**
   * Bytes in flight at most (one document is always let through). Elasticsearch refuses (429) the
   * documents that pass its indexing pressure limit, 10% of its heap: four 64 MiB chunks at once
   * passed it on a 1 GiB node, and their retries kept failing.
   */
  maxBytesInFlight: number;
  retry?: RetryOptions;
  signal?: AbortSignal;
  /** Called with the source bytes each document stood for, once Elasticsearch has acknowledged it. */
  onIndexed?: (bytes: number) => void;
  /** Document buffers go back here once acknowledged. */
  pool?: BufferPool;
}

/**
 * Indexes documents one request each, a bounded number in flight: for CBOR chunk documents, which
 * `_bulk` refuses (it takes only JSON and SMILE bodies). Each is a PUT to `_doc/<id>`, which
 * overwrites, as the bulk `index` action does: a resumed upload replaces a chunk stored wrong.
 */
export class DocWriter {
  readonly #es: Es;
  readonly #options: DocWriterOptions;
  readonly #inFlight = new Set<Promise<void>>();
  #bytesInFlight = 0;
  #failure: Error | null = null;

  constructor(es: Es, options: DocWriterOptions) {
    this.#es = es;
    this.#options = options;
  }

  /** Sends one document; resolves once the number of requests in flight allows another. */
  async add(id: string, source: Buffer, sourceBytes: number): Promise<void> {
    while (this.#inFlight.size >= this.#options.concurrency || this.#wouldOverload(source.length)) await Promise.race(this.#inFlight);
    this.#throwIfFailed();
    this.#bytesInFlight += source.length;
    const request = this.#sendWithRetry(id, source)
      .then(() => {
        this.#options.pool?.give(source);
        this.#options.onIndexed?.(sourceBytes);
      })
      .catch((error: unknown) => {
        this.#failure ??= error instanceof Error ? error : new Error(String(error));
      })
      .finally(() => {
        this.#bytesInFlight -= source.length;
        this.#inFlight.delete(request);
      });
    this.#inFlight.add(request);
  }

  /** Waits for every request; throws the first failure. */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.#inFlight]);
    this.#throwIfFailed();
  }

  #wouldOverload(bytes: number): boolean {
    return this.#inFlight.size > 0 && this.#bytesInFlight + bytes > this.#options.maxBytesInFlight;
  }

  #sendWithRetry(id: string, source: Buffer): Promise<void> {
    const { index, codec, signal } = this.#options;
    const retry = { ...(this.#options.retry ?? DEFAULT_RETRY), signal };
    const doing = `indexing chunk document '${id}' into ${index}`;
    return withRetry(
      () =>
        this.#es.streaming.put(`/${encodeURIComponent(index)}/_doc/${encodeURIComponent(id)}`, source, codec.contentType, doing, signal),
      retry,
    );
  }

  #throwIfFailed(): void {
    if (this.#failure !== null) throw this.#failure;
  }
}
