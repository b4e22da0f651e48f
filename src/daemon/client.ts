import { request as httpRequest } from 'node:http';
import { parseListenAddress, type FeederConfig } from '../config/config.js';
import { DaemonError, InvalidArgumentError, ModelNotFoundError, ModelStateError, TimeoutError } from '../errors.js';

export interface DaemonAnswer<T> {
  status: number;
  body: T;
}

/** Talks to a running `feeder serve` over its control API; its errors come back as our own. */
export async function callDaemon<T>(config: FeederConfig, method: string, path: string, body?: unknown): Promise<DaemonAnswer<T>> {
  const address = parseListenAddress(config.daemon.listen);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const target = address.kind === 'unix' ? { socketPath: address.path } : { host: address.host, port: address.port };
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (config.daemon.token) headers.authorization = `Bearer ${config.daemon.token}`;
  const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = httpRequest({ ...target, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', (error) => reject(new DaemonError(`cannot reach the feeder daemon at ${config.daemon.listen} (${error.message}); start it with 'feeder serve' or point FEEDER_LISTEN / --listen at it`, { cause: error })));
    req.end(payload);
  });
  const parsed = JSON.parse(answer.text || '{}') as T & { error?: { code: string; message: string } };
  if (answer.status >= 400) throw daemonError(answer.status, parsed.error);
  return { status: answer.status, body: parsed };
}

function daemonError(status: number, error: { code: string; message: string } | undefined): Error {
  const message = error?.message ?? `the daemon answered ${status}`;
  if (status === 400) return new InvalidArgumentError(message);
  if (status === 404) return new ModelNotFoundError(message);
  if (status === 409) return new ModelStateError(message);
  if (status === 504) return new TimeoutError(message);
  return new DaemonError(message);
}
