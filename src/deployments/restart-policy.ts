/**
 * How often a deployment's native process may be restarted: at most `maxRestarts` within any
 * `windowMs`, each after an exponential backoff. Counting within a window, not for ever, lets a
 * deployment that crashes now and then over months keep going, while a crash loop still fails.
 */
export class RestartPolicy {
  readonly #restarts: number[] = [];

  constructor(
    readonly maxRestarts: number,
    readonly windowMs: number,
    readonly backoffMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Restarts within the window, as `status` shows them. */
  get count(): number {
    this.#forgetOld();
    return this.#restarts.length;
  }

  /** Records one more restart and returns its delay, or null when the budget of the window is spent. */
  next(): { restart: number; delayMs: number } | null {
    if (this.count >= this.maxRestarts) return null;
    this.#restarts.push(this.now());
    const restart = this.#restarts.length;
    return { restart, delayMs: this.backoffMs * 2 ** (restart - 1) };
  }

  reset(): void {
    this.#restarts.length = 0;
  }

  #forgetOld(): void {
    const since = this.now() - this.windowMs;
    while (this.#restarts.length > 0 && this.#restarts[0]! <= since) this.#restarts.shift();
  }
}
