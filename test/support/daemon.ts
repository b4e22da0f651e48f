import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { CLI, feeder, type CliResult } from './cli.js';
import { esUrl, tempDir, uniqueId } from './es.js';
import { spawnedPids } from './deploy.js';
import { isAlive, killQuietly } from './processes.js';
import { waitUntil } from './wait.js';

export interface RunningDaemon {
  name: string;
  listen: string;
  child: ReturnType<typeof spawnServe>;
  /** Every ECS line the daemon wrote on stdout so far, parsed. */
  logs: Array<Record<string, any>>;
  /** Raw stdout and stderr, for scanning. */
  output: () => string;
  cli: (args: string[], env?: Record<string, string>) => Promise<CliResult>;
  waitForLog: (match: (line: Record<string, any>) => boolean, timeoutMs?: number) => Promise<Record<string, any>>;
  /** SIGTERM, then the exit; a second call answers the first one's result. */
  stop: () => Promise<{ exitCode: number | undefined; ms: number }>;
}

export interface DaemonOptions {
  name?: string;
  listen?: string;
  /** Merged into the config file the daemon reads. */
  config?: Record<string, unknown>;
  env?: Record<string, string>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts a real `feeder serve` process and waits until its control API is up. */
export async function startDaemon(options: DaemonOptions = {}): Promise<RunningDaemon> {
  const name = options.name ?? uniqueId('daemon');
  const listen = options.listen ?? `127.0.0.1:${await freePort()}`;
  const configPath = join(await tempDir(), 'feeder.json');
  await writeFile(configPath, JSON.stringify(mergeConfig({ daemon: { restartBackoffMs: 100, stopGraceMs: 2000 } }, options.config ?? {})));
  const env = { ES_URL: esUrl(), FEEDER_LISTEN: listen, FEEDER_DAEMON_NAME: name, FEEDER_CONFIG: configPath, ...options.env };
  const child = spawnServe(env);
  const logs: Array<Record<string, any>> = [];
  let raw = '';
  let partial = '';
  child.stdout.on('data', (data: Buffer) => {
    raw += data.toString();
    partial += data.toString();
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) if (line.trim()) logs.push(JSON.parse(line));
  });
  child.stderr.on('data', (data: Buffer) => (raw += data.toString()));
  const waitForLog = async (match: (line: Record<string, any>) => boolean, timeoutMs = 30_000) => {
    const found = () => {
      const line = logs.find(match);
      if (!line && !isAlive(child.pid!)) throw new Error(`daemon exited early:\n${raw}`);
      return line;
    };
    return waitUntil(`a log line matching ${String(match)}`, found, {
      timeoutMs,
      intervalMs: 50,
      lastSeen: () => `output:\n${raw.slice(-3000)}`,
    });
  };
  await waitForLog((l) => l.event?.action === 'daemon-start');
  let stopped: Promise<{ exitCode: number | undefined; ms: number }> | undefined;
  return {
    name,
    listen,
    child,
    logs,
    output: () => raw,
    cli: (args, extra = {}) =>
      feeder(args, { env: { FEEDER_LISTEN: listen, FEEDER_CONFIG: configPath, ...(options.env ?? {}), ...extra } }),
    waitForLog,
    stop: () => (stopped ??= stopChild(child)),
  };
}

async function stopChild(child: ReturnType<typeof spawnServe>): Promise<{ exitCode: number | undefined; ms: number }> {
  const started = performance.now();
  child.kill('SIGTERM');
  const result = await child;
  return { exitCode: result.exitCode, ms: performance.now() - started };
}

/**
 * Starts a real daemon, hands it to `use`, and stops it however `use` ends, with any native process
 * it spawned that outlived it, so no test leaves one running. A failure comes back with the daemon's
 * last output, where a cause on its side shows. A test that judges the stop itself (`daemon.stop()`,
 * `stopWithin`) stops the daemon at its end: the stop here then finds it gone.
 */
export async function withDaemon<T>(options: DaemonOptions, use: (daemon: RunningDaemon) => Promise<T>): Promise<T> {
  const daemon = await startDaemon(options);
  try {
    return await use(daemon);
  } catch (error) {
    throw withOutputOf(daemon, error);
  } finally {
    await daemon.stop();
    killSpawned(daemon);
  }
}

function killSpawned(daemon: RunningDaemon): void {
  for (const pid of spawnedPids(daemon.logs)) if (isAlive(pid, 'native')) killQuietly(pid);
}

const OUTPUT_SHOWN = 3000;

function withOutputOf(daemon: RunningDaemon, error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  error.message += `\n--- last ${OUTPUT_SHOWN} characters of the output of daemon '${daemon.name}' ---\n${daemon.output().slice(-OUTPUT_SHOWN)}`;
  return error;
}

function spawnServe(env: Record<string, string>) {
  return execa('node', [CLI, 'serve'], { env, reject: false, buffer: false });
}

function mergeConfig(base: Record<string, any>, extra: Record<string, any>): Record<string, any> {
  const merged = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    merged[key] = typeof value === 'object' && value !== null && !Array.isArray(value) ? { ...(base[key] ?? {}), ...value } : value;
  }
  return merged;
}

/** Polls `feeder status <id> --json` until `until` holds. */
export async function waitForStatus(
  daemon: RunningDaemon,
  modelId: string,
  until: (s: Record<string, any>) => boolean,
  timeoutMs = 30_000,
): Promise<Record<string, any>> {
  let last: Record<string, any> = {};
  const matched = async () => {
    const result = await daemon.cli(['status', modelId, '--json']);
    if (result.exitCode === 0) last = JSON.parse(result.stdout);
    return result.exitCode === 0 && until(last) ? last : undefined;
  };
  return waitUntil(`the status of ${modelId} to match`, matched, { timeoutMs, intervalMs: 200, lastSeen: () => JSON.stringify(last) });
}

/** Child processes of `pid`, from /proc. */
export async function childrenOf(pid: number): Promise<number[]> {
  const { stdout } = await execa('ps', ['-o', 'pid=', '--ppid', String(pid)], { reject: false });
  return stdout
    .split('\n')
    .map((s) => Number(s.trim()))
    .filter((n) => n > 0);
}
