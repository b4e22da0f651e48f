import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /**
   * How long the pauses between checks may add up to before the wait gives up. The checks' own time
   * is not counted: on a loaded machine a slow check (a spawned CLI, a request) would otherwise
   * shorten the wait.
   */
  timeoutMs: number;
  intervalMs?: number;
}

/** What ends a wait: any value but undefined, null and false. */
export type Reached<T> = Exclude<T, undefined | null | false>;

const reached = <T>(value: T): value is Reached<T> => value !== undefined && value !== null && value !== false;

/**
 * Calls `check` until it gives a value that ends the wait, and returns that value; undefined once the
 * wait runs out, for the callers that judge what they saw last themselves. An error `check` throws
 * (a daemon that exited, say) ends the wait at once. Chosen over `vi.waitFor`, whose timeout counts
 * the checks' time, gives up on a check still under way and reports only its last error.
 */
export async function pollUntil<T>(
  check: () => T | Promise<T>,
  { timeoutMs, intervalMs = 100 }: WaitOptions,
): Promise<Reached<T> | undefined> {
  for (let paused = 0; ; paused += intervalMs) {
    const value = await check();
    if (reached(value)) return value;
    if (paused >= timeoutMs) return undefined;
    await sleep(intervalMs);
  }
}

/**
 * `pollUntil` for a wait that must succeed: one that runs out throws, naming `what` was awaited
 * ("the daemon to exit") and, through `lastSeen`, what the last check saw.
 */
export async function waitUntil<T>(
  what: string,
  check: () => T | Promise<T>,
  options: WaitOptions & { lastSeen?: () => string },
): Promise<Reached<T>> {
  const value = await pollUntil(check, options);
  if (value !== undefined) return value;
  const seen = options.lastSeen ? `; last seen: ${options.lastSeen()}` : '';
  throw new Error(`waited ${options.timeoutMs} ms for ${what} in vain${seen}`);
}
