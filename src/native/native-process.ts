import type { Writable } from 'node:stream';
import { execa } from 'execa';
import type { HeaderKind } from '../config/config.js';
import { AbortedError, InvalidArgumentError, ModelStateError, NativeProcessError, TimeoutError, UnloadableModelError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { nativeEnvironment } from './native-env.js';
import type { Parallelism } from './parallelism.js';
import {
  createFrameDecoder,
  FrameTooLargeError,
  encodeRequest,
  isFrame,
  type Frame,
  type LoadedFrame,
  type RequestBody,
  type ResponseFrame,
} from './protocol.js';
import { PendingRequests } from './pending-requests.js';
import { ProcessGroup } from './process-group.js';
import { NativeLogForwarder } from './stderr-log.js';
import { writeFlushed } from './stdin-writer.js';

export interface NativeExit {
  exitCode: number | null;
  signal: string | null;
  /** Killed with SIGKILL by this side because it outlived SIGTERM's grace period (not by anyone else). */
  forceKilled: boolean;
}

export interface StartOptions {
  command: string;
  args: string[];
  /** `deploy.env`: what the process gets besides the platform set; none of the daemon's other variables reach it. */
  env?: Readonly<Record<string, string>>;
  /** The size header's width (`deploy.header`), passed to the process as FEEDER_HEADER. */
  header: HeaderKind;
  /** The deployment's workers and threads, passed as FEEDER_WORKERS and FEEDER_THREADS_PER_WORKER; none: the process's own defaults. */
  parallelism?: Parallelism;
  /** Already bound to the model id; the pid is added here. */
  logger: Logger;
  /** How long SIGTERM has before SIGKILL follows. */
  killGraceMs?: number;
  /** The model this process serves, for messages. */
  modelId: string;
  /** How long a request given no options of its own waits for its answer (`daemon.inferenceTimeoutMs`). */
  requestTimeoutMs: number;
}

export interface RequestOptions {
  /** The answer must come within this; after it the request is forgotten and a late answer dropped. */
  timeoutMs: number;
  /** Cancels the wait, with the same effect as the timeout. */
  signal?: AbortSignal | undefined;
}

/** native-lib's kExitBadModel (native-lib/include/feeder/exit_codes.hpp): the runtime cannot load the bytes as a model. */
export const EXIT_BAD_MODEL = 8;

/** What stdin carries now: the size header, then the model bytes, then request frames only. */
type StdinPhase = 'header' | 'model' | 'requests';

const PHASE_STATE: Record<StdinPhase, string> = {
  header: 'the size header has not been written yet',
  model: 'it is still loading the model',
  requests: 'its load phase has ended',
};

/**
 * One running native process: its stdin, which this alone writes (a load phase, then requests),
 * its stdout decoded into frames, its stderr forwarded into our log. Why it stopped is recorded
 * once, here.
 */
export class NativeProcess {
  readonly pid: number;
  /** Resolves when the process has ended, however it ended; never rejects. */
  readonly exited: Promise<NativeExit>;
  /** Resolves with the `loaded` report; rejects if the process ends or lies before sending one. */
  readonly loaded: Promise<LoadedFrame>;
  readonly #subprocess: ReturnType<typeof spawnNative>;
  /** It and the helpers it starts: what stop() signals. */
  readonly #group: ProcessGroup;
  #killTimer: NodeJS.Timeout | undefined;
  /** Our grace timer's SIGKILL reached the group. */
  #sigkillSent = false;
  readonly #stdin: Writable;
  #phase: StdinPhase = 'header';
  readonly #logs: NativeLogForwarder;
  readonly #pending = new PendingRequests();
  #exit: NativeExit | null = null;
  #failure: NativeProcessError | null = null;
  #settleLoaded!: { resolve: (frame: LoadedFrame) => void; reject: (error: Error) => void };
  #stopRequested = false;
  readonly #logger: Logger;
  readonly #killGraceMs: number;
  readonly #modelId: string;
  readonly #requestTimeoutMs: number;
  #stopping = false;
  #requestsSent = 0;
  #corked = false;

  constructor(options: StartOptions) {
    this.#killGraceMs = options.killGraceMs ?? 5000;
    this.#modelId = options.modelId;
    this.#requestTimeoutMs = options.requestTimeoutMs;
    this.#subprocess = spawnNative(
      options.command,
      options.args,
      nativeEnvironment(options.env ?? {}, options.header, options.parallelism),
    );
    this.pid = this.#subprocess.pid ?? -1;
    this.#group = new ProcessGroup(this.pid);
    // 'exit' comes as the process is reaped, even while a helper still holds its stdout open.
    this.#subprocess.once('exit', () => this.#onLeaderExit());
    this.#stdin = this.#subprocess.stdin!;
    // Write failures (EPIPE when the process stopped reading) reach the writer through its callbacks.
    this.#stdin.on('error', () => {});
    this.#logger = options.logger.child({ process: { pid: this.pid, executable: options.command } });
    this.#logs = new NativeLogForwarder(this.#subprocess.stderr, this.#logger);
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

  /** Load phase, first: the size header. Resolves once the pipe has taken it. */
  async writeHeader(header: Buffer, signal: AbortSignal): Promise<void> {
    this.#requirePhase('header', 'write the size header');
    this.#phase = 'model';
    await writeFlushed(this.#stdin, header, signal);
  }

  /**
   * Load phase: one chunk of model bytes. Resolves once the pipe has taken it, not merely queued
   * it, so a slow reader holds back the caller and no chunk waits unseen inside the stream.
   */
  async writeChunk(bytes: Buffer, signal: AbortSignal): Promise<void> {
    this.#requirePhase('model', 'write a model chunk');
    await writeFlushed(this.#stdin, bytes, signal);
  }

  /** Ends the load phase: from now on stdin carries request frames, and only those. */
  endLoad(): void {
    this.#requirePhase('model', 'end the load phase');
    this.#phase = 'requests';
  }

  /** Requests sent that wait for their answer. */
  get pendingRequests(): number {
    return this.#pending.size;
  }

  /**
   * Sends one request frame and resolves with the answer that carries its request id. A process
   * that is gone, or going, is refused at once; one that does not answer in time, with TimeoutError.
   */
  request(body: RequestBody, options: RequestOptions = { timeoutMs: this.#requestTimeoutMs }): Promise<ResponseFrame> {
    const refusal = invalidTimeout(options.timeoutMs) ?? this.#refusal() ?? this.#phaseRefusal('requests', 'send a request');
    if (refusal) return Promise.reject(refusal);
    // Cancelled before it was sent: never written, so no answer can come to an id we forgot.
    if (options.signal?.aborted)
      return Promise.reject(new AbortedError(`inference on model '${this.#modelId}' was cancelled`, { cause: options.signal.reason }));
    // Unique for this process's life, which is all an id must be; cheaper than a UUID per request.
    const requestId = String((this.#requestsSent += 1));
    const answer = this.#pending.wait(requestId, {
      timeoutMs: options.timeoutMs,
      signal: options.signal,
      onTimeout: () => new TimeoutError(`inference on model '${this.#modelId}' got no answer within ${options.timeoutMs / 1000} s`),
      onAbort: (reason) => new AbortedError(`inference on model '${this.#modelId}' was cancelled`, { cause: reason }),
    });
    // A failed write means the process stopped reading: its exit, which rejects every waiter with
    // the reason, follows; the timeout bounds the wait if it does not.
    this.#writeFrame(encodeRequest({ ...body, request_id: requestId }));
    return answer;
  }

  /**
   * Frames written in one turn of the event loop leave in one write(2): a write per frame woke the
   * native process once per request, and the switches cost more than the requests themselves.
   */
  #writeFrame(frame: Buffer): void {
    if (!this.#corked) {
      this.#corked = true;
      this.#stdin.cork();
      setImmediate(() => {
        this.#corked = false;
        this.#stdin.uncork();
      });
    }
    this.#stdin.write(frame);
  }

  /** SIGTERM to its process group, then SIGKILL after the grace delay; resolves once the process is gone. */
  async stop(): Promise<NativeExit> {
    this.#stopRequested = true;
    if (this.#exit || this.#stopping) return this.exited;
    this.#stopping = true;
    // No timer for a group already gone: it would only hold the event loop for the grace period.
    if (this.#group.signal('SIGTERM'))
      this.#killTimer = setTimeout(() => (this.#sigkillSent = this.#group.signal('SIGKILL')), this.#killGraceMs);
    const exit = await this.exited;
    if (exit.forceKilled) {
      this.#logger.warn(
        { event: { action: 'native-kill', outcome: 'success' } },
        `native process ${this.pid} did not stop within ${this.#killGraceMs / 1000} s of SIGTERM; it was killed with SIGKILL`,
      );
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
    if (this.#failure) return this.#failure;
    const lastErrors = this.lastErrors;
    if (this.#exit?.exitCode === EXIT_BAD_MODEL) {
      return new UnloadableModelError(
        `the native process (pid ${this.pid}) exited with code ${EXIT_BAD_MODEL}: it cannot load model '${this.#modelId}', which no restart cures`,
        { lastErrors },
      );
    }
    return new NativeProcessError(`the native process (pid ${this.pid}) ${this.describeExit()} ${what}`, { lastErrors });
  }

  get stopRequested(): boolean {
    return this.#stopRequested;
  }

  #decodeFrames(): void {
    const decoder = createFrameDecoder();
    decoder.on('data', (frame: unknown) => this.#onFrame(frame));
    decoder.on('error', (error: Error) =>
      this.#poison(
        error instanceof FrameTooLargeError ? error.message : `wrote bytes on stdout that are not MessagePack frames (${error.message})`,
      ),
    );
    this.#subprocess.stdout.pipe(decoder);
  }

  /** Why no request can be sent now, if none can: the process is gone, going, or not reading. */
  #refusal(): NativeProcessError | null {
    const cannot = `and cannot take requests for model '${this.#modelId}'`;
    if (this.#failure) return this.#failure;
    if (this.#exit) return this.failureOf(cannot);
    if (this.#stopRequested) return new NativeProcessError(`the native process (pid ${this.pid}) is being stopped ${cannot}`);
    if (this.#stdin.destroyed || this.#stdin.writableEnded) {
      return new NativeProcessError(`the native process (pid ${this.pid}) stopped reading its stdin ${cannot}`, {
        lastErrors: this.lastErrors,
      });
    }
    return null;
  }

  #requirePhase(phase: StdinPhase, doing: string): void {
    const refusal = this.#phaseRefusal(phase, doing);
    if (refusal) throw refusal;
  }

  #phaseRefusal(phase: StdinPhase, doing: string): ModelStateError | null {
    if (this.#phase === phase) return null;
    return new ModelStateError(`cannot ${doing} for model '${this.#modelId}' to native process ${this.pid}: ${PHASE_STATE[this.#phase]}`);
  }

  #onFrame(frame: unknown): void {
    if (!isFrame(frame))
      return this.#poison(`wrote something on stdout that is not a MessagePack protocol frame: ${JSON.stringify(frame)?.slice(0, 80)}`);
    if (frame.type === 'loaded') return this.#settleLoaded.resolve(frame);
    const outcome = this.#pending.answer(frame);
    if (outcome === 'unknown') return this.#poison(`answered a request it was never sent (${JSON.stringify(frame).slice(0, 80)})`);
    if (outcome === 'late')
      this.#logger.debug(
        { event: { action: 'native-late-answer' } },
        `dropped the late answer to request ${frame.request_id}, which had timed out or been cancelled`,
      );
  }

  /** A process that speaks garbage cannot be trusted with anything more: it is stopped. */
  #poison(what: string): void {
    if (this.#failure) return;
    this.#failure = new NativeProcessError(`the native process (pid ${this.pid}) ${what}`, { lastErrors: this.lastErrors });
    this.#rejectAll(this.#failure);
    void this.stop();
  }

  /** A request that a stop of ours cut short failed through no fault of the process: it may be sent again. */
  #cancelledByStop(): AbortedError {
    return new AbortedError(
      `inference on model '${this.#modelId}' was cancelled: its native process (pid ${this.pid}) was stopped before it answered (an undeploy, a rollover or a daemon stopping); send it again once the model is started`,
    );
  }

  #rejectAll(error: Error): void {
    this.#settleLoaded.reject(error);
    this.#pending.rejectAll(error);
  }

  #onLeaderExit(): void {
    clearTimeout(this.#killTimer);
    this.#group.release();
  }

  async #waitForExit(command: string): Promise<NativeExit> {
    const result = await this.#subprocess;
    this.#onLeaderExit(); // a process that never started has no 'exit'
    await this.#logs.done;
    // Ours only if our grace timer's SIGKILL went out and is what it died of: a process the
    // kernel's OOM killer ended while being stopped, or one that died of the SIGTERM just as the
    // timer fired, was not "killed for ignoring SIGTERM".
    const signal = result.signal ?? null;
    this.#exit = { exitCode: result.exitCode ?? null, signal, forceKilled: this.#sigkillSent && signal === 'SIGKILL' };
    if (result.failed && result.exitCode === undefined && !result.signal) {
      this.#failure ??= new NativeProcessError(
        `cannot start the native process '${command}': ${result.originalMessage ?? result.shortMessage}; build the stub with 'feeder native build-stub' or set deploy.command`,
      );
    }
    const failure = this.failureOf(this.#stopRequested ? 'after being asked to stop' : 'unexpectedly');
    this.#settleLoaded.reject(failure);
    this.#pending.rejectAll(this.#stopRequested && !this.#failure ? this.#cancelledByStop() : failure);
    return this.#exit;
  }
}

function invalidTimeout(timeoutMs: number): InvalidArgumentError | null {
  if (timeoutMs > 0 && Number.isFinite(timeoutMs)) return null;
  return new InvalidArgumentError(`a native request's timeoutMs must be a positive number of milliseconds; got '${timeoutMs}'`);
}

/** How every native process is started, by the daemon and by `feeder native check` alike. */
export function spawnNative(command: string, args: string[], env: Record<string, string>) {
  return execa(command, args, {
    env,
    extendEnv: false,
    // A group of its own (setsid), for its helpers; it no longer gets a terminal's Ctrl-C, which
    // is ours to act on. The SIGTERM → SIGKILL escalation and the exit cleanup are ProcessGroup's,
    // since execa's reach the pid alone.
    detached: true,
    cleanup: false,
    forceKillAfterDelay: false,
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
    encoding: 'buffer',
    reject: false,
  });
}

export type { Frame };
