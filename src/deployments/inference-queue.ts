import { AbortedError, QueueFullError, TimeoutError } from '../errors.js';
import type { NativeProcess } from '../native/native-process.js';
import type { ResponseFrame } from '../native/protocol.js';
import type { InferenceInputs } from '../native/token-ids.js';
import type { DaemonMetrics } from '../daemon/metrics.js';
import type { PadValues } from './batch-inputs.js';
import { Batcher, type BatchSettings } from './batcher.js';

export interface InferenceLimits {
  /** Requests a deployment holds unanswered at most, queued or sent; one more is refused with 429. */
  queueCapacity: number;
  timeoutMs: number;
  /** Rows one frame to the process carries at most (`deploy.maxBatchSize`); 1 turns batching off. */
  maxBatchSize: number;
  /** How long a request may wait for others to join its frame (`deploy.maxQueueDelayMs`). */
  maxQueueDelayMs: number;
  /** Frames in flight to the process at once (default 1): its workers (`deploy --workers`), which serve them in parallel. */
  inFlight?: number | undefined;
}

/** The batching a deployment was given of its own (`feeder deploy --max-batch-size --max-queue-delay`). */
export type BatchingOverrides = Partial<Pick<InferenceLimits, 'maxBatchSize' | 'maxQueueDelayMs'>>;

export interface InferOptions {
  /** The value each input is padded with: such requests may share a frame with rows of other lengths. */
  pad?: PadValues | undefined;
  signal?: AbortSignal | undefined;
}

type Outcome = 'success' | 'error' | 'rejected' | 'timeout';

/**
 * One deployment's inference path: a bounded queue in front of the native process, a timeout per
 * request, and the counts `status` and `/metrics` show (named as Elastic ML's deployment stats).
 */
export class InferenceQueue {
  #count = 0;
  #errors = 0;
  #rejected = 0;
  #timeouts = 0;
  #latencyTotalMs = 0;
  #lastLatencyMs: number | null = null;
  readonly #batcher: Batcher;
  /** What the deploys of this deployment named, kept apart from the config's defaults: it is what a restart must bring back. */
  #overrides: BatchingOverrides = {};
  /** A copy: a deploy with settings of its own changes this deployment's alone. */
  readonly limits: InferenceLimits;

  constructor(
    private readonly modelId: string,
    limits: InferenceLimits,
    private readonly metrics: DaemonMetrics,
  ) {
    this.limits = { ...limits };
    this.#batcher = new Batcher(modelId, batchSettings(this.limits), limits.timeoutMs, {
      onBatch: (requests, delaysMs) => {
        metrics.batchSize.observe({ model_id: modelId }, requests);
        for (const ms of delaysMs) metrics.queueDelay.observe({ model_id: modelId }, ms / 1000);
      },
    });
  }

  /** Requests queued or sent that wait for their answer. */
  get pending(): number {
    return this.#batcher.requests;
  }

  queuedFor(native: NativeProcess): number {
    return this.#batcher.queuedFor(native);
  }

  /** Changes the batching of a deployment that runs: a deploy repeated with other settings. */
  configure(overrides: BatchingOverrides): void {
    this.#overrides = { ...this.#overrides, ...definedOnly(overrides) };
    Object.assign(this.limits, this.#overrides);
    this.#batcher.configure(batchSettings(this.limits));
  }

  /** The batching the deploys named, without the config's defaults. */
  get overrides(): BatchingOverrides {
    return { ...this.#overrides };
  }

  settings() {
    const { maxBatchSize, maxQueueDelayMs } = this.#batcher.current;
    return { max_batch_size: maxBatchSize, max_queue_delay_ms: maxQueueDelayMs };
  }

  async run(native: NativeProcess, inputs: InferenceInputs, options: InferOptions = {}): Promise<ResponseFrame> {
    if (this.#batcher.requests >= this.limits.queueCapacity) {
      this.#record('rejected');
      throw new QueueFullError(
        `the inference queue of model '${this.modelId}' is full (${this.limits.queueCapacity} requests waiting, deploy.queueCapacity); retry later or raise it`,
      );
    }
    const started = performance.now();
    try {
      const answer = await this.#batcher.submit(native, inputs, options);
      this.#record(answer.type === 'error' ? 'error' : 'success', performance.now() - started);
      return answer;
    } catch (error) {
      // A request a stop of ours cut short is no inference, done or failed: it is not counted.
      if (!(error instanceof AbortedError)) this.#record(error instanceof TimeoutError ? 'timeout' : 'error');
      throw error;
    }
  }

  stats() {
    return {
      inference_count: this.#count,
      error_count: this.#errors,
      rejected_execution_count: this.#rejected,
      timeout_count: this.#timeouts,
      inference_latency_ms: { mean: this.#count ? round(this.#latencyTotalMs / this.#count) : null, last: this.#lastLatencyMs },
    };
  }

  #record(outcome: Outcome, latencyMs?: number): void {
    this.metrics.inferences.inc({ model_id: this.modelId, outcome });
    if (outcome === 'rejected') this.#rejected += 1;
    else if (outcome === 'timeout') this.#timeouts += 1;
    else if (outcome === 'error') this.#errors += 1;
    if (latencyMs === undefined) return;
    // An answer, even an error frame, is an inference the process did: it counts, with its latency.
    this.#count += 1;
    this.#latencyTotalMs += latencyMs;
    this.#lastLatencyMs = round(latencyMs);
    this.metrics.inferenceLatency.observe({ model_id: this.modelId }, latencyMs / 1000);
  }
}

function batchSettings(limits: InferenceLimits): BatchSettings {
  return { maxBatchSize: limits.maxBatchSize, maxQueueDelayMs: limits.maxQueueDelayMs, inFlight: limits.inFlight ?? 1 };
}

export function definedOnly<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function round(value: number): number {
  return Math.round(value * 10) / 10;
}
