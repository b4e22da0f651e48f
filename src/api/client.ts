import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { FeederConfig } from '../config/config.js';
import { isWildcard, parseDaemonUrl, parseListenAddress } from '../config/daemon-address.js';
import { AbortedError, DaemonError, errorFromWire, type FeederError, TimeoutError } from '../errors.js';
import { clientTlsOptions, CLI_CA_ADVICE, describeTlsFailure } from './tls-client.js';

export interface DaemonAnswer<T> {
  status: number;
  body: T;
}

export interface DaemonCall {
  /** The command's signal: Ctrl-C aborts the request. */
  signal: AbortSignal;
  body?: unknown;
  /**
   * A wait the daemon takes on purpose before it answers (a deploy's --timeout, an inference): the
   * request waits that long plus daemon.requestTimeoutMs. `flag` is what the user set it with.
   */
  wait?: { ms: number; flag?: string };
}

interface Exchange {
  /** The daemon as the user named it: its URL or listen address. */
  where: string;
  method: string;
  path: string;
  options: RequestOptions;
  payload: string | undefined;
  secure: boolean;
  timeoutMs: number;
  signal: AbortSignal;
  waitFlag: string | undefined;
}

interface RawAnswer {
  status: number;
  text: string;
}

/** Talks to a running `feeder serve` over its control API; its errors come back as our own, with their codes. */
export async function callDaemon<T>(config: FeederConfig, method: string, path: string, call: DaemonCall): Promise<DaemonAnswer<T>> {
  const described = describeExchange(config, method, path, call);
  const answer = await exchange(described);
  const body = parseAnswer(described.where, answer);
  if (answer.status >= 400) throw errorOf(described.where, answer.status, body);
  return { status: answer.status, body: body as T };
}

/** POST /deployments/<id>/_infer with Elastic's body; the wait is the daemon's inference timeout. */
export function inferText<T>(config: FeederConfig, modelId: string, body: unknown, signal: AbortSignal): Promise<DaemonAnswer<T>> {
  return callDaemon<T>(config, 'POST', `/deployments/${encodeURIComponent(modelId)}/_infer`, {
    signal,
    body,
    wait: { ms: config.daemon.inferenceTimeoutMs },
  });
}

/**
 * `daemon.url` (FEEDER_DAEMON_URL, --daemon-url) when given: a daemon elsewhere. Else the daemon
 * this config describes, at `daemon.listen`, over TLS when the config gives it a certificate; one
 * listening on every interface is reached at loopback.
 */
function daemonTarget(config: FeederConfig): { where: string; target: RequestOptions; secure: boolean } {
  const { url, listen, tls } = config.daemon;
  if (url !== undefined) {
    const { host, port, secure } = parseDaemonUrl(url);
    return { where: url, target: { host, port }, secure };
  }
  const secure = tls.cert !== undefined;
  const address = parseListenAddress(listen);
  if (address.kind === 'unix') return { where: listen, target: { socketPath: address.path }, secure };
  const host = isWildcard(address.host) ? (address.host === '::' ? '::1' : '127.0.0.1') : address.host;
  return { where: listen, target: { host, port: address.port }, secure };
}

function describeExchange(config: FeederConfig, method: string, path: string, call: DaemonCall): Exchange {
  const { where, target, secure } = daemonTarget(config);
  const payload = call.body === undefined ? undefined : JSON.stringify(call.body);
  const headers: Record<string, string | number> = {};
  if (payload !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  if (config.daemon.token) headers.authorization = `Bearer ${config.daemon.token}`;
  return {
    where,
    method,
    path,
    options: { ...target, method, path, headers, ...(secure ? clientTlsOptions(config, { certificateIfReadable: true }) : {}) },
    payload,
    secure,
    timeoutMs: (call.wait?.ms ?? 0) + config.daemon.requestTimeoutMs,
    signal: call.signal,
    waitFlag: call.wait?.flag,
  };
}

/** One request and its whole answer, given up on at the timeout or when the command is cancelled. */
async function exchange(call: Exchange): Promise<RawAnswer> {
  if (call.signal.aborted) throw cancelledError(call);
  let stop: (error: FeederError) => void = () => {};
  const onAbort = () => stop(cancelledError(call));
  const timer = setTimeout(() => stop(timeoutError(call)), call.timeoutMs);
  call.signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await new Promise<RawAnswer>((resolve, reject) => {
      const request = (call.secure ? httpsRequest : httpRequest)(call.options, (response) => {
        readText(response).then(
          (text) => resolve({ status: response.statusCode ?? 0, text }),
          (error: Error) => reject(unreachableError(call, error)),
        );
      });
      stop = (error) => {
        reject(error);
        request.destroy();
      };
      request.on('error', (error) => reject(unreachableError(call, error)));
      request.end(call.payload);
    });
  } finally {
    clearTimeout(timer);
    call.signal.removeEventListener('abort', onAbort);
  }
}

async function readText(response: IncomingMessage): Promise<string> {
  let text = '';
  for await (const part of response.setEncoding('utf8') as AsyncIterable<string>) text += part;
  return text;
}

function parseAnswer(listen: string, answer: RawAnswer): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(answer.text || '{}');
  } catch {
    throw notADaemonError(listen, answer, 'something that is not JSON');
  }
  if (!isObject(body)) throw notADaemonError(listen, answer, 'JSON that is not a feeder answer');
  return body;
}

function errorOf(listen: string, status: number, body: Record<string, unknown>): FeederError {
  const { error } = body;
  if (isObject(error) && typeof error.code === 'string' && typeof error.message === 'string')
    return errorFromWire(error.code, error.message);
  return notADaemonError(listen, { status, text: JSON.stringify(body) }, 'an error without a feeder error code');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function notADaemonError(listen: string, answer: RawAnswer, what: string): DaemonError {
  return new DaemonError(
    `the server at ${listen} answered ${answer.status} with ${what} ('${snippet(answer.text)}'); it is probably not a feeder daemon: point FEEDER_LISTEN / --listen at the address 'feeder serve' listens on, or FEEDER_DAEMON_URL / --daemon-url at a daemon elsewhere`,
  );
}

/** The start of an answer, on one line, so that a page of HTML does not flood the terminal. */
function snippet(text: string): string {
  const line = text.replace(/[\s\p{Cc}]+/gu, ' ').trim();
  return line.length > 80 ? `${line.slice(0, 80)}…` : line;
}

function timeoutError(call: Exchange): TimeoutError {
  const knob = call.waitFlag
    ? `${call.waitFlag} (the wait) or FEEDER_REQUEST_TIMEOUT / daemon.requestTimeoutMs (the margin after it)`
    : 'FEEDER_REQUEST_TIMEOUT / daemon.requestTimeoutMs';
  return new TimeoutError(
    `the feeder daemon at ${call.where} did not answer ${call.method} ${call.path} within ${call.timeoutMs / 1000} s; if it needs longer, raise ${knob}; otherwise check that 'feeder serve' at ${call.where} is running and responsive`,
  );
}

function cancelledError(call: Exchange): AbortedError {
  return new AbortedError(`the request ${call.method} ${call.path} to the feeder daemon at ${call.where} was cancelled`, {
    cause: call.signal.reason,
  });
}

function unreachableError(call: Exchange, error: Error): DaemonError {
  const tls = describeTlsFailure(error, CLI_CA_ADVICE);
  if (tls) return new DaemonError(`the feeder daemon at ${call.where} was refused: ${tls}`, { cause: error });
  return new DaemonError(
    `cannot reach the feeder daemon at ${call.where} (${error.message}); start it with 'feeder serve', or point FEEDER_LISTEN / --listen (FEEDER_DAEMON_URL / --daemon-url for a daemon elsewhere) at it`,
    { cause: error },
  );
}
