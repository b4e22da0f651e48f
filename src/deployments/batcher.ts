import { AbortedError, TimeoutError } from '../errors.js';
import type { NativeProcess } from '../native/native-process.js';
import type { ResponseFrame } from '../native/protocol.js';
import type { InferenceInputs } from '../native/token-ids.js';
import { mergeInputs, mergeKey, rowCount, splitAnswer, type PadValues } from './batch-inputs.js';

const FRAME_TIMEOUT_MARGIN_MS = 5;

export interface BatchSettings {
  /** Rows one frame carries at most; a request with more goes alone. */
  maxBatchSize: number;
  /** How long the oldest waiting request may be held for more to join it; 0 sends whatever waits at once. */
  maxQueueDelayMs: number;
  /** Frames a native process is sent before the first of them is answered. */
  inFlight: number;
}

export interface SubmitOptions {
  pad?: PadValues | undefined;
  signal?: AbortSignal | undefined;
}

/** What the batcher reports of each frame it sends, for the metrics. */
export interface BatchObserver {
  onBatch(requests: number, queueDelaysMs: number[]): void;
}

interface Waiting {
  native: NativeProcess;
  inputs: InferenceInputs;
  pad: PadValues | undefined;
  key: string;
  rows: number;
  enqueuedAt: number;
  deadline: number;
  queued: boolean;
  settled: boolean;
  settle: (outcome: { answer: ResponseFrame } | { error: Error }) => void;
}

/**
 * Dynamic batching, as Triton's: requests that wait for the same process and can share a frame go
 * as one frame (one forward()), and each gets its own rows of the answer. A request's timeout and
 * cancellation stay its own: one timed out while queued is never sent.
 */
export class Batcher {
  #queue: Waiting[] = [];
  readonly #inFlight = new Map<NativeProcess, number>();
  #requests = 0;
  #delayTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly modelId: string,
    private settings: BatchSettings,
    private readonly timeoutMs: number,
    private readonly observer: BatchObserver,
  ) {}

  /** Requests queued or sent that wait for their answer. */
  get requests(): number {
    return this.#requests;
  }

  get current(): BatchSettings {
    return this.settings;
  }

  configure(settings: BatchSettings): void {
    this.settings = settings;
    this.#dispatch();
  }

  /** Queued requests bound for `native` that are not sent yet: a process draining before its stop must answer them too. */
  queuedFor(native: NativeProcess): number {
    return this.#queue.reduce((sum, w) => sum + (w.native === native ? 1 : 0), 0);
  }

  submit(native: NativeProcess, inputs: InferenceInputs, options: SubmitOptions = {}): Promise<ResponseFrame> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(this.#cancelled(signal.reason));
    return new Promise<ResponseFrame>((resolve, reject) => {
      const now = performance.now();
      const onAbort = () => waiting.settle({ error: this.#cancelled(signal?.reason) });
      const timer = setTimeout(() => waiting.settle({ error: this.#timedOut() }), this.timeoutMs);
      const waiting: Waiting = {
        native,
        inputs,
        pad: options.pad,
        key: mergeKey(inputs, options.pad),
        rows: rowCount(inputs),
        enqueuedAt: now,
        deadline: now + this.timeoutMs,
        queued: true,
        settled: false,
        settle: (outcome) => {
          if (waiting.settled) return;
          waiting.settled = true;
          this.#requests -= 1;
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          if (waiting.queued) this.#queue = this.#queue.filter((w) => w !== waiting);
          if ('answer' in outcome) resolve(outcome.answer);
          else reject(outcome.error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#requests += 1;
      this.#queue.push(waiting);
      this.#dispatch();
    });
  }

  /** Sends what may go now: a frame for each process with a free slot, unless the queue delay holds it back. */
  #dispatch(): void {
    clearTimeout(this.#delayTimer);
    this.#delayTimer = undefined;
    for (;;) {
      const head = this.#queue.find((w) => (this.#inFlight.get(w.native) ?? 0) < this.settings.inFlight);
      if (!head) return;
      const batch = this.#gather(head);
      const holdMs = this.#holdFor(head, batch);
      if (holdMs > 0) {
        this.#delayTimer = setTimeout(() => this.#dispatch(), holdMs);
        return;
      }
      for (const w of batch) w.queued = false;
      this.#queue = this.#queue.filter((w) => w.queued);
      void this.#send(head.native, batch);
    }
  }

  /** `head` and the requests after it that may share its frame, within the batch's row limit. */
  #gather(head: Waiting): Waiting[] {
    const batch = [head];
    let rows = head.rows;
    for (const w of this.#queue) {
      if (w === head || w.native !== head.native || w.key !== head.key) continue;
      if (rows + w.rows > this.settings.maxBatchSize) break;
      batch.push(w);
      rows += w.rows;
    }
    return batch;
  }

  /** How much longer a batch that is not full waits for more: what is left of its oldest request's queue delay. */
  #holdFor(head: Waiting, batch: Waiting[]): number {
    if (this.settings.maxQueueDelayMs <= 0) return 0;
    const rows = batch.reduce((sum, w) => sum + w.rows, 0);
    if (rows >= this.settings.maxBatchSize) return 0;
    return Math.ceil(head.enqueuedAt + this.settings.maxQueueDelayMs - performance.now());
  }

  async #send(native: NativeProcess, batch: Waiting[]): Promise<void> {
    this.#inFlight.set(native, (this.#inFlight.get(native) ?? 0) + 1);
    const sentAt = performance.now();
    this.observer.onBatch(
      batch.length,
      batch.map((w) => sentAt - w.enqueuedAt),
    );
    try {
      const answer = await this.#request(native, batch);
      const parts =
        answer.type === 'result' && batch.length > 1
          ? splitAnswer(
              answer,
              batch.map((w) => w.rows),
            )
          : null;
      if (batch.length === 1) batch[0]!.settle({ answer });
      else if (parts) batch.forEach((w, i) => w.settle({ answer: parts[i]! }));
      // One bad request must not fail its neighbours: each is sent again alone and gets its own answer.
      else await Promise.all(batch.map((w) => this.#sendAlone(native, w)));
    } catch (error) {
      for (const w of batch) w.settle({ error: error as Error });
    } finally {
      const left = this.#inFlight.get(native)! - 1;
      if (left) this.#inFlight.set(native, left);
      else this.#inFlight.delete(native);
      this.#dispatch();
    }
  }

  #request(native: NativeProcess, batch: Waiting[]): Promise<ResponseFrame> {
    // Queued for a process an undeploy or a rollover stopped meanwhile: never sent, so it may be sent again.
    if (native.stopRequested) return Promise.reject(this.#cancelledByStop(native));
    const live = batch.filter((w) => !w.settled);
    const inputs = mergeInputs(
      batch.map((w) => w.inputs),
      batch[0]!.pad,
    );
    // The frame is waited for a little longer than its most patient request, whose own timer ends its
    // wait: requests queued behind a frame that timed out have timed out too, and are not sent.
    const timeoutMs = Math.max(1, Math.max(...live.map((w) => w.deadline)) - performance.now()) + FRAME_TIMEOUT_MARGIN_MS;
    return native.request(inputs, { timeoutMs });
  }

  async #sendAlone(native: NativeProcess, waiting: Waiting): Promise<void> {
    if (waiting.settled) return;
    try {
      waiting.settle({ answer: await native.request(waiting.inputs, { timeoutMs: Math.max(1, waiting.deadline - performance.now()) }) });
    } catch (error) {
      waiting.settle({ error: error as Error });
    }
  }

  #timedOut(): TimeoutError {
    return inferenceTimeoutError(this.modelId, this.timeoutMs);
  }

  #cancelledByStop(native: NativeProcess): AbortedError {
    return new AbortedError(
      `inference on model '${this.modelId}' was cancelled: its native process (pid ${native.pid}) was stopped before the request was sent (an undeploy, a rollover or a daemon stopping); send it again once the model is started`,
    );
  }

  #cancelled(reason: unknown): AbortedError {
    return new AbortedError(`inference on model '${this.modelId}' was cancelled`, { cause: reason });
  }
}

/** An inference given no timeout of its own that outlived `daemon.inferenceTimeoutMs`, here or on the fleet member it was forwarded to. */
export function inferenceTimeoutError(modelId: string, timeoutMs: number): TimeoutError {
  return new TimeoutError(`inference on model '${modelId}' got no answer within ${timeoutMs / 1000} s`);
}
