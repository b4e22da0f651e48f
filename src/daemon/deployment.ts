import { setTimeout as sleep } from 'node:timers/promises';
import {
  ElasticsearchUnreachableError,
  FeederError,
  ModelStateError,
  NativeProcessError,
  TimeoutError,
} from '../errors.js';
import { isTransient } from '../es/retry.js';
import type { FeedOptions, FeedResult } from '../feed/feed-model.js';
import { logEvent, type Logger } from '../log/logger.js';
import { createProgress } from '../log/progress.js';
import type { NativeProcess } from '../native/native-process.js';
import type { ResponseFrame } from '../native/protocol.js';
import type { LoadLimiter } from './load-limiter.js';
import type { DaemonMetrics } from './metrics.js';
import type { DeploymentState, DeploymentStatus } from './status.js';

export interface DeploymentDeps {
  feed: (options: FeedOptions) => Promise<FeedResult>;
  limiter: LoadLimiter;
  metrics: DaemonMetrics;
  logger: Logger;
  maxRestarts: number;
  restartBackoffMs: number;
  inferenceTimeoutMs: number;
}

/**
 * One model's deployment: loads it into a native process, restarts the process with backoff when it
 * dies (up to `maxRestarts`), then gives up as `failed` with the process's last errors.
 */
export class Deployment {
  #state: DeploymentState = 'stopped';
  #phase: DeploymentStatus['phase'] = null;
  #reason: string | null = null;
  #native: NativeProcess | null = null;
  #restarts = 0;
  #bytes = 0;
  #total: number | null = null;
  #throughput: number | null = null;
  #inferences = 0;
  #latencyTotalMs = 0;
  #lastLatencyMs: number | null = null;
  #updatedAt = new Date().toISOString();
  #abort = new AbortController();
  #running: Promise<void> = Promise.resolve();
  readonly #listeners = new Set<() => void>();

  constructor(
    readonly modelId: string,
    private readonly deps: DeploymentDeps,
  ) {}

  get state(): DeploymentState {
    return this.#state;
  }

  /** Starts loading unless already starting or started: repeating a deploy is not an error. */
  start(): void {
    if (this.#state === 'starting' || this.#state === 'started' || this.#state === 'stopping') return;
    this.#restarts = 0;
    this.#reason = null;
    this.#abort = new AbortController();
    this.#running = this.#run();
  }

  /** SIGTERM to the native process (SIGKILL after the grace delay); resolves once it is gone. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    const wasFailed = this.#state === 'failed';
    this.#setState('stopping');
    this.#abort.abort(new ModelStateError(`deployment of '${this.modelId}' is being stopped`));
    await this.#native?.stop();
    await this.#running;
    this.#setState('stopped', wasFailed ? this.#reason : null);
  }

  async infer(tokens: number[][]): Promise<ResponseFrame> {
    const native = this.#native;
    if (this.#state !== 'started' || !native) {
      throw new ModelStateError(`model '${this.modelId}' is not started (state ${this.#state}); deploy it and wait for 'started'`);
    }
    const started = performance.now();
    const answer = await withTimeout(native.request({ tokens }), this.deps.inferenceTimeoutMs, `inference on model '${this.modelId}'`);
    this.#recordInference(performance.now() - started, answer.type === 'error' ? 'error' : 'success');
    return answer;
  }

  status(): DeploymentStatus {
    return {
      model_id: this.modelId,
      state: this.#state,
      phase: this.#state === 'starting' ? this.#phase : null,
      reason: this.#reason,
      pid: this.#native?.pid ?? null,
      generation: null,
      rollover: null,
      bytes_streamed: this.#bytes,
      total_bytes: this.#total,
      throughput_mib_s: this.#throughput,
      restarts: this.#restarts,
      inference_count: this.#inferences,
      error_count: 0,
      rejected_execution_count: 0,
      timeout_count: 0,
      number_of_pending_requests: 0,
      inference_latency_ms: { mean: this.#inferences ? round(this.#latencyTotalMs / this.#inferences) : null, last: this.#lastLatencyMs },
      updated_at: this.#updatedAt,
    };
  }

  /** Resolves once the state is one of `states`, or when `timeoutMs` has passed, with the status then. */
  waitFor(states: DeploymentState[], timeoutMs: number): Promise<DeploymentStatus> {
    return new Promise((resolve) => {
      const check = () => {
        if (!states.includes(this.#state)) return;
        done();
      };
      const done = () => {
        clearTimeout(timer);
        this.#listeners.delete(check);
        resolve(this.status());
      };
      const timer = setTimeout(done, timeoutMs);
      this.#listeners.add(check);
      check();
    });
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      const loaded = await this.#load(signal);
      if (!loaded) return;
      const exit = await loaded.native.exited;
      this.#native = null;
      if (signal.aborted) return;
      const failure = loaded.native.failureOf('while serving');
      logEvent(this.deps.logger, { action: 'native-exit', outcome: 'failure', modelId: this.modelId, pid: loaded.native.pid, exit_code: exit.exitCode, signal: exit.signal }, failure.message);
      if (!(await this.#backOffBeforeRestart(failure, signal))) return;
    }
  }

  /** One load attempt and its retries; null when it gave up (state `failed`) or was stopped. */
  async #load(signal: AbortSignal): Promise<FeedResult | null> {
    for (;;) {
      this.#setState('starting');
      this.#phase = 'queued';
      try {
        const result = await this.deps.limiter.run(signal, () => {
          this.#phase = 'loading';
          this.#bytes = 0;
          return this.deps.feed({ modelId: this.modelId, signal, onProgress: this.#progressReporter() });
        });
        this.#onLoaded(result);
        return result;
      } catch (error) {
        if (signal.aborted) return null;
        if (!isWorthRetrying(error) || !(await this.#backOffBeforeRestart(error as FeederError, signal))) {
          if (!signal.aborted) this.#fail(error as Error);
          return null;
        }
      }
    }
  }

  #onLoaded(result: FeedResult): void {
    this.#native = result.native;
    this.#total = result.loaded.bytes;
    this.#throughput = round(result.loaded.bytes / 1024 ** 2 / (result.durationMs / 1000));
    this.deps.metrics.throughput.set({ model_id: this.modelId }, this.#throughput);
    this.#setState('started');
  }

  /** Waits the backoff delay before the next attempt; false once the restart budget is spent. */
  async #backOffBeforeRestart(error: FeederError, signal: AbortSignal): Promise<boolean> {
    if (this.#restarts >= this.deps.maxRestarts) {
      this.#fail(new NativeProcessError(`gave up after ${this.#restarts} restarts: ${error.message}`));
      return false;
    }
    this.#restarts += 1;
    this.deps.metrics.restarts.inc({ model_id: this.modelId });
    const delayMs = this.deps.restartBackoffMs * 2 ** (this.#restarts - 1);
    logEvent(this.deps.logger, { action: 'native-restart', outcome: 'unknown', modelId: this.modelId, restart: this.#restarts, max_restarts: this.deps.maxRestarts, delay_ms: delayMs, reason: error.message }, `restarting model '${this.modelId}' (restart ${this.#restarts} of ${this.deps.maxRestarts}) in ${delayMs} ms: ${error.message}`);
    this.#setState('starting');
    await sleep(delayMs, undefined, { signal }).catch(() => {});
    return !signal.aborted;
  }

  #fail(error: Error): void {
    this.#setState('failed', error.message);
  }

  #progressReporter(): (sent: number, total: number) => void {
    const progress = createProgress({ label: `loading ${this.modelId}`, logger: this.deps.logger, bar: false, fields: { model_id: this.modelId } });
    let reported = 0;
    return (sent, total) => {
      this.deps.metrics.bytesStreamed.inc({ model_id: this.modelId }, sent - reported);
      reported = sent;
      this.#bytes = sent;
      this.#total = total;
      progress.update(sent, total);
    };
  }

  #recordInference(latencyMs: number, outcome: 'success' | 'error'): void {
    this.#inferences += 1;
    this.#latencyTotalMs += latencyMs;
    this.#lastLatencyMs = round(latencyMs);
    this.deps.metrics.inferences.inc({ model_id: this.modelId, outcome });
    this.deps.metrics.inferenceLatency.observe({ model_id: this.modelId }, latencyMs / 1000);
  }

  #setState(state: DeploymentState, reason: string | null = this.#reason): void {
    const changed = state !== this.#state || reason !== this.#reason;
    this.#state = state;
    this.#reason = reason;
    this.#updatedAt = new Date().toISOString();
    if (changed) {
      logEvent(this.deps.logger, { action: 'deployment-state', outcome: state === 'failed' ? 'failure' : 'success', modelId: this.modelId, state, reason }, `deployment of '${this.modelId}' is ${state}${reason ? `: ${reason}` : ''}`);
    }
    for (const listener of [...this.#listeners]) listener();
  }
}

/** A process that died or hung, or a cluster that hiccupped, may do better next time; a damaged model will not. */
function isWorthRetrying(error: unknown): boolean {
  return error instanceof NativeProcessError || error instanceof TimeoutError || error instanceof ElasticsearchUnreachableError || isTransient(error);
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what} got no answer within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
