import net from 'node:net';
import tls from 'node:tls';
import { errors as undiciErrors } from 'undici';
import { ResponseParser } from './http-response.js';

/** A GET's callbacks, as undici's dispatch handlers: `abort` ends the request with the error given. */
export interface GetHandlers {
  onConnect(abort: (error?: Error) => void): void;
  onHeaders(status: number, headers: Buffer[]): boolean;
  onData(part: Buffer): boolean;
  onComplete(): void;
  onError(error: Error): void;
}

/**
 * Each connection reads into one buffer of its own, reused for every read: socket reads allocate
 * nothing, so a deploy makes next to no garbage per MiB, and a read may take up to this much.
 */
const READ_BUFFER_BYTES = 256 * 1024;

interface Request {
  head: string;
  handler: GetHandlers;
}

/**
 * Keep-alive HTTP/1.1 connections to one node for GETs whose answers are streamed: the chunk
 * documents of a deploy. undici's client cost the deploying daemon about 1 ms of CPU per MiB (a
 * fresh buffer per 64 KiB socket read, the parser's copy of every byte into its wasm memory, a
 * stream per socket); this reads each socket straight into a reused buffer (`onread`) and hands
 * views of it over. docs/benchmarks.md has the profile.
 */
export class GetConnections {
  readonly #idle: Connection[] = [];
  readonly #waiting: Request[] = [];
  #open = 0;
  #closed = false;

  constructor(
    private readonly origin: URL,
    private readonly connections: number,
    private readonly timeoutMs: number,
    private readonly tlsOptions: tls.ConnectionOptions = {},
  ) {}

  /** GETs `path` with these headers; the handler hears of everything, as undici's would. */
  get(path: string, headers: Record<string, string>, handler: GetHandlers): void {
    if (this.#closed) return handler.onError(new undiciErrors.ClientClosedError());
    let head: string;
    try {
      head = requestHead(this.origin, path, headers);
    } catch (error) {
      return handler.onError(error as Error);
    }
    const request = { head, handler };
    const idle = this.#idle.pop();
    if (idle) idle.send(request);
    else if (this.#open < this.connections) this.#connect().send(request);
    else this.#waiting.push(request);
  }

  close(): Promise<void> {
    this.#closed = true;
    for (const connection of this.#idle.splice(0)) connection.retire();
    for (const request of this.#waiting.splice(0)) request.handler.onError(new undiciErrors.ClientClosedError());
    return Promise.resolve();
  }

  /** A connection done with its request: it takes the next one waiting, or waits itself. */
  released(connection: Connection): void {
    const next = this.#waiting.shift();
    if (next) connection.send(next);
    else if (this.#closed) connection.retire();
    else {
      connection.idle();
      this.#idle.push(connection);
    }
  }

  /** A connection that is gone: a request waiting for one gets a new one. */
  retired(connection: Connection): void {
    const at = this.#idle.indexOf(connection);
    if (at >= 0) this.#idle.splice(at, 1);
    this.#open -= 1;
    const next = this.#waiting.shift();
    if (next) this.#connect().send(next);
  }

  #connect(): Connection {
    this.#open += 1;
    return new Connection(this, this.origin, this.timeoutMs, this.tlsOptions);
  }
}

function requestHead(origin: URL, path: string, headers: Record<string, string>): string {
  const values = [path, ...Object.keys(headers), ...Object.values(headers)];
  if (values.some((value) => /[\r\n]/.test(value))) throw new TypeError('a request path or header holds a line break');
  let head = `GET ${path} HTTP/1.1\r\nhost: ${origin.host}\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  return `${head}\r\n`;
}

/** One keep-alive connection: one request at a time, its answer parsed as each read arrives. */
class Connection {
  readonly #socket: net.Socket;
  #request: Request | null = null;
  #parser: ResponseParser | null = null;
  #retired = false;

  constructor(
    private readonly pool: GetConnections,
    origin: URL,
    timeoutMs: number,
    tlsOptions: tls.ConnectionOptions,
  ) {
    const onread = {
      buffer: Buffer.allocUnsafeSlow(READ_BUFFER_BYTES),
      callback: (size: number, buffer: Uint8Array) => this.#read(size, buffer),
    };
    const host = origin.hostname.replace(/^\[(.*)\]$/, '$1');
    const https = origin.protocol === 'https:';
    const port = Number(origin.port) || (https ? 443 : 80);
    this.#socket = https
      ? tls.connect({ ...tlsOptions, host, port, ...(net.isIP(host) ? {} : { servername: host }), onread } as tls.ConnectionOptions)
      : net.connect({ host, port, onread });
    this.#socket.setNoDelay(true);
    this.#socket.setTimeout(timeoutMs, () => this.#fail(this.#timeoutError()));
    this.#socket.on('error', (error) => this.#fail(error));
    this.#socket.on('close', () => this.#closed());
  }

  send(request: Request): void {
    const parser = new ResponseParser({
      onHeaders: (status, headers) => this.#request === request && request.handler.onHeaders(status, headers),
      onData: (part) => this.#request === request && request.handler.onData(part),
    });
    this.#request = request;
    this.#parser = parser;
    this.#socket.ref();
    request.handler.onConnect((error) => this.#request === request && this.#fail(error ?? new undiciErrors.RequestAbortedError()));
    if (this.#request === request) this.#socket.write(request.head, 'latin1');
  }

  /** Waiting for a request: an idle connection keeps no process alive, as undici's do not. */
  idle(): void {
    this.#socket.unref();
  }

  retire(): void {
    if (this.#retired) return;
    this.#retired = true;
    this.#socket.destroy();
    this.pool.retired(this);
  }

  /** Keeps the socket reading (a callback that returns false pauses it). */
  #read(size: number, buffer: Uint8Array): boolean {
    this.#onRead(size, buffer);
    return true;
  }

  #onRead(size: number, buffer: Uint8Array): void {
    const parser = this.#parser;
    if (!this.#request || !parser) return this.retire();
    try {
      const extra = parser.push((buffer as Buffer).subarray(0, size));
      // A handler that aborted its request (a decoder's complaint) has ended it already.
      if (parser.done && this.#parser === parser) this.#complete(extra === 0 && parser.keepAlive);
    } catch (error) {
      this.#fail(error as Error);
    }
  }

  #complete(reusable: boolean): void {
    const request = this.#request!;
    this.#request = null;
    this.#parser = null;
    request.handler.onComplete();
    if (reusable && !this.#retired) this.pool.released(this);
    else this.retire();
  }

  #fail(error: Error): void {
    const request = this.#request;
    this.#request = null;
    this.#parser = null;
    this.retire();
    request?.handler.onError(error);
  }

  #closed(): void {
    if (this.#request && this.#parser?.end()) return this.#complete(false);
    this.#fail(new undiciErrors.SocketError('other side closed'));
  }

  #timeoutError(): Error {
    if (!this.#request) return new Error('idle');
    return this.#parser?.headDone ? new undiciErrors.BodyTimeoutError() : new undiciErrors.HeadersTimeoutError();
  }
}
