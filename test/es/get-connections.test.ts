import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ElasticsearchUnreachableError, TimeoutError } from '../../src/errors.js';
import { StreamingGet } from '../../src/es/streaming-get.js';
import { startPlainServer } from '../support/http-server.js';
import { testConfig } from '../support/es.js';

// Answers Elasticsearch itself does not give (a chunked body, a closed connection, none at all),
// as a proxy in front of it may: a plain node:http server gives them for real.

const BODY = Buffer.from(Array.from({ length: 700_000 }, (_, i) => (i * 31) & 0xff));

function streamingGet(listen: string, requestTimeoutMs = 60_000): StreamingGet {
  return new StreamingGet({ ...testConfig().elasticsearch, url: `http://${listen}`, requestTimeoutMs });
}

async function read(get: StreamingGet, path: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  await get.get(path, `reading ${path}`, (part) => parts.push(Buffer.from(part)));
  return Buffer.concat(parts);
}

describe('GetConnections (the GETs of StreamingGet)', () => {
  it('reads chunked and fixed-length bodies over one kept-alive connection, and a new one after a close', async () => {
    const sockets = new Set<Socket>();
    const server = await startPlainServer((request, response) => {
      sockets.add(request.socket);
      if (request.url === '/close') response.setHeader('connection', 'close');
      if (request.url === '/fixed') response.setHeader('content-length', BODY.length);
      // Without a length node:http sends the body chunked, in pieces as written.
      for (let at = 0; at < BODY.length; at += 100_000) response.write(BODY.subarray(at, at + 100_000));
      response.end();
    });
    const get = streamingGet(server.listen);
    try {
      expect((await read(get, '/chunked')).equals(BODY)).toBe(true);
      expect((await read(get, '/fixed')).equals(BODY)).toBe(true);
      expect(sockets.size).toBe(1);
      expect((await read(get, '/close')).equals(BODY)).toBe(true);
      expect((await read(get, '/fixed')).equals(BODY)).toBe(true);
      expect(sockets.size).toBe(2);
      // More GETs at once than connections: the rest wait for one, and every answer is whole.
      const many = await Promise.all(Array.from({ length: 12 }, (_, i) => read(get, `/fixed?${i}`)));
      expect(many.every((body) => body.equals(BODY))).toBe(true);
      expect(sockets.size).toBeLessThanOrEqual(2 + 8);
    } finally {
      await get.close();
    }
  });

  it('fails a GET whose answer is cut, and one that gets no answer in time, in the project’s terms', async () => {
    const server = await startPlainServer((request, response) => {
      if (request.url === '/silent') return;
      response.setHeader('content-length', BODY.length);
      response.write(BODY.subarray(0, 1000), () => request.socket.destroy());
    });
    const get = streamingGet(server.listen, 300);
    try {
      const cut = await read(get, '/cut').catch((e: unknown) => e);
      expect(cut).toBeInstanceOf(ElasticsearchUnreachableError);
      expect((cut as Error).message).toContain(
        `cannot reach Elasticsearch at http://${server.listen} while reading /cut (other side closed)`,
      );
      const silent = await read(get, '/silent').catch((e: unknown) => e);
      expect(silent).toBeInstanceOf(TimeoutError);
      expect((silent as Error).message).toBe(`Elasticsearch at http://${server.listen} did not answer in time while reading /silent`);
    } finally {
      await get.close();
    }
  });

  it('keeps no process alive with a connection that waits for its next request', async () => {
    const server = await startPlainServer((request, response) => {
      setTimeout(() => response.end('{}'), request.url === '/slow' ? 300 : 0);
    });
    const get = streamingGet(server.listen);
    const sockets = () => process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap').length;
    try {
      await read(get, '/first');
      // The earlier tests' connections have closed by now.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const idle = sockets();
      const slow = read(get, '/slow');
      while (!server.requests.includes('GET /slow')) await new Promise((resolve) => setTimeout(resolve, 10));
      // The same connection, held by the process while it carries a request, and not once it waits.
      expect(sockets()).toBe(idle + 1);
      expect((await slow).toString()).toBe('{}');
      expect(sockets()).toBe(idle);
    } finally {
      await get.close();
    }
  });
});
