import { setTimeout as sleep } from 'node:timers/promises';
import { ElasticsearchUnreachableError, TimeoutError, type FeederError } from '../errors.js';
import type { NodeFailure } from './streaming-get.js';
import { ElasticsearchStatusError } from './translate.js';

export interface RetryOptions {
  /** Attempts after the first one. */
  retries: number;
  baseDelayMs: number;
  signal?: AbortSignal | undefined;
  onRetry?: ((error: FeederError, attempt: number, delayMs: number) => void) | undefined;
  /** A node of several could not be reached during an attempt (src/es/streaming-get.ts), for requests that go through StreamingGet. */
  onNodeFailed?: ((failure: NodeFailure) => void) | undefined;
  /** Which errors are worth another try; `isTransient` unless given. */
  retryOn?: (error: unknown) => boolean;
}

export const DEFAULT_RETRY: RetryOptions = { retries: 5, baseDelayMs: 200 };

const TRANSIENT_STATUS = new Set([429, 502, 503, 504]);

/** Connection resets, timeouts and "busy" answers are worth another try; nothing else is. */
export function isTransient(error: unknown): boolean {
  if (error instanceof ElasticsearchUnreachableError || error instanceof TimeoutError) return true;
  return isBusy(error);
}

/**
 * Only "busy" answers: a node that answers but cannot serve yet (429, or 503 while a shard is still
 * starting). For requests where an unreachable cluster should be reported at once, not after retries.
 */
export function isBusy(error: unknown): boolean {
  return error instanceof ElasticsearchStatusError && TRANSIENT_STATUS.has(error.status);
}

export async function withRetry<T>(attempt: () => Promise<T>, options: RetryOptions = DEFAULT_RETRY): Promise<T> {
  for (let tried = 0; ; tried += 1) {
    try {
      return await attempt();
    } catch (error) {
      if (tried >= options.retries || !(options.retryOn ?? isTransient)(error)) throw error;
      const delayMs = backoffDelay(options.baseDelayMs, tried);
      options.onRetry?.(error as FeederError, tried + 1, delayMs);
      await sleep(delayMs, undefined, { signal: options.signal });
    }
  }
}

function backoffDelay(baseDelayMs: number, tried: number): number {
  const exponential = baseDelayMs * 2 ** tried;
  return Math.min(10_000, exponential / 2 + Math.random() * (exponential / 2));
}
