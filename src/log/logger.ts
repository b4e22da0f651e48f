import { createRequire } from 'node:module';
import { isatty } from 'node:tty';
import { ecsFormat } from '@elastic/ecs-pino-format';
import { pino, type Logger } from 'pino';
import type { PinoPretty as PinoPrettyFactory } from 'pino-pretty';

// Loaded only for a terminal: it costs memory a daemon or a pipe never needs.
const loadPretty = () => (createRequire(import.meta.url)('pino-pretty') as { PinoPretty: typeof PinoPrettyFactory }).PinoPretty;

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** 1 = stdout (the daemon), 2 = stderr (one-shot commands, whose stdout carries their answer). */
  fd?: 1 | 2;
  /** Human-readable lines instead of ECS JSON; defaults to whether the destination is a terminal. */
  pretty?: boolean;
}

// Anything shaped like a secret is censored wherever it appears in a log record.
const REDACT_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'apiKey',
  '*.apiKey',
  '*.*.apiKey',
  'authorization',
  '*.authorization',
  '*.*.authorization',
  'token',
  '*.token',
];

export function createLogger(options: LoggerOptions = {}): Logger {
  const fd = options.fd ?? 2;
  const level = options.level ?? 'info';
  const redact = { paths: REDACT_PATHS, censor: '[redacted]' };
  if (options.pretty ?? isatty(fd)) {
    return pino({ level, redact }, loadPretty()({ destination: fd, sync: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' }));
  }
  return pino({ ...ecsFormat({ convertErr: true }), level, redact }, pino.destination({ fd, sync: true }));
}

export interface EventFields {
  action: string;
  outcome: 'success' | 'failure' | 'unknown';
  modelId?: string;
  bytes?: number;
  durationMs?: number;
  [extra: string]: unknown;
}

/** Logs one ECS event: `event.action`/`event.outcome`/`event.duration` (ns), the rest under `feeder.*`. */
export function logEvent(logger: Logger, fields: EventFields, message: string): void {
  const { action, outcome, durationMs, modelId, ...rest } = fields;
  const event: Record<string, unknown> = { action, outcome };
  if (durationMs !== undefined) event.duration = Math.round(durationMs * 1e6);
  const record = { event, feeder: { model_id: modelId, ...rest } };
  if (outcome === 'failure') logger.error(record, message);
  else logger.info(record, message);
}
