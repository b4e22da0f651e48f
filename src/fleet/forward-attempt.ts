import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https';
import { formatHostPort } from '../config/daemon-address.js';
import type { PresenceDoc } from '../coordination/daemon-presence.js';

/** Marks a request one daemon forwarded to another: it is answered there or refused, never forwarded again. */
export const FORWARDED_HEADER = 'x-feeder-forwarded-by';

/** How long a holder may take to acknowledge a request (`100 Continue`) before the next one is tried; its body is not sent until then. */
const CONTINUE_WAIT_MS = 1000;
/** With no answer byte for this long, the holder is asked whether it runs (`/healthz`, on a connection of its own). */
const PROBE_EVERY_MS = 1000;

export interface Outbound {
  to: PresenceDoc;
  body: Buffer;
  path: string;
  from: string;
  token: string | undefined;
  /** How long the answer may take once the body is sent: the holder's own wait and a margin (forward-timeout.ts). */
  waitMs: number;
  /** No holder is left after this one: its body is sent even when it is slow to acknowledge. */
  last: boolean;
  /** The agent that checks a TLS holder's certificate (the fleet's CA, the advertised name). */
  httpsAgent?: HttpsAgent | undefined;
}

export type Attempt =
  /** `done` frees the connection once the answer was relayed (or dropped). */
  | { kind: 'answer'; answer: IncomingMessage; done: () => void }
  /** `bodySent`: the holder may have read the whole request (it is never sent before the holder acknowledged it). */
  | { kind: 'failed'; error: Error; bodySent: boolean }
  /** The holder, still running, gave no answer within `waitMs`: the request outlived its timeout. */
  | { kind: 'timeout' };

/**
 * One try of a forwarded request on one holder. The request goes out with `Expect: 100-continue`:
 * its body follows only once the holder's server acknowledged it, so a holder that is gone, paused
 * or stopping cannot have read a request it did not acknowledge. Once the body is sent, a holder that
 * stops answering is told apart from a slow inference by asking it whether it runs.
 */
export function sendToHolder(outbound: Outbound): Promise<Attempt> {
  const target = targetOf(outbound.to.advertise ?? outbound.to.listen);
  const send = requestTo(outbound);
  let outgoing: ClientRequest;
  try {
    outgoing = send({ ...target, method: 'POST', path: outbound.path, headers: headersOf(outbound, target) });
  } catch (error) {
    // An address the request cannot even be made to (a lease with a malformed one): the next holder.
    return Promise.resolve({ kind: 'failed', error: error as Error, bodySent: false });
  }
  return new Promise<Attempt>((resolve) => {
    let bodySent = false;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const settle = (attempt: Attempt) => {
      if (settled) return;
      settled = true;
      timers.forEach(clearTimeout);
      resolve(attempt);
    };
    const sendBody = () => {
      if (bodySent || settled) return;
      bodySent = true;
      outgoing.end(outbound.body);
      timers.push(
        setTimeout(() => {
          settle({ kind: 'timeout' });
          outgoing.destroy();
        }, outbound.waitMs),
      );
      watchHolder(outgoing, target, outbound, timers, () => settled);
    };
    outgoing.on('continue', sendBody);
    outgoing.on('response', (answer) => settle({ kind: 'answer', answer, done: () => bodySent || outgoing.destroy() }));
    outgoing.on('error', (error) => settle({ kind: 'failed', error, bodySent }));
    timers.push(
      setTimeout(() => {
        if (outbound.last) sendBody();
        else outgoing.destroy(new Error(`it did not acknowledge the request within ${CONTINUE_WAIT_MS} ms`));
      }, CONTINUE_WAIT_MS),
    );
    outgoing.flushHeaders();
  });
}

/** Every `PROBE_EVERY_MS` without an answer: a holder that no longer answers `/healthz` is paused or hung, and the request is given up on it. */
function watchHolder(outgoing: ClientRequest, target: Target, outbound: Outbound, timers: NodeJS.Timeout[], settled: () => boolean): void {
  const check = async () => {
    if (settled()) return;
    const alive = await answersHealth(target, outbound);
    if (settled()) return;
    if (!alive) {
      outgoing.destroy(new Error(`it stopped answering: no answer to the request nor to /healthz within ${PROBE_EVERY_MS} ms`));
      return;
    }
    if (!settled()) timers.push(setTimeout(() => void check(), PROBE_EVERY_MS));
  };
  timers.push(setTimeout(() => void check(), PROBE_EVERY_MS));
}

function answersHealth(target: Target, outbound: Outbound): Promise<boolean> {
  return new Promise((resolve) => {
    const { token } = outbound;
    const headers = { host: hostHeader(target), ...(token ? { authorization: `Bearer ${token}` } : {}) };
    // A connection of its own: one queued behind the request waited on would prove nothing (the TLS
    // agent opens another, the busy one not being free).
    const agent = outbound.to.tls ? outbound.httpsAgent : false;
    const probe = requestTo(outbound)({ ...target, method: 'GET', path: '/healthz', headers, agent, timeout: PROBE_EVERY_MS }, (answer) => {
      answer.resume();
      resolve(true);
    });
    probe.on('timeout', () => probe.destroy(new Error('timeout')));
    probe.on('error', () => resolve(false));
    probe.end();
  });
}

/** Plain HTTP, or TLS through the fleet's agent for a holder whose lease says it serves TLS. */
function requestTo(outbound: Outbound): (options: RequestOptions, onAnswer?: (answer: IncomingMessage) => void) => ClientRequest {
  if (!outbound.to.tls) return (options, onAnswer) => httpRequest(options, onAnswer);
  return (options, onAnswer) => httpsRequest({ ...options, agent: options.agent === false ? false : outbound.httpsAgent }, onAnswer);
}

function headersOf(outbound: Outbound, target: Target): Record<string, string> {
  return {
    'content-type': 'application/json',
    'content-length': String(outbound.body.length),
    expect: '100-continue',
    [FORWARDED_HEADER]: outbound.from,
    host: hostHeader(target),
    ...(outbound.token ? { authorization: `Bearer ${outbound.token}` } : {}),
  };
}

interface Target {
  socketPath?: string;
  host?: string;
  port?: number;
}

const hostHeader = (target: Target) => (target.host ? formatHostPort(target.host, target.port!) : 'localhost');

function targetOf(listen: string): Target {
  if (listen.startsWith('unix:')) return { socketPath: listen.slice('unix:'.length) };
  const at = listen.lastIndexOf(':');
  return { host: listen.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(listen.slice(at + 1)) };
}
