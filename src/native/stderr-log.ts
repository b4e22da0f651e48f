import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Logger } from '../log/logger.js';

export interface NativeLogLine {
  level?: string;
  message?: string;
  timestamp?: number;
  pid?: number;
}

const LEVELS: Record<string, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
  FATAL: 'fatal',
};

/**
 * Forwards each JSON line the native process writes on stderr into our log, with the model id and
 * pid, and keeps its last ERROR lines: they become the reason when the process dies.
 */
export class NativeLogForwarder {
  readonly #lastErrors: string[] = [];
  readonly #keep: number;
  readonly done: Promise<void>;

  constructor(stderr: Readable, logger: Logger, keep = 5) {
    this.#keep = keep;
    const lines = createInterface({ input: stderr, crlfDelay: Infinity });
    lines.on('line', (line) => this.#forward(line, logger));
    this.done = new Promise((resolve) => lines.once('close', resolve));
  }

  get lastErrors(): string[] {
    return [...this.#lastErrors];
  }

  #forward(line: string, logger: Logger): void {
    if (!line.trim()) return;
    const parsed = parseLine(line);
    const level = LEVELS[(parsed.level ?? 'WARN').toUpperCase()] ?? 'warn';
    const message = parsed.message ?? line;
    logger[level](
      { event: { action: 'native-log', dataset: 'native' }, native: { level: parsed.level ?? null, timestamp: parsed.timestamp ?? null } },
      message,
    );
    if (level === 'error' || level === 'fatal') this.#remember(message);
  }

  #remember(message: string): void {
    this.#lastErrors.push(message);
    if (this.#lastErrors.length > this.#keep) this.#lastErrors.shift();
  }
}

function parseLine(line: string): NativeLogLine {
  try {
    const value = JSON.parse(line) as unknown;
    if (typeof value === 'object' && value !== null) return value;
  } catch {
    // Not JSON: forwarded as it is, at WARN, so nothing the process says is lost.
  }
  return { level: 'WARN', message: line };
}
