import type { Es } from '../es/es.js';
import { DEFAULT_RETRY, withRetry, type RetryOptions } from '../es/retry.js';
import type { BufferPool } from '../store/buffer-pool.js';
import type { ChunkCodec } from '../store/codec/index.js';

export interface DocWriterOptions {
  index: string;
  codec: ChunkCodec;
  /** Requests in flight at once; `add` waits while this many are out. */
  concurrency: number;
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
  #failure: Error | null = null;

  constructor(es: Es, options: DocWriterOptions) {
    this.#es = es;
    this.#options = options;
  }

  /** Sends one document; resolves once the number of requests in flight allows another. */
  async add(id: string, source: Buffer, sourceBytes: number): Promise<void> {
    while (this.#inFlight.size >= this.#options.concurrency) await Promise.race(this.#inFlight);
    this.#throwIfFailed();
    const request = this.#sendWithRetry(id, source)
      .then(() => {
        this.#options.pool?.give(source);
        this.#options.onIndexed?.(sourceBytes);
      })
      .catch((error: unknown) => {
        this.#failure ??= error instanceof Error ? error : new Error(String(error));
      })
      .finally(() => this.#inFlight.delete(request));
    this.#inFlight.add(request);
  }

  /** Waits for every request; throws the first failure. */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.#inFlight]);
    this.#throwIfFailed();
  }

  #sendWithRetry(id: string, source: Buffer): Promise<void> {
    const { index, codec, signal } = this.#options;
    const retry = { ...(this.#options.retry ?? DEFAULT_RETRY), signal };
    const doing = `indexing chunk document '${id}' into ${index}`;
    return withRetry(async () => {
      await this.#es.call(doing, (c) =>
        c.transport.request(
          {
            method: 'PUT',
            path: `/${encodeURIComponent(index)}/_doc/${encodeURIComponent(id)}`,
            querystring: { filter_path: 'result' },
            body: source,
          },
          // Elasticsearch answers in the request's content type unless told otherwise.
          { headers: { 'content-type': codec.contentType, accept: 'application/json' }, ...(signal ? { signal } : {}) },
        ),
      );
    }, retry);
  }

  #throwIfFailed(): void {
    if (this.#failure !== null) throw this.#failure;
  }
}
