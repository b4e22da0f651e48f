import { spawn } from 'node:child_process';

/** Runs a node script; resolves with its stdout, rejects with its last stderr lines unless it exits 0. */
export function runNode(args: string[], signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], signal });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${args[0]} exited with ${code}: ${err.trim().split('\n').slice(-5).join('\n')}`)),
    );
  });
}

/** A node process that keeps running: what it said once it was ready, and how to stop it. */
export interface NodeServer<T> {
  pid: number;
  ready: T;
  /** SIGTERM, then SIGKILL if it is still there after `stopGraceMs`; resolves once it is gone. */
  stop(): Promise<void>;
  /** SIGKILL at once, as a host loss would; resolves once it is gone. */
  kill(): Promise<void>;
}

export interface NodeServerOptions<T> {
  /** Called with each stdout line until it returns something: the process is then ready. */
  ready: (line: string) => T | undefined;
  env?: NodeJS.ProcessEnv;
  stopGraceMs?: number;
}

/**
 * Starts a long-running node process (`args` are node's: flags, script, its arguments) and resolves
 * once one of its stdout lines says it is ready. Its stdout is read for as long as it runs, so a
 * process that logs synchronously never stalls on a full pipe. It runs in a process group of its
 * own: a Ctrl-C in the terminal reaches only the benchmark, which stops it in its own order.
 */
export async function startNodeServer<T>(args: string[], options: NodeServerOptions<T>): Promise<NodeServer<T>> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: options.env ?? process.env });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), options.stopGraceMs ?? 5000);
    await exited;
    clearTimeout(timer);
  };
  let tail = '';
  child.stderr.on('data', (d: Buffer) => (tail = (tail + d.toString()).slice(-3000)));
  try {
    const ready = await new Promise<T>((resolve, reject) => {
      let partial = '';
      let found = false;
      child.stdout.on('data', (d: Buffer) => {
        const lines = (partial + d.toString()).split('\n');
        partial = lines.pop()!;
        for (const line of lines) {
          if (found) continue;
          tail = `${tail}${line}\n`.slice(-3000);
          const value = options.ready(line);
          if (value !== undefined) {
            found = true;
            resolve(value);
          }
        }
      });
      child.once('error', reject);
      child.once('close', (code, signal) =>
        reject(new Error(`${args.join(' ').slice(0, 200)} exited (${signal ?? code}) before it was ready:\n${tail.trim()}`)),
      );
    });
    const kill = async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    };
    return { pid: child.pid!, ready, stop, kill };
  } catch (error) {
    await stop();
    throw error;
  }
}
