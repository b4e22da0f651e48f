/** Bounds how many models load at once; waiting can be cancelled. */
export class LoadLimiter {
  #running = 0;
  readonly #queue: Array<() => void> = [];

  constructor(readonly limit: number) {}

  get running(): number {
    return this.#running;
  }

  async run<T>(signal: AbortSignal, task: () => Promise<T>): Promise<T> {
    await this.#acquire(signal);
    try {
      return await task();
    } finally {
      this.#running -= 1;
      this.#queue.shift()?.();
    }
  }

  #acquire(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (this.#running < this.limit) {
      this.#running += 1;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal.removeEventListener('abort', onAbort);
        this.#running += 1;
        resolve();
      };
      const onAbort = () => {
        this.#queue.splice(this.#queue.indexOf(grant), 1);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(grant);
    });
  }
}
