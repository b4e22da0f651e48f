import { getEventListeners } from 'node:events';
import { describe, expect, it, inject } from 'vitest';
import { AbortedError, ElasticsearchAuthError, ElasticsearchUnreachableError } from '../../src/errors.js';
import { redactUrl } from '../../src/es/client.js';
import { StreamingGet } from '../../src/es/streaming-get.js';
import { ElasticsearchStatusError } from '../../src/es/translate.js';
import { storedModel } from '../support/deploy.js';
import { chunkDocId, SHARED_CHUNKS_INDEX } from '../../src/store/layout.js';
import { esUrl, testConfig } from '../support/es.js';

/** A StreamingGet on `url` with the test configuration's other settings. */
function streamingGet(url: string, change: (c: ReturnType<typeof testConfig>['elasticsearch']) => void = () => {}) {
  const config = { ...testConfig().elasticsearch, url };
  change(config);
  return new StreamingGet(config, redactUrl(url));
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
