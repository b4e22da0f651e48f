import { afterAll, describe, expect, it } from 'vitest';
import { ElasticsearchUnreachableError } from '../../src/errors.js';
import { isBusy, withRetry } from '../../src/es/retry.js';
import { ElasticsearchStatusError } from '../../src/es/translate.js';
import { newEs, uniqueId } from '../support/es.js';

// A real 503: an index whose only shard may not be placed on any node (an allocation filter that
// names no node) answers every read with no_shard_available_action_exception until it is placed.
describe('withRetry against a real shard that is not serving yet', () => {
  const index = uniqueId('feeder-test-busy');
  afterAll(async () => {
    await newEs().client.indices.delete({ index }, { ignore: [404] });
  });

  it('retries busy answers (503) until the shard serves, and then gives the real answer', async () => {
    const es = newEs();
    await es.client.indices.create({
      index,
      settings: { number_of_shards: 1, number_of_replicas: 0, 'index.routing.allocation.require._name': 'no-such-node' },
      wait_for_active_shards: 0,
    });
    const read = () => es.call('reading a document', (c) => c.get({ index, id: 'x' }));
    const first = await read().catch((e: unknown) => e);
    expect(first).toBeInstanceOf(ElasticsearchStatusError);
    expect((first as ElasticsearchStatusError).status).toBe(503);
    expect(isBusy(first)).toBe(true);

    const retried: number[] = [];
    const placed = new Promise((resolve) => setTimeout(resolve, 400)).then(() =>
      es.client.indices.putSettings({ index, settings: { 'index.routing.allocation.require._name': null } }),
    );
    const outcome = await withRetry(read, {
      retries: 10,
      baseDelayMs: 100,
      retryOn: isBusy,
      onRetry: (_e, attempt) => retried.push(attempt),
    }).catch((e: unknown) => e);
    await placed;
    expect(retried.length).toBeGreaterThan(0);
    // Once placed, the shard answers: the document does not exist.
    expect(outcome).toBeInstanceOf(ElasticsearchStatusError);
    expect((outcome as ElasticsearchStatusError).status).toBe(404);
  });

  it('does not retry an unreachable cluster when only busy answers are to be retried', async () => {
    const es = newEs('http://127.0.0.1:9');
    const retried: number[] = [];
    const error = await withRetry(() => es.call('reading a document', (c) => c.get({ index, id: 'x' })), {
      retries: 5,
      baseDelayMs: 100,
      retryOn: isBusy,
      onRetry: (_e, n) => retried.push(n),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ElasticsearchUnreachableError);
    expect(retried).toEqual([]);
  });
});
