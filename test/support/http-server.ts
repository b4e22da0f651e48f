import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { afterAll } from 'vitest';

export interface PlainServer {
  /** `127.0.0.1:PORT`, as FEEDER_LISTEN takes it. */
  listen: string;
  /** Every request received so far, as `METHOD /path`. */
  requests: string[];
  close: () => Promise<void>;
}

const open: PlainServer[] = [];
afterAll(async () => {
  await Promise.all(open.splice(0).map((server) => server.close()));
});

/**
 * A plain HTTP server on port 0, for the answers the real daemon cannot be made to give. A handler
 * that never answers leaves the request hanging; `close()` drops such connections.
 */
export async function startPlainServer(handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<PlainServer> {
  const requests: string[] = [];
  const server = createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`);
    request.resume();
    handler(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const plain: PlainServer = {
    listen: `127.0.0.1:${port}`,
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  open.push(plain);
  return plain;
}

/** A handler that answers every request with this status and body. */
export function answering(
  status: number,
  body: string,
  contentType = 'application/json',
): (request: IncomingMessage, response: ServerResponse) => void {
  return (_request, response) => {
    response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
    response.end(body);
  };
}

/** A handler that takes the request and never answers it. */
export const neverAnswering = (): void => {};
