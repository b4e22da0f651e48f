import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { pipeline } from 'node:stream/promises';
import { servesPlainHttp, type PresenceDoc } from '../coordination/daemon-presence.js';
import { UnavailableError } from '../errors.js';
import { readJsonBody } from '../api/http.js';
import { describeTlsFailure, FLEET_CA_ADVICE } from '../api/tls-client.js';
import { sendToHolder, type Attempt, type Outbound } from './forward-attempt.js';
import { FORWARD_MARGIN_MS, type ForwardTimeout } from './forward-timeout.js';
import type { HolderHealth } from './holder-health.js';

export { FORWARDED_HEADER } from './forward-attempt.js';
/** On a fleet member's inference answer: the daemon whose native process answered. */
export const SERVED_BY_HEADER = 'x-feeder-served-by';

export interface ForwardOptions {
  token: string | undefined;
  from: string;
  path: string;
  health: HolderHealth;
  /**
   * Whether the request may be sent to another holder once a holder may have received it whole
   * (it was written, then the holder reset the connection or stopped answering, before any byte of
   * an answer): true for an inference, which changes nothing where it runs; a control request is
   * sent again only where no holder can have read it.
   */
  resendable: boolean;
  /** For a holder that serves TLS: checks its certificate against the fleet's CA and the name it advertises, before the token is sent. */
  httpsAgent?: HttpsAgent | undefined;
  /** How long the holder may take to answer, read from the request's body. */
  timeout: (body: unknown) => ForwardTimeout;
  /** This member serves TLS: it never sends the fleet's token to a holder over plain HTTP. */
  tlsOnly?: boolean | undefined;
}

/**
 * Passes an inference (or control request) to a fleet member that holds a started allocation, with
 * the fleet's token, and relays the first answer as it comes: status, content type and body. A holder
 * that cannot take it (refused, reset, paused, or answering 503: it no longer serves the model) is
 * left aside and the next one is tried at once; `docs/fleet.md` says when a request may reach two.
 */
export async function forwardToHolders(
  request: IncomingMessage,
  response: ServerResponse,
  holders: readonly PresenceDoc[],
  options: ForwardOptions,
): Promise<void> {
  // Read and checked here (size, JSON) as for a request answered here.
  const parsed = await readJsonBody(request);
  const timeout = options.timeout(parsed);
  const body = Buffer.from(JSON.stringify(parsed));
  const failures: string[] = [];
  for (const [i, to] of holders.entries()) {
    const last = i === holders.length - 1;
    if (options.tlsOnly && servesPlainHttp(to)) {
      options.health.failed(to, PLAIN_HOLDER_REFUSAL);
      failures.push(`daemon '${to.daemon}' at ${to.advertise ?? to.listen} ${PLAIN_HOLDER_REFUSAL}`);
      continue;
    }
    const outbound: Outbound = {
      to,
      body,
      path: options.path,
      from: options.from,
      token: options.token,
      last,
      waitMs: timeout.ms + FORWARD_MARGIN_MS,
      httpsAgent: options.httpsAgent,
    };
    const attempt = await sendToHolder(outbound);
    // Another holder would make the client wait twice as long as it asked for.
    if (attempt.kind === 'timeout') throw timeout.error();
    if (attempt.kind === 'answer' && (attempt.answer.statusCode !== 503 || last)) {
      options.health.answered(to);
      await relay(attempt, to, response);
      return;
    }
    const failure = describeFailure(attempt);
    options.health.failed(to, failure);
    failures.push(`daemon '${to.daemon}' at ${to.advertise ?? to.listen} ${failure}`);
    if (attempt.kind === 'answer') {
      attempt.answer.resume();
      attempt.done();
    } else if (attempt.bodySent && !options.resendable) break;
  }
  throw new UnavailableError(`no daemon holding a started allocation could take the request: ${failures.join('; ')}; try again`, {
    httpStatus: 502,
  });
}

/** Why a member with TLS does not forward to a holder without it, and the fix. */
export const PLAIN_HOLDER_REFUSAL =
  'serves plain HTTP, and a member with daemon.tls never sends the fleet token in clear; give every member of the fleet daemon.tls';

async function relay(attempt: Extract<Attempt, { kind: 'answer' }>, to: PresenceDoc, response: ServerResponse): Promise<void> {
  const { answer } = attempt;
  try {
    // The client left while a holder worked on it: the answer has nowhere to go, and a 'close' that
    // already fired would never come again.
    if (response.destroyed) {
      answer.destroy();
      return;
    }
    response.writeHead(answer.statusCode ?? 502, {
      'content-type': answer.headers['content-type'] ?? 'application/json',
      [SERVED_BY_HEADER]: answer.headers[SERVED_BY_HEADER] ?? to.daemon,
    });
    // An answer cut short (the holder died while sending it) cannot be sent again: the client sees it
    // cut too; a client gone mid-answer closes the holder's side. Either way both ends are closed.
    await pipeline(answer, response).catch(() => undefined);
  } finally {
    attempt.done();
  }
}

function describeFailure(attempt: Exclude<Attempt, { kind: 'timeout' }>): string {
  if (attempt.kind === 'answer') return `answered ${attempt.answer.statusCode}: it no longer serves the model`;
  return `could not be reached: ${describeTlsFailure(attempt.error, FLEET_CA_ADVICE) ?? attempt.error.message}`;
}
