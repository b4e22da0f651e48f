import { Packr } from 'msgpackr';
import { createFrameDecoder } from '../protocol.js';
import { ProcessGroup } from '../process-group.js';
import { spawnNative } from '../native-process.js';

export interface HarnessExit {
  exitCode: number | null;
  signal: string | null;
}

// The daemon's framing (plain maps, string keys), but free to write what the daemon never would.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

export function packFrame(value: unknown): Buffer {
  return packr.pack(value);
}

/**
 * One native process under test, started as the daemon starts it (spawnNative: no shell, a
 * process group of its own, the environment given), with everything it says kept: stdout as
 * frames, stderr as lines. Unlike NativeProcess it judges nothing: the checks do.
 */
export class Harness {
  readonly pid: number;
  readonly stderrLines: string[] = [];
  /** Why stdout stopped decoding, if it did. */
  decodeError: Error | null = null;
  exit: HarnessExit | null = null;
  readonly exited: Promise<HarnessExit>;
  readonly #subprocess: ReturnType<typeof spawnNative>;
  readonly #group: ProcessGroup;
  readonly #frames: unknown[] = [];
  #wake: () => void = () => {};
  #partialLine = '';

  constructor(command: string, args: string[], env: Record<string, string>) {
    this.#subprocess = spawnNative(command, args, env);
    this.pid = this.#subprocess.pid ?? -1;
    this.#group = new ProcessGroup(this.pid);
    this.#subprocess.stdin.on('error', () => {});
    const decoder = createFrameDecoder();
    decoder.on('data', (frame: unknown) => this.#push(frame));
    decoder.on('error', (error: Error) => ((this.decodeError = error), this.#wake()));
    this.#subprocess.stdout.pipe(decoder);
    this.#subprocess.stderr.on('data', (data: Buffer) => this.#onStderr(data));
    this.exited = this.#subprocess.then((result) => {
      this.#group.release();
      this.exit = { exitCode: result.exitCode ?? null, signal: result.signal ?? null };
      if (this.#partialLine.trim()) this.stderrLines.push(this.#partialLine);
      this.#wake();
      return this.exit;
    });
  }

  write(bytes: Buffer): void {
    this.#subprocess.stdin.write(bytes);
  }

  closeStdin(): void {
    this.#subprocess.stdin.end();
  }

  signalGroup(signal: NodeJS.Signals): boolean {
    return this.#group.signal(signal);
  }

  /**
   * The next frame, in arrival order; null when none comes within `timeoutMs`, or stdout stopped
   * decoding, or the process exited with nothing more to read.
   */
  async nextFrame(timeoutMs: number): Promise<unknown> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (this.#frames.length > 0) return this.#frames.shift();
      if (this.decodeError || this.exit || performance.now() >= deadline) return null;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - performance.now()));
        this.#wake = () => (clearTimeout(timer), resolve());
      });
    }
  }

  /** Resolves with the exit, or null if the process is still running after `timeoutMs`. */
  async exitWithin(timeoutMs: number): Promise<HarnessExit | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Leaves nothing behind, whatever the process did. */
  async kill(): Promise<void> {
    if (this.exit) return;
    this.signalGroup('SIGKILL');
    await this.exited;
  }

  #push(frame: unknown): void {
    // msgpackr hands over some bytes no MessagePack value starts with (0xc1) as an Error value.
    if (frame instanceof Error) this.decodeError ??= frame;
    else this.#frames.push(frame);
    this.#wake();
  }

  #onStderr(data: Buffer): void {
    const lines = (this.#partialLine + data.toString('utf8')).split('\n');
    this.#partialLine = lines.pop()!;
    for (const line of lines) if (line.trim()) this.stderrLines.push(line);
  }
}
