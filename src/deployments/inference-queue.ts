import { AbortedError, QueueFullError, TimeoutError } from '../errors.js';
import type { NativeProcess } from '../native/native-process.js';
import type { ResponseFrame } from '../native/protocol.js';
import type { InferenceInputs } from '../native/token-ids.js';
import type { DaemonMetrics } from '../daemon/metrics.js';
import type { PadValues } from '../nlp/batch.js';

export interface InferenceLimits {
  /** Requests a deployment holds unanswered at most; one more is refused with 429. */
  queueCapacity: number;
  timeoutMs: number;
}

export interface InferenceOptions {
  /** What each input is padded with, for a batcher that merges requests to pad them further. */
  pad?: PadValues;
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

  constructor(
    private readonly modelId: string,
    private readonly limits: InferenceLimits,
    private readonly metrics: DaemonMetrics,
  ) {}

  async run(native: NativeProcess, inputs: InferenceInputs, _options: InferenceOptions = {}): Promise<ResponseFrame> {
    if (native.pendingRequests >= this.limits.queueCapacity) {
      this.#record('rejected');
      throw new QueueFullError(
        `the inference queue of model '${this.modelId}' is full (${this.limits.queueCapacity} requests waiting, deploy.queueCapacity); retry later or raise it`,
      );
    }
    const started = performance.now();
    try {
      const answer = await native.request(inputs, { timeoutMs: this.limits.timeoutMs });
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

export function round(value: number): number {
  return Math.round(value * 10) / 10;
}
