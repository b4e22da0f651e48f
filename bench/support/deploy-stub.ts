import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { createFrameDecoder, isFrame, type LoadedFrame } from '../../src/native/protocol.js';

/** A native stub started by a baseline: its stdin, its `loaded` report, its end. */
export interface Stub {
  /** Null when the command reads its input from elsewhere (the pipe baseline). */
  stdin: Writable | null;
  /** Resolves with the `loaded` frame; rejects if the process ends first. */
  loaded: Promise<LoadedFrame>;
  exited: Promise<number | null>;
  kill(): void;
}

/**
 * Starts `command args` (the stub, or a shell pipeline ending in it) with its stdout decoded into
 * frames. A pipeline runs in a process group of its own, so `kill` reaches every process in it:
 * bash does not exec the last command of a pipeline, and killing bash alone would leave `cat` and
 * the stub running.
 */
export function startStub(command: string, args: string[], stdin: 'pipe' | 'ignore' = 'pipe', group = false): Stub {
  const child = spawn(command, args, { stdio: [stdin, 'pipe', 'pipe'], detached: group });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const loaded = new Promise<LoadedFrame>((resolve, reject) => {
    const decoder = createFrameDecoder();
    decoder.on('data', (frame: unknown) => {
      if (isFrame(frame) && frame.type === 'loaded') resolve(frame);
      else reject(new Error(`${command} wrote an unexpected frame: ${JSON.stringify(frame).slice(0, 200)}`));
    });
    decoder.on('error', reject);
    child.stdout!.pipe(decoder);
    child.on('error', reject);
    void exited.then((code) =>
      reject(new Error(`${command} exited with ${code} before reporting loaded: ${stderr.trim().split('\n').slice(-3).join('\n')}`)),
    );
  });
  loaded.catch(() => {});
  if (child.stdin) child.stdin.on('error', () => {});
  const kill = () => {
    try {
      if (group && child.pid) process.kill(-child.pid, 'SIGKILL');
      else child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  };
  return { stdin: child.stdin, loaded, exited, kill };
}

/** Writes `bytes` and resolves once the pipe has taken all of them: one chunk in flight, like a blocking write. */
export function writeAll(stdin: Writable, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => stdin.write(bytes, (error) => (error ? reject(error) : resolve())));
}

/** The size header as `printf` octal escapes, so a shell can write it. */
export function printfEscapes(header: Buffer): string {
  return [...header].map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('');
}

/** `{ printf <header>; cat <file>; } | <stub> <args>`: the kernel's pipe as the ceiling. */
export function pipeFileIntoStub(stubCommand: string, stubArgs: string[], file: string, header: Buffer): Stub {
  const script = '{ printf "$1"; cat "$2"; } | "$3" "${@:4}"';
  return startStub('bash', ['-c', script, 'pipe-limit', printfEscapes(header), file, stubCommand, ...stubArgs], 'ignore', true);
}
