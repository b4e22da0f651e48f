import type { ElasticsearchConfig } from '../config/config.js';
import { createEsClient, redactUrls, type Client } from './client.js';
import { StreamingGet } from './streaming-get.js';
import { translateEsError } from './translate.js';

/** Per-request options that cancel the request when `signal` aborts (none without a signal). */
export function abortable(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal ? { signal } : {};
}

/** The Elasticsearch boundary: every request goes through `call`, which turns client errors into ours. */
export class Es {
  readonly client: Client;
  /** The cluster's URL (its nodes' URLs, comma-separated) with any credentials removed. */
  readonly url: string;
  /** Chunk reads on the deploy path (bodies decoded as they arrive) and CBOR chunk writes. Its errors are already ours. */
  readonly streaming: StreamingGet;

  constructor(config: ElasticsearchConfig) {
    this.client = createEsClient(config);
    this.url = redactUrls(config.url);
    this.streaming = new StreamingGet(config);
  }

  async call<T>(doing: string, request: (client: Client) => Promise<T>): Promise<T> {
    try {
      return await request(this.client);
    } catch (error) {
      throw translateEsError(error, this.url, doing);
    }
  }

  /** Fails fast, with the URL and the fix in the message, when the cluster cannot be used. */
  async checkCluster(): Promise<{ status: string; clusterName: string }> {
    const health = await this.call('checking the cluster health', (c) => c.cluster.health({ timeout: '5s' }));
    return { status: health.status, clusterName: health.cluster_name };
  }

  async close(): Promise<void> {
    await Promise.all([this.client.close(), this.streaming.close()]);
  }
}
