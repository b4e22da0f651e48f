import { timingSafeEqual } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { BadJsonError, BadRequestError, BodyTooLargeError, FeederError, InternalError, UnauthorizedError } from '../errors.js';

export const MAX_BODY_BYTES = 64 * 1024;

export async function readJsonBody(request: IncomingMessage): Promise<unknown> {
  const body = await readBody(request);
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new BadJsonError(`request body is not valid JSON: ${(error as Error).message}`);
  }
}

/** The whole body, up to MAX_BODY_BYTES; listeners rather than an async iterator, which cost 5% of an inference. */
function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const onData = (part: Buffer) => {
      size += part.length;
      if (size <= MAX_BODY_BYTES) return void parts.push(part);
      request.off('data', onData).off('end', onEnd).pause();
      reject(new BodyTooLargeError(`request body is larger than ${MAX_BODY_BYTES} bytes`));
    };
    const onEnd = () => resolve(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    request.on('data', onData).on('end', onEnd).on('error', reject);
  });
}

export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  response.end(text);
}

/** Any error as the status, headers and `{error: {code, message}}` its class gives; one that is no FeederError is a bug, a 500. */
export function sendError(response: ServerResponse, error: unknown): void {
  const answer = asFeederError(error);
  if (response.headersSent) return void response.destroy();
  sendJson(response, answer.httpStatus, { error: { code: answer.code, message: answer.message } }, answer.httpHeaders);
}

function asFeederError(error: unknown): FeederError {
  if (error instanceof FeederError) return error;
  return new InternalError((error as Error)?.message ?? String(error), { cause: error });
}

/**
 * Constant-time comparison of the bearer token; no token configured means the socket's reach is the
 * guard. The scheme's case does not matter (RFC 7235: `bearer` is `Bearer`).
 */
export function checkBearer(request: IncomingMessage, token: string | undefined): void {
  if (!token) return;
  const given = /^Bearer +(.+)$/i.exec(request.headers.authorization ?? '')?.[1] ?? '';
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new UnauthorizedError(
      "missing or wrong bearer token; give the daemon's token with FEEDER_TOKEN, --token-file / FEEDER_TOKEN_FILE, or daemon.token",
    );
  }
}

/** How long a socket we answered on directly stays open for the client to read the answer. */
const LINGER_MS = 1000;

/** Per connection, the responses not yet finished: a raw answer written into one under way would corrupt it. */
const unfinished = new WeakMap<object, Set<ServerResponse>>();

/** Keeps the response among its connection's unfinished ones until it closes. */
export function trackResponse(request: IncomingMessage, response: ServerResponse): void {
  const { socket } = request;
  const responses = unfinished.get(socket) ?? new Set<ServerResponse>();
  unfinished.set(socket, responses.add(response));
  response.once('close', () => responses.delete(response));
}

/**
 * node:http answers a request it cannot parse with a bare 400 (or 431, 413, 408) and no body; ours
 * is JSON like every other error, so the CLI shows the daemon's reason instead of "not a daemon".
 * As node:http does, it is not written while another answer on the connection is half sent.
 */
export function answerClientError(error: Error & { code?: string; reason?: string }, socket: Duplex): void {
  const halfSent = [...(unfinished.get(socket) ?? [])].some((response) => response.headersSent);
  if (error.code === 'ECONNRESET' || !socket.writable || halfSent) return void socket.destroy();
  writeRawError(socket, clientErrorAnswer(error));
}

function clientErrorAnswer(error: Error & { code?: string; reason?: string }): FeederError {
  if (error.code === 'HPE_HEADER_OVERFLOW') return new BadRequestError('the request headers are too large', { httpStatus: 431 });
  if (error.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW')
    return new BodyTooLargeError('the chunk extensions of the request body are too large');
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return new BadRequestError('the request did not arrive in time', { httpStatus: 408 });
  return new BadRequestError(`malformed HTTP request: ${error.reason ?? error.message}`);
}

/**
 * An error answer written on the socket itself, for the requests node:http gives no response object
 * to; the connection closes after it, so only the status and the body are the error's.
 */
export function writeRawError(socket: Duplex, error: FeederError): void {
  const text = JSON.stringify({ error: { code: error.code, message: error.message } });
  const head = `HTTP/1.1 ${error.httpStatus} ${STATUS_CODES[error.httpStatus] ?? ''}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n`;
  socket.end(head + text);
  // Half-open after our answer, a client that never closes would keep the socket for good.
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}
