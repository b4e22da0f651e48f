import { setTimeout as sleep } from 'node:timers/promises';
import { ElasticsearchUnreachableError, TimeoutError, type FeederError } from '../errors.js';
import { ElasticsearchStatusError } from './translate.js';

export interface RetryOptions {
  /** Attempts after the first one. */
  retries: number;
  baseDelayMs: number;
  signal?: AbortSignal;
  onRetry?: (error: FeederError, attempt: number, delayMs: number) => void;
}

export const DEFAULT_RETRY: RetryOptions = { retries: 5, baseDelayMs: 200 };

const TRANSIENT_STATUS = new Set([429, 502, 503, 504]);

/** Connection resets, timeouts and "busy" answers are worth another try; nothing else is. */
export function isTransient(error: unknown): boolean {
  if (error instanceof ElasticsearchUnreachableError || error instanceof TimeoutError) return true;
  return error instanceof ElasticsearchStatusError && TRANSIENT_STATUS.has(error.status);
}

export async function withRetry<T>(attempt: () => Promise<T>, options: RetryOptions = DEFAULT_RETRY): Promise<T> {
  for (let tried = 0; ; tried += 1) {
    try {
      return await attempt();
    } catch (error) {
      if (tried >= options.retries || !isTransient(error)) throw error;
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
