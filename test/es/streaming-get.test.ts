import { getEventListeners } from 'node:events';
import { describe, expect, it, inject } from 'vitest';
import { AbortedError, ElasticsearchAuthError, ElasticsearchUnreachableError } from '../../src/errors.js';
import { StreamingGet } from '../../src/es/streaming-get.js';
import { ElasticsearchStatusError } from '../../src/es/translate.js';
import { storedModel } from '../support/deploy.js';
import { chunkDocId, SHARED_CHUNKS_INDEX } from '../../src/model/layout.js';
import { esUrl, newEs, testConfig, uniqueId } from '../support/es.js';
import { TcpRelay } from '../support/tcp-relay.js';

/** A StreamingGet on `url` with the test configuration's other settings. */
function streamingGet(url: string, change: (c: ReturnType<typeof testConfig>['elasticsearch']) => void = () => {}) {
  const config = { ...testConfig().elasticsearch, url };
  change(config);
  return new StreamingGet(config);
}

describe('StreamingGet against the real node', () => {
  it('hands over the whole body of a 200 answer, part by part', async () => {
    const { modelId } = await storedModel(512 * 1024, 256 * 1024);
    const get = streamingGet(esUrl());
    try {
      const parts: Buffer[] = [];
      await get.get(`/${SHARED_CHUNKS_INDEX}/_source/${chunkDocId(modelId, 1, 0)}`, 'reading chunk 0', (part) =>
        parts.push(Buffer.from(part)),
      );
      const source = JSON.parse(Buffer.concat(parts).toString()) as { model_id: string; definition: string };
      expect(source.model_id).toBe(modelId);
      expect(Buffer.from(source.definition, 'base64').length).toBe(256 * 1024);
    } finally {
      await get.close();
    }
  });

  it('turns a 404 into a status error that says what was being read', async () => {
    const get = streamingGet(esUrl());
    try {
      const error = await get
        .get(`/${SHARED_CHUNKS_INDEX}/_source/no-such-chunk`, 'reading chunk 9 of model x', () => {})
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ElasticsearchStatusError);
      expect((error as ElasticsearchStatusError).status).toBe(404);
      expect((error as Error).message).toMatch(/^Elasticsearch answered 404 while reading chunk 9 of model x: /);
    } finally {
      await get.close();
    }
  });

  it('names the URL and the fix when nothing listens there', async () => {
    const get = streamingGet('http://127.0.0.1:1');
    try {
      const error = await get.get('/x/_source/y', 'reading chunk 0', () => {}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ElasticsearchUnreachableError);
      expect((error as Error).message).toMatch(/cannot reach Elasticsearch at http:\/\/127\.0\.0\.1:1 while reading chunk 0 .*ES_URL/);
    } finally {
      await get.close();
    }
  });

  it('reports wrong credentials as such, without echoing them', async () => {
    const get = streamingGet(inject('esSecureUrl'), (c) =>
      Object.assign(c, { caCerts: inject('esSecureCa'), username: 'elastic', password: 'not-the-password' }),
    );
    try {
      const error = await get.get('/_cluster/health', 'checking', () => {}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ElasticsearchAuthError);
      expect((error as Error).message).toMatch(/rejected the credentials \(401\)/);
      expect((error as Error).message).not.toContain('not-the-password');
    } finally {
      await get.close();
    }
  });

  it('stops when its signal is aborted, and removes its abort listener again', async () => {
    const { modelId } = await storedModel(512 * 1024, 256 * 1024);
    const get = streamingGet(esUrl());
    try {
      const controller = new AbortController();
      const path = `/${SHARED_CHUNKS_INDEX}/_source/${chunkDocId(modelId, 1, 1)}`;
      const error = await get.get(path, 'reading chunk 1', () => controller.abort(), controller.signal).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AbortedError);
      expect((error as Error).message).toBe('reading chunk 1 was cancelled');
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);

      const done = new AbortController();
      await get.get(path, 'reading chunk 1', () => {}, done.signal);
      expect(getEventListeners(done.signal, 'abort')).toHaveLength(0);
    } finally {
      await get.close();
    }
  });
});

describe('StreamingGet and the client with several nodes (elasticsearch.url comma-separated)', () => {
  // Two relays in front of the shared node stand for two nodes: cutting one is that node going away.
  it('sends a request whose node cannot be reached to the next one, and the requests after it too', async () => {
    const { modelId } = await storedModel(512 * 1024, 256 * 1024);
    const [first, second] = await Promise.all([new TcpRelay(new URL(esUrl())).start(), new TcpRelay(new URL(esUrl())).start()]);
    const get = streamingGet(`${first.url},${second.url}`);
    const path = (doc: number) => `/${SHARED_CHUNKS_INDEX}/_source/${chunkDocId(modelId, 1, doc)}`;
    const read = async (doc: number) => {
      const parts: Buffer[] = [];
      await get.get(path(doc), `reading chunk ${doc}`, (part) => parts.push(Buffer.from(part)));
      return (JSON.parse(Buffer.concat(parts).toString()) as { doc_num: number }).doc_num;
    };
    try {
      expect(await read(0)).toBe(0);
      expect([first.connections, second.connections]).toEqual([1, 0]);
      await first.cut();
      expect(await read(1)).toBe(1);
      expect(second.connections).toBe(1);
      await first.restore();
      expect(await read(0)).toBe(0);
      // It stays on the node that answered: nothing more went to the first.
      expect(first.connections).toBe(1);
      await get.put(`/${SHARED_CHUNKS_INDEX}/_doc/${uniqueId('failover-put')}`, Buffer.from('{}'), 'application/json', 'x').catch(() => {});
      await second.cut();
      const error = await get
        .put(`/${SHARED_CHUNKS_INDEX}/_doc/x`, Buffer.from('{"not":"mapped"}'), 'application/json', 'writing a chunk')
        .catch((e: unknown) => e);
      // The PUT went to the first node again, which answered (refusing the unmapped field).
      expect(error).toBeInstanceOf(ElasticsearchStatusError);
      expect(first.connections).toBe(2);
    } finally {
      await get.close();
      await Promise.all([first.cut(), second.cut()]);
    }
  });

  it('fails a GET that broke part way, on that node, and sends its retry to the next one', async () => {
    const { modelId } = await storedModel(4 * 1024 * 1024, 4 * 1024 * 1024);
    const [first, second] = await Promise.all([new TcpRelay(new URL(esUrl())).start(), new TcpRelay(new URL(esUrl())).start()]);
    const get = streamingGet(`${first.url},${second.url}`);
    const path = `/${SHARED_CHUNKS_INDEX}/_source/${chunkDocId(modelId, 1, 0)}`;
    try {
      let received = 0;
      const error = await get
        .get(path, 'reading chunk 0', (part) => {
          received += part.length;
          first.pause();
          void first.cut();
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ElasticsearchUnreachableError);
      expect((error as Error).message).toContain(`cannot reach Elasticsearch at ${first.url} while reading chunk 0`);
      expect(received).toBeGreaterThan(0);
      expect(second.connections).toBe(0);
      let length = 0;
      await get.get(path, 'reading chunk 0', (part) => (length += part.length));
      expect(second.connections).toBe(1);
      expect(length).toBeGreaterThan(4 * 1024 * 1024);
    } finally {
      await get.close();
      await Promise.all([first.cut(), second.cut()]);
    }
  });

  it('names every node, without credentials, when none can be reached; the client fails over too', async () => {
    const dead = 'http://elastic:s3cret@127.0.0.1:1';
    const get = streamingGet(`${dead},http://elastic:s3cret@127.0.0.1:2`);
    try {
      const error = await get.get('/x/_source/y', 'reading chunk 0', () => {}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ElasticsearchUnreachableError);
      expect((error as Error).message).toMatch(/cannot reach Elasticsearch at http:\/\/127\.0\.0\.1:2 while reading chunk 0/);
      expect((error as Error).message).not.toContain('s3cret');
    } finally {
      await get.close();
    }
    const es = newEs(`${dead},${esUrl()}`);
    expect(es.url).toBe(`http://127.0.0.1:1, ${esUrl()}`);
    // The live node answered (its cluster's name), whatever the health is at that moment: red for a
    // while when another file has just created an index whose primary is not yet allocated.
    expect((await es.checkCluster()).clusterName).toBe((await newEs().checkCluster()).clusterName);
    const none = newEs(`${dead},http://127.0.0.1:2`);
    const error = await none.checkCluster().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ElasticsearchUnreachableError);
    expect((error as Error).message).toContain(
      'cannot reach Elasticsearch at http://127.0.0.1:1, http://127.0.0.1:2 while checking the cluster health',
    );
    expect((error as Error).message).not.toContain('s3cret');
  });
});
