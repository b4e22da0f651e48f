import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, fetch as fetchThrough } from 'undici';
import { CLI } from './feeder-cli.js';
import { startNodeServer } from './node-child.js';

export interface ServeOptions {
  esUrl: string;
  /** `daemon.name`: its deployment records in Elasticsearch are kept under it. */
  name: string;
  /** Where its config file is written. */
  dir: string;
  /** Flags for node itself, e.g. `--cpu-prof`. */
  nodeFlags?: string[];
  /** Settings besides `daemon.stopGraceMs`, e.g. `{ deploy: { command } }`. */
  config?: Record<string, unknown>;
  /** The CA of the certificate it serves, when its config gives it `daemon.tls`: it is then called over https. */
  ca?: string;
}

/** A real `feeder serve` (the built CLI) on a loopback port the kernel picked. */
export interface FeederServe {
  pid: number;
  /** `http://127.0.0.1:<port>` (`https://` with TLS) of its control API. */
  url: string;
  /** Its control API: the parsed JSON answer, or an error naming the status and the answer. */
  call<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  /** SIGTERM (the daemon stops its native processes), then SIGKILL if it is still there after 10 s. */
  stop(): Promise<void>;
  /** SIGKILL: the daemon is gone at once; its native processes see their stdin close and exit. */
  kill(): Promise<void>;
}

/** Starts `feeder serve` and resolves once it logs `daemon-start`, with the address it logged. */
export async function startFeederServe(options: ServeOptions): Promise<FeederServe> {
  const config = join(options.dir, `${options.name}.json`);
  await writeFile(config, JSON.stringify({ daemon: { stopGraceMs: 2000 }, ...options.config }));
  const env = {
    ...process.env,
    ES_URL: options.esUrl,
    FEEDER_CONFIG: config,
    FEEDER_DAEMON_NAME: options.name,
    FEEDER_LISTEN: '127.0.0.1:0',
  };
  const scheme = options.ca === undefined ? 'http' : 'https';
  const ready = (line: string) => listenUrl(line, scheme);
  const server = await startNodeServer([...(options.nodeFlags ?? []), CLI, 'serve'], { env, ready, stopGraceMs: 10_000 });
  const dispatcher = options.ca === undefined ? undefined : new Agent({ connect: { ca: readFileSync(options.ca) } });
  return {
    pid: server.pid,
    url: server.ready,
    call: (method, path, body) => call(server.ready, method, path, body, dispatcher),
    stop: () => server.stop(),
    kill: () => server.kill(),
  };
}

function listenUrl(line: string, scheme: string): string | undefined {
  if (!line.includes('"action":"daemon-start"')) return undefined;
  const listen = (JSON.parse(line) as { feeder?: { listen?: string } }).feeder?.listen;
  return listen ? `${scheme}://${listen}` : undefined;
}

async function call<T>(url: string, method: string, path: string, body?: unknown, dispatcher?: Agent): Promise<T> {
  const init = body === undefined ? { method } : { method, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } };
  // The global fetch takes no CA of ours: undici's own, through an agent that trusts it.
  const res = dispatcher ? await fetchThrough(`${url}${path}`, { ...init, dispatcher }) : await fetch(`${url}${path}`, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}
