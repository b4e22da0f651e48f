import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendError } from '../../src/api/http.js';
import {
  ChunkMissingError,
  ConcurrentModificationError,
  FeederError,
  IntegrityError,
  ModelNotFoundError,
  QueueFullError,
  StalledError,
  TimeoutError,
  UnavailableError,
} from '../../src/errors.js';

// The control API's statuses, over a real socket: several of these errors arise in the daemon only
// in states a test cannot bring about on demand (a full queue, a shutdown in progress, a stall).
describe("the control API's error answers", () => {
  let error: FeederError = new FeederError('unset');
  const server = createServer((_request, response) => sendError(response, error));
  let base = '';
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it.each([
    [new ModelNotFoundError('no such model'), 404],
    [new QueueFullError('the inference queue is full'), 429],
    [new UnavailableError('the daemon is shutting down'), 503],
    [new TimeoutError('no answer in time'), 504],
    [new StalledError('no byte moved for 30 s'), 504],
    [new IntegrityError('chunk 3 has the wrong CRC32'), 409],
    [new ChunkMissingError('chunk 7 is missing'), 409],
    [new ConcurrentModificationError('changed meanwhile'), 409],
  ])('answers %s with %i and its code', async (thrown, status) => {
    error = thrown;
    const answer = await fetch(base);
    expect(answer.status).toBe(status);
    expect(await answer.json()).toEqual({ error: { code: thrown.code, message: thrown.message } });
  });
});
