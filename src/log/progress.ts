import { formatBytes } from '../config/units.js';
import type { Logger } from './logger.js';

export interface Progress {
  update(done: number, total: number | null): void;
  finish(): void;
}

export interface ProgressOptions {
  label: string;
  logger: Logger;
  /** Where a bar is drawn; a bar only when it is a terminal, log lines otherwise. */
  stream?: NodeJS.WriteStream;
  logEveryMs?: number;
  fields?: Record<string, unknown>;
  /** false: always log lines (the daemon's stdout is a log, never a terminal bar). */
  bar?: boolean;
}

/** A bar on a terminal, otherwise a progress log line (bytes, %, MiB/s) every few seconds. */
export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const started = performance.now();
  const rate = (done: number) => done / 1024 ** 2 / Math.max((performance.now() - started) / 1000, 1e-3);
  return stream.isTTY && options.bar !== false ? barProgress(options.label, stream, rate) : logProgress(options, rate);
}

function barProgress(label: string, stream: NodeJS.WriteStream, rate: (done: number) => number): Progress {
  let lastDraw = 0;
  let drawn = false;
  return {
    update(done, total) {
      const now = performance.now();
      if (now - lastDraw < 100 && done !== total) return;
      lastDraw = now;
      drawn = true;
      const width = 30;
      const bar = total ? '#'.repeat(Math.round((done / total) * width)).padEnd(width, '.') : '';
      const percent = total ? ` ${((done / total) * 100).toFixed(0).padStart(3)}%` : '';
      stream.write(`\r${label} [${bar}]${percent} ${formatBytes(done)} ${rate(done).toFixed(1)} MiB/s  `);
    },
    finish() {
      if (drawn) stream.write('\n');
    },
  };
}

function logProgress(options: ProgressOptions, rate: (done: number) => number): Progress {
  const every = options.logEveryMs ?? 5000;
  let lastLog = performance.now();
  return {
    update(done, total) {
      const now = performance.now();
      if (now - lastLog < every) return;
      lastLog = now;
      const percent = total ? Math.round((done / total) * 1000) / 10 : null;
      const mibS = Math.round(rate(done) * 10) / 10;
      options.logger.info(
        { event: { action: 'progress' }, feeder: { ...options.fields, bytes: done, total_bytes: total, percent, mib_s: mibS } },
        `${options.label}: ${formatBytes(done)}${percent === null ? '' : ` (${percent}%)`} at ${mibS} MiB/s`,
      );
    },
    finish() {},
  };
}
