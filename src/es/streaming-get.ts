import { Pool, errors as undiciErrors, type Dispatcher } from 'undici';
import { esUrls, type ElasticsearchConfig } from '../config/config.js';
import { AbortedError, ElasticsearchUnreachableError, FeederError, TimeoutError } from '../errors.js';
import { decodeCbor } from '../chunks/codec/index.js';
import { redactUrl, tlsOptions } from './client.js';
import { GetConnections, type GetHandlers } from './get-connections.js';
import { statusError, unreachableError } from './translate.js';

/** At most this much of an error answer is read, to say what went wrong. */
const ERROR_BODY_LIMIT = 64 * 1024;

/**
 * A node that could not be reached (or did not answer in time) while `doing`: requests now go to
 * `next`. `retrying` when this request went there at once (it had got nothing yet); otherwise it
 * failed and its caller retries it.
 */
export interface NodeFailure {
  failed: string;
  next: string;
  retrying: boolean;
  error: FeederError;
}

/** One node of the cluster: its own connections, and what requests to it carry. */
interface Node {
  /** For PUTs. */
  pool: Pool;
  /** For the streamed GETs. */
  gets: GetConnections;
  /** Redacted, for messages. */
  url: string;
  basePath: string;
  headers: Record<string, string>;
}

/**
 * GETs whose answer is handed over part by part as it arrives, for the chunk documents on the
 * deploy path, and single-document PUTs, for the CBOR chunk documents of an upload. It goes
 * around the client's response streams (an async-iterated Readable per request), which cost about
 * as much CPU as fetching itself: with undici's dispatch API each socket read reaches the decoder
 * directly. Everything else still goes through the client.
 *
 * With several nodes (`elasticsearch.url` comma-separated), requests go to one node until it cannot
 * be reached or does not answer in time; then to the next, for that request (when none of its
 * answer was handed over yet: a PUT, or a GET that got nothing) and for those that follow. A GET
 * that failed part way rejects, as with one node: its caller retries it whole (the chunk reader
 * does, src/es/retry.ts), and the retry goes to the next node.
 */
export class StreamingGet {
  readonly #nodes: Node[];
  /** The node requests go to. */
  #current = 0;

  constructor(config: ElasticsearchConfig, connections = 8) {
    this.#nodes = esUrls(config.url).map((url) => {
      const target = new URL(url);
      const tls = target.protocol === 'https:' ? tlsOptions(config) : undefined;
      return {
        url: redactUrl(url),
        headers: authHeaders(config, target),
        basePath: target.pathname.replace(/\/$/, ''),
        pool: new Pool(target.origin, {
          connections,
          headersTimeout: config.requestTimeoutMs,
          bodyTimeout: config.requestTimeoutMs,
          ...(tls ? { connect: tls } : {}),
        }),
        gets: new GetConnections(target, connections, config.requestTimeoutMs, tls),
      };
    });
  }

  /**
   * GETs `path`, passing each part of a 200 answer's body to `onPart` (which must not keep it). Any
   * other status, and every transport failure, rejects with the project's own error, `doing`
   * saying what the request was for. `headers` adds to the authorization (an `accept`, say).
   */
  get(
    path: string,
    doing: string,
    onPart: (part: Buffer) => void,
    signal?: AbortSignal,
    headers: Record<string, string> = {},
    onNodeFailed?: (failure: NodeFailure) => void,
  ): Promise<void> {
    if (signal?.aborted) return Promise.reject(new AbortedError(`${doing} was cancelled`, { cause: signal.reason }));
    return this.#failover(onNodeFailed, (node, started) =>
      this.#dispatch(
        node,
        (handler) => node.gets.get(`${node.basePath}${path}`, { ...node.headers, ...headers }, handler),
        (part) => {
          started();
          onPart(part);
        },
        doing,
        signal,
      ),
    );
  }

  /**
   * PUTs one document body (`contentType` names its encoding) and waits for a 2xx; the answer's body
   * is not read. For the CBOR chunk documents of an upload, one request each: the client's request
   * path (serializer, headers, a response object per request) cost more than the request itself.
   * A PUT by id may go again to another node: written twice, the document is the same.
   */
  put(
    path: string,
    body: Buffer,
    contentType: string,
    doing: string,
    signal?: AbortSignal,
    onNodeFailed?: (failure: NodeFailure) => void,
  ): Promise<void> {
    if (signal?.aborted) return Promise.reject(new AbortedError(`${doing} was cancelled`, { cause: signal.reason }));
    return this.#failover(onNodeFailed, (node) => {
      const put: Dispatcher.DispatchOptions = {
        method: 'PUT',
        path: `${node.basePath}${path}`,
        // Elasticsearch answers in the request's content type unless told otherwise.
        headers: { ...node.headers, 'content-type': contentType, accept: 'application/json' },
        body,
      };
      return this.#dispatch(
        node,
        (handler) => node.pool.dispatch(put, handler),
        () => {},
        doing,
        signal,
      );
    });
  }

  close(): Promise<void> {
    return Promise.all(this.#nodes.flatMap((node) => [node.pool.close(), node.gets.close()])).then(() => {});
  }

  /**
   * Runs `attempt` on the current node; when that node cannot be reached, later requests go to the
   * next one, and so does this one unless it has started handing over its answer.
   */
  async #failover(
    onNodeFailed: ((failure: NodeFailure) => void) | undefined,
    attempt: (node: Node, started: () => void) => Promise<void>,
  ): Promise<void> {
    const count = this.#nodes.length;
    const first = this.#current;
    for (let tried = 0; ; tried += 1) {
      const index = (first + tried) % count;
      let started = false;
      try {
        return await attempt(this.#nodes[index]!, () => (started = true));
      } catch (error) {
        if (!(error instanceof ElasticsearchUnreachableError || error instanceof TimeoutError)) throw error;
        if (count === 1) throw error;
        if (this.#current === index) this.#current = (index + 1) % count;
        const retrying = !started && tried + 1 < count;
        onNodeFailed?.({ failed: this.#nodes[index]!.url, next: this.#nodes[(index + 1) % count]!.url, retrying, error });
        if (!retrying) throw error;
      }
    }
  }

  #dispatch(
    node: Node,
    send: (handler: GetHandler) => void,
    onPart: (part: Buffer) => void,
    doing: string,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const handler = new GetHandler(onPart, signal, {
        resolve,
        reject: (error) => reject(translate(error, node.url, doing)),
        status: (status, body, contentType) => reject(statusError(status, parseBody(body, contentType), node.url, doing)),
      });
      send(handler);
    });
  }
}

function translate(error: Error, url: string, doing: string): Error {
  // The decoder's own complaints (a thrown part callback) are not network failures.
  if (error instanceof SyntaxError || (error instanceof FeederError && !(error instanceof AbortedError))) return error;
  if (error instanceof AbortedError) return new AbortedError(`${doing} was cancelled`, { cause: error.cause });
  if (
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError ||
    error instanceof undiciErrors.ConnectTimeoutError
  ) {
    return new TimeoutError(`Elasticsearch at ${url} did not answer in time while ${doing}`, { cause: error });
  }
  return unreachableError(url, doing, error);
}

interface Settle {
  resolve(): void;
  reject(error: Error): void;
  status(status: number, body: Buffer, contentType: string): void;
}

/** One request's callbacks: a 200 body goes to `onPart`, anything else is collected to explain it. */
class GetHandler implements Dispatcher.DispatchHandlers, GetHandlers {
  #status = 0;
  #contentType = '';
  #errorBody: Buffer[] = [];
  #errorBytes = 0;
  #abort: ((error?: Error) => void) | null = null;
  #settled = false;
  readonly #onAbort = () => this.#abort?.(new AbortedError('cancelled', { cause: this.signal?.reason }));

  constructor(
    private readonly onPart: (part: Buffer) => void,
    private readonly signal: AbortSignal | undefined,
    private readonly settle: Settle,
  ) {
    // Listening from the start: a request still queued in the pool is cancelled as soon as it is dispatched.
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  onConnect(abort: (error?: Error) => void): void {
    this.#abort = abort;
    if (this.signal?.aborted) this.#onAbort();
  }

  onHeaders(status: number, headers: Buffer[]): boolean {
    this.#status = status;
    if (!this.#ok) this.#contentType = contentTypeOf(headers);
    return true;
  }

  /** A 2xx: a GET answers 200, a PUT that creates 201. */
  get #ok(): boolean {
    return this.#status >= 200 && this.#status < 300;
  }

  onData(part: Buffer): boolean {
    if (this.#ok) {
      try {
        this.onPart(part);
      } catch (error) {
        this.#abort?.(error as Error);
      }
    } else if (this.#errorBytes < ERROR_BODY_LIMIT) {
      this.#errorBody.push(Buffer.from(part));
      this.#errorBytes += part.length;
    }
    return true;
  }

  onComplete(): void {
    this.#finish(() =>
      this.#ok ? this.settle.resolve() : this.settle.status(this.#status, Buffer.concat(this.#errorBody), this.#contentType),
    );
  }

  onError(error: Error): void {
    this.#finish(() => this.settle.reject(error));
  }

  #finish(settle: () => void): void {
    if (this.#settled) return;
    this.#settled = true;
    this.signal?.removeEventListener('abort', this.#onAbort);
    settle();
  }
}

/** The raw headers' content type, lower case ('' when there is none). */
function contentTypeOf(headers: Buffer[]): string {
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if (headers[i]!.toString('latin1').toLowerCase() === 'content-type') return headers[i + 1]!.toString('latin1').toLowerCase();
  }
  return '';
}

/** An error answer, to explain it: Elasticsearch answers a CBOR request's errors in CBOR. */
function parseBody(body: Buffer, contentType: string): unknown {
  if (contentType.startsWith('application/cbor')) {
    try {
      return decodeCbor(body);
    } catch {
      return '(an error answer in CBOR that could not be decoded)';
    }
  }
  const text = body.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function authHeaders(config: ElasticsearchConfig, target: URL): Record<string, string> {
  if (config.apiKey) return { authorization: `ApiKey ${config.apiKey}` };
  const username = config.username ?? (target.username ? decodeURIComponent(target.username) : undefined);
  if (username === undefined) return {};
  const password = config.username !== undefined ? (config.password ?? '') : decodeURIComponent(target.password);
  return { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` };
}
