import { randomUUID } from 'node:crypto';
import type { Writable } from 'node:stream';
import { execa } from 'execa';
import { NativeProcessError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { createFrameDecoder, encodeRequest, isFrame, type Frame, type LoadedFrame, type RequestBody, type ResponseFrame } from './protocol.js';
import { NativeLogForwarder } from './stderr-log.js';

export interface NativeExit {
  exitCode: number | null;
  signal: string | null;
  /** Killed with SIGKILL by this side because it outlived SIGTERM's grace period (not by anyone else). */
  forceKilled: boolean;
}

export interface StartOptions {
  command: string;
  args: string[];
  /** Already bound to the model id; the pid is added here. */
  logger: Logger;
  /** How long SIGTERM has before SIGKILL follows. */
  killGraceMs?: number;
}

type Waiter = { resolve: (frame: ResponseFrame) => void; reject: (error: Error) => void };

/**
 * One running native process: its stdin for the model and requests, its stdout decoded into
 * frames, its stderr forwarded into our log. Why it stopped is recorded once, here.
 */
export class NativeProcess {
  readonly pid: number;
  readonly stdin: Writable;
  /** Resolves when the process has ended, however it ended; never rejects. */
  readonly exited: Promise<NativeExit>;
  /** Resolves with the `loaded` report; rejects if the process ends or lies before sending one. */
  readonly loaded: Promise<LoadedFrame>;
  readonly #subprocess: ReturnType<typeof spawn>;
  readonly #logs: NativeLogForwarder;
  readonly #waiters = new Map<string, Waiter>();
  #exit: NativeExit | null = null;
  #failure: NativeProcessError | null = null;
  #settleLoaded!: { resolve: (frame: LoadedFrame) => void; reject: (error: Error) => void };
  #stopRequested = false;
  readonly #logger: Logger;
  readonly #killGraceMs: number;
  #stopping = false;

  constructor(options: StartOptions) {
    this.#killGraceMs = options.killGraceMs ?? 5000;
    this.#subprocess = spawn(options.command, options.args, this.#killGraceMs);
    this.pid = this.#subprocess.pid ?? -1;
    this.stdin = this.#subprocess.stdin!;
    // Write failures (EPIPE when the process stopped reading) reach the writer through its callbacks.
    this.stdin.on('error', () => {});
    this.#logger = options.logger.child({ process: { pid: this.pid, executable: options.command } });
    this.#logs = new NativeLogForwarder(this.#subprocess.stderr!, this.#logger);
    this.loaded = new Promise<LoadedFrame>((resolve, reject) => (this.#settleLoaded = { resolve, reject }));
    this.loaded.catch(() => {});
    this.#decodeFrames();
    this.exited = this.#waitForExit(options.command);
  }

  get lastErrors(): string[] {
    return this.#logs.lastErrors;
  }

  get hasExited(): boolean {
    return this.#exit !== null;
  }

  /** Sends one request frame and resolves with the response that carries its request id. */
  request(request: RequestBody & { request_id?: string }): Promise<ResponseFrame> {
    if (this.#failure) return Promise.reject(this.#failure);
    const requestId = request.request_id ?? randomUUID();
    return new Promise<ResponseFrame>((resolve, reject) => {
      this.#waiters.set(requestId, { resolve, reject });
      this.stdin.write(encodeRequest({ ...request, request_id: requestId }));
    });
  }

  /** SIGTERM, then SIGKILL after the grace delay; resolves once the process is gone. */
  async stop(): Promise<NativeExit> {
    this.#stopRequested = true;
    if (this.#exit || this.#stopping) return this.exited;
    this.#stopping = true;
    this.#subprocess.kill('SIGTERM');
    const exit = await this.exited;
    if (exit.forceKilled) {
      this.#logger.warn({ event: { action: 'native-kill', outcome: 'success' } }, `native process ${this.pid} did not stop within ${this.#killGraceMs / 1000} s of SIGTERM; it was killed with SIGKILL`);
    }
    return exit;
  }

  /** "was stopped", or how it had to be: for messages about a process this side stopped. */
  describeStop(exit: NativeExit | null = this.#exit): string {
    return exit?.forceKilled ? `was killed with SIGKILL (it ignored SIGTERM for ${this.#killGraceMs / 1000} s)` : 'was stopped';
  }

  /** "exited with code 3", "was killed by SIGKILL": for messages. */
  describeExit(exit: NativeExit | null = this.#exit): string {
    if (!exit) return 'is still running';
    if (exit.signal) return `was killed by ${exit.signal}`;
    return `exited with code ${exit.exitCode}`;
  }

  /** The failure that ended or poisoned this process, if any; a requested stop is not one. */
  failureOf(what: string): NativeProcessError {
    return this.#failure ?? new NativeProcessError(`the native process (pid ${this.pid}) ${this.describeExit()} ${what}`, { lastErrors: this.lastErrors });
  }

  get stopRequested(): boolean {
    return this.#stopRequested;
  }

  #decodeFrames(): void {
    const decoder = createFrameDecoder();
    decoder.on('data', (frame: unknown) => this.#onFrame(frame));
    decoder.on('error', (error: Error) => this.#poison(`wrote bytes on stdout that are not MessagePack frames (${error.message})`));
    this.#subprocess.stdout!.pipe(decoder);
  }

  #onFrame(frame: unknown): void {
    if (!isFrame(frame)) return this.#poison(`wrote something on stdout that is not a MessagePack protocol frame: ${JSON.stringify(frame)?.slice(0, 80)}`);
    if (frame.type === 'loaded') return this.#settleLoaded.resolve(frame);
    const waiter = this.#waiters.get((frame as ResponseFrame).request_id);
    if (!waiter) return this.#poison(`answered a request it was never sent (${JSON.stringify(frame).slice(0, 80)})`);
    this.#waiters.delete((frame as ResponseFrame).request_id);
    waiter.resolve(frame as ResponseFrame);
  }

  /** A process that speaks garbage cannot be trusted with anything more: it is stopped. */
  #poison(what: string): void {
    if (this.#failure) return;
    this.#failure = new NativeProcessError(`the native process (pid ${this.pid}) ${what}`, { lastErrors: this.lastErrors });
    this.#rejectAll(this.#failure);
    void this.stop();
  }

  #rejectAll(error: Error): void {
    this.#settleLoaded.reject(error);
    for (const waiter of this.#waiters.values()) waiter.reject(error);
    this.#waiters.clear();
  }

  async #waitForExit(command: string): Promise<NativeExit> {
    const result = await this.#subprocess;
    await this.#logs.done;
    // execa says whether its own grace timer sent the SIGKILL: a process the kernel's OOM killer
    // ended while being stopped was not "killed for ignoring SIGTERM".
    this.#exit = { exitCode: result.exitCode ?? null, signal: result.signal ?? null, forceKilled: result.isForcefullyTerminated === true };
    if (result.failed && result.exitCode === undefined && !result.signal) {
      this.#failure ??= new NativeProcessError(`cannot start the native process '${command}': ${result.originalMessage ?? result.shortMessage}; build it with 'npm run build' or set deploy.command`);
    }
    this.#rejectAll(this.failureOf(this.#stopRequested ? 'after being asked to stop' : 'unexpectedly'));
    return this.#exit;
  }
}

function spawn(command: string, args: string[], killGraceMs: number) {
  return execa(command, args, {
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
    encoding: 'buffer',
    reject: false,
    cleanup: true,
    forceKillAfterDelay: killGraceMs,
  });
}

export type { Frame };
