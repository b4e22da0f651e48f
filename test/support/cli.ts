import { execa, type Options } from 'execa';
import { join } from 'node:path';
import { packageRoot } from '../../src/config/paths.js';
import { esUrl } from './es.js';
import { isAlive } from './processes.js';
import { pollUntil } from './wait.js';

export const CLI = join(packageRoot(), 'build', 'src', 'cli', 'main.js');

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs the built `feeder` command as a user would, against the test cluster unless ES_URL is overridden. */
export async function feeder(
  args: string[],
  options: { env?: Record<string, string>; input?: Buffer | string } & Options = {},
): Promise<CliResult> {
  const { env, ...rest } = options;
  const result = await execa('node', [CLI, ...args], {
    reject: false,
    env: { ES_URL: esUrl(), FEEDER_LOG_LEVEL: 'info', ...env },
    ...rest,
  });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

export interface InterruptedResult extends CliResult {
  /** Milliseconds from SIGINT to the command's exit. */
  msAfterSignal: number;
}

/**
 * Runs the built `feeder`, sends SIGINT once `ready()` holds (the command is then waiting on its
 * request), and waits at most `graceMs` for it to exit; one that ignores the signal is killed, so
 * the test fails on its exit code instead of hanging.
 */
export async function interruptFeeder(
  args: string[],
  options: { env: Record<string, string>; ready: () => boolean; graceMs?: number },
): Promise<InterruptedResult> {
  const child = execa('node', [CLI, ...args], { reject: false, env: { ES_URL: esUrl(), FEEDER_LOG_LEVEL: 'info', ...options.env } });
  await pollUntil(() => options.ready() || !isAlive(child.pid!), { timeoutMs: 15_000, intervalMs: 20 });
  const signalled = performance.now();
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.graceMs ?? 5000);
  const result = await child;
  clearTimeout(timer);
  return {
    exitCode: result.exitCode ?? -1,
    stdout: String(result.stdout),
    stderr: String(result.stderr),
    msAfterSignal: performance.now() - signalled,
  };
}
