import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendError } from '../../src/api/http.js';
import {
  BadRequestError,
  BodyTooLargeError,
  ChunkMissingError,
  ConcurrentModificationError,
  FeederError,
  IntegrityError,
  MethodNotAllowedError,
  ModelNotFoundError,
  QueueFullError,
  StalledError,
  TimeoutError,
  UnauthorizedError,
  UnavailableError,
} from '../../src/errors.js';

// The control API's statuses, over a real socket: several of these errors arise in the daemon only
// in states a test cannot bring about on demand (a full queue, a shutdown in progress, a stall).
describe("the control API's error answers", () => {
  let error: unknown = new FeederError('unset');
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

  it.each([
    [new BadRequestError('the request headers are too large', { httpStatus: 431 }), 431, {}],
    [new BodyTooLargeError('request body is larger than 65536 bytes'), 413, { connection: 'close' }],
    [new MethodNotAllowedError('PATCH is not allowed on /deployments/m; use GET, PUT', { allow: 'GET, PUT' }), 405, { allow: 'GET, PUT' }],
    [new UnauthorizedError('missing or wrong bearer token'), 401, { 'www-authenticate': 'Bearer' }],
    [new UnavailableError('daemon d2 could not be reached', { httpStatus: 502 }), 502, {}],
  ])("answers the control API's own %s with the status and headers it carries", async (thrown, status, headers) => {
    error = thrown;
    const answer = await fetch(base);
    expect(answer.status).toBe(status);
    for (const [name, value] of Object.entries(headers)) expect(answer.headers.get(name), name).toBe(value);
    expect(await answer.json()).toEqual({ error: { code: thrown.code, message: thrown.message } });
  });

  it('answers anything that is no FeederError as a 500 FEEDER_ERR_INTERNAL', async () => {
    error = new TypeError('a bug');
    const answer = await fetch(base);
    expect(answer.status).toBe(500);
    expect(await answer.json()).toEqual({ error: { code: 'FEEDER_ERR_INTERNAL', message: 'a bug' } });
  });
});
