import { logEvent, type Logger } from '../log/logger.js';
import type { DeploymentPhase, DeploymentState } from '../api/wire-types.js';

// Which state may follow which. A crash of a started process goes back to `starting` (a restart),
// or to `failed` when the restart budget is spent; `stopping` is reachable from everywhere but
// `stopped`, and leads only to `stopped`.
const NEXT: Record<DeploymentState, readonly DeploymentState[]> = {
  stopped: ['starting'],
  starting: ['starting', 'started', 'failed', 'stopping'],
  started: ['starting', 'failed', 'stopping'],
  failed: ['starting', 'stopping'],
  stopping: ['stopped'],
};

/**
 * A deployment's state, phase and reason, changed only along the allowed transitions, with the
 * change logged once and waiters woken. An illegal transition is a bug of ours: it throws.
 */
export class DeploymentStateMachine {
  #state: DeploymentState = 'stopped';
  #phase: DeploymentPhase = null;
  #reason: string | null = null;
  #updatedAt = new Date().toISOString();
  readonly #listeners = new Set<() => void>();

  constructor(
    private readonly modelId: string,
    private readonly logger: Logger,
  ) {}

  get state(): DeploymentState {
    return this.#state;
  }

  get phase(): DeploymentPhase {
    return this.#state === 'starting' ? this.#phase : null;
  }

  get reason(): string | null {
    return this.#reason;
  }

  get updatedAt(): string {
    return this.#updatedAt;
  }

  is(...states: DeploymentState[]): boolean {
    return states.includes(this.#state);
  }

  to(state: DeploymentState, reason: string | null = null): void {
    if (state !== this.#state && !NEXT[this.#state].includes(state)) {
      throw new Error(`deployment of '${this.modelId}': no transition from ${this.#state} to ${state}`);
    }
    const changed = state !== this.#state || reason !== this.#reason;
    this.#state = state;
    this.#reason = reason;
    this.#updatedAt = new Date().toISOString();
    if (changed) {
      logEvent(
        this.logger,
        { action: 'deployment-state', outcome: state === 'failed' ? 'failure' : 'success', modelId: this.modelId, state, reason },
        `deployment of '${this.modelId}' is ${state}${reason ? `: ${reason}` : ''}`,
      );
    }
    this.notify();
  }

  setPhase(phase: DeploymentPhase): void {
    this.#phase = phase;
    this.notify();
  }

  /** Wakes the waiters: something they may be waiting for (a state, a rollover) changed. */
  notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }

  /** Resolves once `until()` holds, or when `timeoutMs` has passed. */
  waitUntil(until: () => boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#listeners.delete(check);
        resolve();
      };
      const check = () => {
        if (until()) done();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#listeners.add(check);
      check();
    });
  }
}
