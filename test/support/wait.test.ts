import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { pollUntil, waitUntil } from './wait.js';

describe('pollUntil', () => {
  it('returns the first value that ends the wait, false and null included among those that do not', async () => {
    const answers = [false, null, undefined, 0, 7];
    let calls = 0;
    expect(await pollUntil(() => answers[calls++], { timeoutMs: 1000, intervalMs: 1 })).toBe(0);
    expect(calls).toBe(4);
  });

  it('counts only its pauses against the timeout, so slow checks do not shorten the wait', async () => {
    let calls = 0;
    const started = performance.now();
    const slowNo = async () => (calls++, await sleep(50), false);
    expect(await pollUntil(slowNo, { timeoutMs: 30, intervalMs: 10 })).toBeUndefined();
    expect(calls, 'a check at 0, 10, 20 and 30 ms of pauses').toBe(4);
    expect(performance.now() - started).toBeGreaterThanOrEqual(4 * 50 + 30 - 5);
  });

  it('ends at once with the error a check throws', async () => {
    let calls = 0;
    const check = () => {
      calls += 1;
      if (calls === 2) throw new Error('the daemon exited');
      return false;
    };
    await expect(pollUntil(check, { timeoutMs: 10_000, intervalMs: 1 })).rejects.toThrow('the daemon exited');
    expect(calls).toBe(2);
  });
});

describe('waitUntil', () => {
  it('names what it waited for, how long, and what the last check saw', async () => {
    let seen = 0;
    const wait = waitUntil('the count to reach 100', () => ++seen >= 100, {
      timeoutMs: 20,
      intervalMs: 5,
      lastSeen: () => `count ${seen}`,
    });
    await expect(wait).rejects.toThrow('waited 20 ms for the count to reach 100 in vain; last seen: count 5');
  });
});
