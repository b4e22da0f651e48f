import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https';
import { formatHostPort } from '../config/daemon-address.js';
import type { PresenceDoc } from '../coordination/daemon-presence.js';
import { UnavailableError } from '../errors.js';
import { readJsonBody } from '../api/http.js';
import { describeTlsFailure, FLEET_CA_ADVICE } from '../api/tls-client.js';

/** Marks a request one daemon forwarded to another: it is answered there or refused, never forwarded again. */
export const FORWARDED_HEADER = 'x-feeder-forwarded-by';
/** On a fleet member's inference answer: the daemon whose native process answered. */
export const SERVED_BY_HEADER = 'x-feeder-served-by';

/** Gives up on the other daemon after this long; an inference waits up to `daemon.inferenceTimeoutMs` there. */
const FORWARD_TIMEOUT_MS = 60_000;

/**
 * Passes an inference (or control request) to the fleet member `to`, which holds a started
 * allocation, with the fleet's token, and relays its answer as it comes: status, content type and body.
 * A member that serves TLS is reached through `httpsAgent`, which checks its certificate against
 * the fleet's CA and the name it advertises, before the token is sent.
 */
export async function forwardToDaemon(
  request: IncomingMessage,
  response: ServerResponse,
  to: PresenceDoc,
  { token, from, path, httpsAgent }: { token: string | undefined; from: string; path: string; httpsAgent?: HttpsAgent | undefined },
): Promise<void> {
  // Read and checked here (size, JSON) as for a request answered here.
  const body = Buffer.from(JSON.stringify(await readJsonBody(request)));
  // Where the other daemon is reached: on 0.0.0.0 its listen address names no host.
  const where = to.advertise ?? to.listen;
  const target = targetOf(where);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'content-length': String(body.length),
    [FORWARDED_HEADER]: from,
    ...(target.host ? { host: formatHostPort(target.host, target.port!) } : { host: 'localhost' }),
    ...(token ? { authorization: `Bearer ${token}` } : {}),
  };
  const answer = await new Promise<IncomingMessage>((resolve, reject) => {
    const options = { ...target, method: 'POST', path, headers, timeout: FORWARD_TIMEOUT_MS };
    const outgoing = to.tls ? httpsRequest({ ...options, agent: httpsAgent }, resolve) : httpRequest(options, resolve);
    outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer within ${FORWARD_TIMEOUT_MS / 1000} s`)));
    outgoing.on('error', reject);
    outgoing.end(body);
  }).catch((error: Error) => {
    throw new UnavailableError(
      `daemon '${to.daemon}' at ${where}, which holds a started allocation, could not be reached (${describeTlsFailure(error, FLEET_CA_ADVICE) ?? error.message}); try again`,
      { cause: error, httpStatus: 502 },
    );
  });
  response.writeHead(answer.statusCode ?? 502, {
    'content-type': answer.headers['content-type'] ?? 'application/json',
    [SERVED_BY_HEADER]: answer.headers[SERVED_BY_HEADER] ?? to.daemon,
  });
  answer.pipe(response);
  await new Promise<void>((resolve) => response.on('close', resolve));
}

function targetOf(listen: string): { socketPath?: string; host?: string; port?: number } {
  if (listen.startsWith('unix:')) return { socketPath: listen.slice('unix:'.length) };
  const at = listen.lastIndexOf(':');
  return { host: listen.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(listen.slice(at + 1)) };
}
