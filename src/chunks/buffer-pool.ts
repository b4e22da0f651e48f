/**
 * Reuses chunk-sized buffers. Streaming a model allocates a few megabytes per chunk; left to the
 * garbage collector, dead buffers pile up until a major GC and the process's peak memory follows
 * the model's size and GC timing. Recycling keeps it flat: what is alive is what is in flight.
 */
export class BufferPool {
  readonly #free: Buffer[] = [];
  /** Memory this pool allocated: nothing else is ever recycled (it may be shared with other buffers). */
  readonly #owned = new WeakSet<ArrayBufferLike>();

  constructor(private readonly keep: number) {}

  /** A buffer of exactly `size` bytes (a view of a pooled one when one is large enough). */
  take(size: number): Buffer {
    const index = this.#free.findIndex((buffer) => buffer.length >= size);
    const whole = index >= 0 ? this.#free.splice(index, 1)[0]! : this.#allocate(size);
    return whole.subarray(0, size);
  }

  /** Hands a buffer from `take` back; the caller must not touch it afterwards. */
  give(buffer: Buffer): void {
    if (this.#free.length >= this.keep || !this.#owned.has(buffer.buffer)) return;
    this.#free.push(Buffer.from(buffer.buffer, 0, buffer.buffer.byteLength));
  }

  #allocate(size: number): Buffer {
    const buffer = Buffer.allocUnsafeSlow(size);
    this.#owned.add(buffer.buffer);
    return buffer;
  }
}
