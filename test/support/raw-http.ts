import { connect } from 'node:net';

/** Where the daemon listens: a port (on 127.0.0.1 unless `host` says otherwise) or a Unix socket. */
export type RawAddress = { port: number; host?: string } | { socketPath: string };

export interface RawAnswer {
  status: number;
  /** Lower-case names; the last of repeated headers wins. */
  headers: Record<string, string>;
  body: string;
}

export interface RawRequest {
  method: string;
  /** Sent exactly as written: fetch and node:http would normalise `//host/x` or `/\x`. */
  target: string;
  /** In order; repeated names allowed. No Host is added: a test that wants one names it. */
  headers?: Array<[string, string]>;
  body?: string | Buffer;
  version?: string;
}

/** `127.0.0.1:PORT` (a daemon's FEEDER_LISTEN) as an address. */
export function rawAddress(listen: string): RawAddress {
  if (listen.startsWith('unix:')) return { socketPath: listen.slice('unix:'.length) };
  return { port: Number(listen.split(':').pop()) };
}

/**
 * The bytes of one request, with `connection: close` so that the daemon ends the connection after
 * its answer, and a content-length for the body unless the headers frame it themselves.
 */
export function requestBytes(request: RawRequest): Buffer {
  const headers = [...(request.headers ?? [])];
  const framed = headers.some(([name]) => /^(content-length|transfer-encoding)$/i.test(name));
  const body = request.body === undefined ? Buffer.alloc(0) : Buffer.from(request.body);
  if (request.body !== undefined && !framed) headers.push(['content-length', String(body.length)]);
  headers.push(['connection', 'close']);
  const head = `${request.method} ${request.target} ${request.version ?? 'HTTP/1.1'}\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/** Sends a request over a raw socket and reads the answer until the daemon closes the connection. */
export function rawRequest(address: RawAddress, request: RawRequest | Buffer, timeoutMs = 10_000): Promise<RawAnswer> {
  const bytes = Buffer.isBuffer(request) ? request : requestBytes(request);
  return new Promise((resolve, reject) => {
    const socket =
      'socketPath' in address ? connect({ path: address.socketPath }) : connect({ port: address.port, host: address.host ?? '127.0.0.1' });
    const parts: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', (part: Buffer) => parts.push(part));
    // The daemon may answer (413, 400) and close before it has read everything: what it said still counts.
    socket.on('error', (error) => {
      if (parts.length === 0) reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const answer = parseAnswer(Buffer.concat(parts));
      if (answer) resolve(answer);
      else
        reject(
          new Error(
            `the connection closed without an answer (${Buffer.concat(parts).length} bytes: ${Buffer.concat(parts).toString('latin1').slice(0, 200)})`,
          ),
        );
    });
    // Not end(): node:http aborts a request whose client half-closes before it is answered.
    socket.write(bytes);
  });
}

/** The first final answer in the bytes (interim 1xx answers skipped), or undefined if there is none. */
function parseAnswer(raw: Buffer): RawAnswer | undefined {
  let rest = raw.toString('latin1');
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const [statusLine = '', ...lines] = rest.slice(0, end).split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
    if (!status) return undefined;
    rest = rest.slice(end + 4);
    if (status < 200) continue;
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const body =
      headers['transfer-encoding'] === 'chunked' ? dechunk(rest) : rest.slice(0, Number(headers['content-length'] ?? rest.length));
    return { status, headers, body: Buffer.from(body, 'latin1').toString('utf8') };
  }
}

function dechunk(text: string): string {
  let body = '';
  for (let at = 0; ;) {
    const lineEnd = text.indexOf('\r\n', at);
    const size = parseInt(text.slice(at, lineEnd), 16);
    if (lineEnd < 0 || !(size > 0)) return body;
    body += text.slice(lineEnd + 2, lineEnd + 2 + size);
    at = lineEnd + 2 + size + 2;
  }
}
