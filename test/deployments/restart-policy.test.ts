import { describe, expect, it } from 'vitest';
import { RestartPolicy } from '../../src/deployments/restart-policy.js';

describe('RestartPolicy', () => {
  it('allows maxRestarts within the window, with exponential backoff, and forgets restarts older than the window', () => {
    let now = 0;
    const policy = new RestartPolicy(3, 1000, 100, () => now);
    expect([policy.next(), policy.next(), policy.next()]).toEqual([
      { restart: 1, delayMs: 100 },
      { restart: 2, delayMs: 200 },
      { restart: 3, delayMs: 400 },
    ]);
    expect(policy.next()).toBeNull();
    expect(policy.count).toBe(3);
    now = 1001;
    expect(policy.count).toBe(0);
    expect(policy.next()).toEqual({ restart: 1, delayMs: 100 });
  });

  it('counts a restart inside the window even when older ones have left it', () => {
    let now = 0;
    const policy = new RestartPolicy(2, 1000, 10, () => now);
    policy.next();
    now = 600;
    policy.next();
    expect(policy.next()).toBeNull();
    now = 1100;
    expect(policy.count).toBe(1);
    expect(policy.next()).toEqual({ restart: 2, delayMs: 20 });
    expect(policy.next()).toBeNull();
  });
});
