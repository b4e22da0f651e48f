export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export interface Target {
  name: string;
  value: number;
  target: string;
  pass: boolean;
}

export function atLeast(name: string, value: number, min: number): Target {
  return { name, value: round(value, 2), target: `>= ${min}`, pass: value >= min };
}

export function atMost(name: string, value: number, max: number): Target {
  return { name, value, target: `<= ${max}`, pass: value <= max };
}

/** A whole-number setting of a benchmark from the environment, `fallback` when unset. */
export function wholeFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const value = Number(env[name] ?? fallback);
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`${name} must be a whole number of at least ${min}; got '${env[name]}'`);
  return value;
}

export function below(name: string, value: number, max: number): Target {
  // Two decimals below 10, so a ratio of 0.75 against 0.8 does not print as 0.8.
  return { name, value: round(value, Math.abs(value) < 10 ? 2 : 1), target: `< ${max}`, pass: value < max };
}

/** Left-aligned first column, right-aligned others, two spaces between. */
export function table(header: string[], rows: Array<Array<string | number>>): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}
