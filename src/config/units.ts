import { InvalidArgumentError } from '../errors.js';

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses `4mb`, `512KiB`, `1g` or a plain byte count. Units are binary (1 mb = 1 MiB), as Elasticsearch reads them. */
export function parseByteSize(value: string | number, what: string): number {
  if (typeof value === 'number') return checkedInteger(value, value, what);
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const factor = match ? BYTE_UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || factor === undefined) {
    throw new InvalidArgumentError(`${what} must be a size such as 4mb, 512kb or 1048576; got '${value}'`);
  }
  return checkedInteger(Math.round(Number(match[1]) * factor), value, what);
}

/** Parses `60s`, `500ms`, `2m` or a plain number of seconds. */
export function parseDuration(value: string | number, what: string): number {
  if (typeof value === 'number') return checkedInteger(value * 1000, value, what);
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(value);
  if (!match) throw new InvalidArgumentError(`${what} must be a duration such as 60s, 500ms or 2m; got '${value}'`);
  const factor = DURATION_UNITS[(match[2] ?? 's').toLowerCase()]!;
  return checkedInteger(Math.round(Number(match[1]) * factor), value, what);
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function checkedInteger(result: number, original: string | number, what: string): number {
  if (!Number.isSafeInteger(result) || result < 0) {
    throw new InvalidArgumentError(`${what} must be a non-negative whole amount; got '${original}'`);
  }
  return result;
}
