import { Readable } from 'node:stream';
import { ElasticsearchError } from '../errors.js';
import type { Es } from '../es/es.js';
import type { BufferPool } from '../chunks/buffer-pool.js';
import { DEFAULT_RETRY, withRetry, type RetryOptions } from '../es/retry.js';
import { ElasticsearchStatusError } from '../es/translate.js';

export interface BulkWriterOptions {
  index: string;
  /** A bulk body is sent once it holds about this many bytes (and always holds at least one document). */
  bulkBytes: number;
  /** Bulk requests in flight at once; `add` waits while this many are out. */
  concurrency: number;
  retry?: RetryOptions;
  signal?: AbortSignal;
  /** Called with the source bytes each document stood for, once Elasticsearch has acknowledged it. */
  onIndexed?: (bytes: number) => void;
  /** Document buffers go back here once acknowledged. */
  pool?: BufferPool;
}

interface PendingDoc {
  action: Buffer;
  source: Buffer;
  sourceBytes: number;
}

const NEWLINE = Buffer.from('\n');

type BulkItems = {
  errors: boolean;
  items?: Array<Record<string, { _id?: string; status: number; error?: { type: string; reason: string } }>>;
};

/** Indexes documents with `_bulk`, a bounded number of requests at a time, so memory stays bounded. */
export class BulkWriter {
  readonly #es: Es;
  readonly #options: BulkWriterOptions;
  readonly #inFlight = new Set<Promise<void>>();
  #inFlightBytes = 0;
  #batch: PendingDoc[] = [];
  #batchBytes = 0;
  #failure: Error | null = null;

  constructor(es: Es, options: BulkWriterOptions) {
    this.#es = es;
    this.#options = options;
  }

  /** Queues one document; resolves once it is in a batch and the number of requests in flight allows more. */
  async add(id: string, source: Buffer, sourceBytes: number): Promise<void> {
    this.#throwIfFailed();
    const action = Buffer.from(`{"index":{"_id":"${id}"}}\n`);
    this.#batch.push({ action, source, sourceBytes });
    this.#batchBytes += action.length + source.length + 1;
    if (this.#batchBytes >= this.#options.bulkBytes) await this.#sendBatch();
  }

  /** Sends what is queued and waits for every request; throws the first failure. */
  async flush(): Promise<void> {
    if (this.#batch.length > 0) await this.#sendBatch();
    await Promise.allSettled([...this.#inFlight]);
    this.#throwIfFailed();
  }

  async #sendBatch(): Promise<void> {
    const bytes = this.#batchBytes;
    while (this.#inFlight.size >= this.#options.concurrency || this.#wouldOverload(bytes)) await Promise.race(this.#inFlight);
    this.#throwIfFailed();
    const docs = this.#batch;
    this.#batch = [];
    this.#batchBytes = 0;
    this.#inFlightBytes += bytes;
    const request = this.#sendWithRetry(docs)
      .catch((error: unknown) => {
        this.#failure ??= error instanceof Error ? error : new Error(String(error));
      })
      .finally(() => {
        this.#inFlightBytes -= bytes;
        this.#inFlight.delete(request);
      });
    this.#inFlight.add(request);
  }

  /**
   * Elasticsearch rejects a whole request (429) when the bytes it is indexing pass its indexing
   * pressure limit (10% of its heap): two 85 MiB bodies of 64 MiB chunks did that on a 1 GiB node.
   * So bodies much larger than `bulkBytes` go one at a time; one request may always be sent.
   */
  #wouldOverload(bytes: number): boolean {
    return this.#inFlight.size > 0 && this.#inFlightBytes + bytes > 2 * this.#options.concurrency * this.#options.bulkBytes;
  }

  async #sendWithRetry(docs: PendingDoc[]): Promise<void> {
    const retry = { ...(this.#options.retry ?? DEFAULT_RETRY), signal: this.#options.signal };
    let remaining = docs;
    await withRetry(async () => {
      remaining = await this.#sendOnce(remaining);
      if (remaining.length > 0) {
        throw new ElasticsearchStatusError(
          429,
          'es_rejected_execution_exception',
          `Elasticsearch rejected ${remaining.length} chunk documents (429)`,
        );
      }
    }, retry);
  }

  /** Sends one `_bulk` request; returns the documents rejected with 429, to be sent again. */
  async #sendOnce(docs: PendingDoc[]): Promise<PendingDoc[]> {
    // Streamed from the documents themselves: a concatenated copy would double what each request holds.
    const body = Readable.from(
      docs.flatMap((d) => [d.action, d.source, NEWLINE]),
      { objectMode: false },
    );
    const response = await this.#es.call(`indexing ${docs.length} chunk documents into ${this.#options.index}`, (c) =>
      c.transport.request<BulkItems>(
        {
          method: 'POST',
          path: `/${encodeURIComponent(this.#options.index)}/_bulk`,
          querystring: { filter_path: 'errors,items.*.status,items.*.error' },
          bulkBody: body,
        },
        this.#options.signal ? { signal: this.#options.signal } : {},
      ),
    );
    if (!response.errors) {
      this.#acknowledge(docs);
      return [];
    }
    return this.#sortOutItemErrors(docs, response);
  }

  #sortOutItemErrors(docs: PendingDoc[], response: BulkItems): PendingDoc[] {
    const rejected: PendingDoc[] = [];
    response.items!.forEach((item, i) => {
      const result = Object.values(item)[0]!;
      if (!result.error) return this.#acknowledge([docs[i]!]);
      if (result.status === 429) return rejected.push(docs[i]!);
      throw new ElasticsearchError(
        `Elasticsearch refused a chunk document (${result.status}): ${result.error.type}: ${result.error.reason}`,
      );
    });
    return rejected;
  }

  #acknowledge(docs: PendingDoc[]): void {
    const bytes = docs.reduce((sum, d) => sum + d.sourceBytes, 0);
    for (const doc of docs) this.#options.pool?.give(doc.source);
    this.#options.onIndexed?.(bytes);
  }

  #throwIfFailed(): void {
    if (this.#failure !== null) throw this.#failure;
  }
}
