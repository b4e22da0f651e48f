import type { ResponseFrame } from './protocol.js';

export interface WaitOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  onTimeout: () => Error;
  onAbort: (reason: unknown) => Error;
}

export type AnswerOutcome = 'answered' | 'late' | 'unknown';

type Waiter = { resolve: (frame: ResponseFrame) => void; reject: (error: Error) => void };

// A process this many abandoned requests behind is hung; remembering more ids would only grow memory.
const ABANDONED_KEPT = 10_000;

/**
 * The requests sent to one native process that wait for their answer. A request that timed out or
 * was cancelled is forgotten at once but its id is kept, so its late answer is recognised as ours.
 */
export class PendingRequests {
  readonly #waiting = new Map<string, Waiter>();
  readonly #abandoned = new Set<string>();

  get size(): number {
    return this.#waiting.size;
  }

  /** Resolves with the answer to `requestId`; rejects on timeout or abort, forgetting the request. */
  wait(requestId: string, options: WaitOptions): Promise<ResponseFrame> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(options.onAbort(signal.reason));
    return new Promise<ResponseFrame>((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#waiting.delete(requestId);
      };
      const abandon = (error: Error) => {
        settle();
        this.#remember(requestId);
        reject(error);
      };
      const onAbort = () => abandon(options.onAbort(signal?.reason));
      const timer = setTimeout(() => abandon(options.onTimeout()), options.timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.set(requestId, {
        resolve: (frame) => (settle(), resolve(frame)),
        reject: (error) => (settle(), reject(error)),
      });
    });
  }

  /** Hands an answer to its waiter; says whether it was awaited, came too late, or is no request of ours. */
  answer(frame: ResponseFrame): AnswerOutcome {
    const waiter = this.#waiting.get(frame.request_id);
    if (waiter) {
      waiter.resolve(frame);
      return 'answered';
    }
    return this.#abandoned.delete(frame.request_id) ? 'late' : 'unknown';
  }

  rejectAll(error: Error): void {
    for (const waiter of [...this.#waiting.values()]) waiter.reject(error);
  }

  #remember(requestId: string): void {
    this.#abandoned.add(requestId);
    if (this.#abandoned.size > ABANDONED_KEPT) this.#abandoned.delete(this.#abandoned.values().next().value!);
  }
}
