/** Task results (Elastic's shapes) as a terminal shows them: per doc, its fields, and its lists as rows. */
export function describeResults(texts: string[], results: Array<Record<string, unknown>>): string {
  return results.map((result, i) => [`doc ${i + 1}: ${shorten(texts[i] ?? '', 70)}`, ...describeFields(result)].join('\n')).join('\n\n');
}

const SHOWN_VALUES = 8;
const SHOWN_ROWS = 10;

function describeFields(result: Record<string, unknown>): string[] {
  const width = Math.max(...Object.keys(result).map((k) => k.length));
  return Object.entries(result).flatMap(([name, value]) => {
    if (Array.isArray(value) && value.every((v) => typeof v === 'object' && v !== null && !Array.isArray(v))) {
      return [`  ${name.padEnd(width)}  ${value.length === 0 ? 'none' : ''}`.trimEnd(), ...table(value as Array<Record<string, unknown>>)];
    }
    return [`  ${name.padEnd(width)}  ${describeValue(value)}`];
  });
}

function describeValue(value: unknown): string {
  if (typeof value === 'number') return formatNumber(value);
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return describeArray(value);
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, number>).slice(0, SHOWN_VALUES);
    const more = Object.keys(value).length - entries.length;
    return `${entries.map(([k, v]) => `${k} ${formatNumber(v)}`).join(', ')}${more > 0 ? `, … ${more} more` : ''}`;
  }
  return JSON.stringify(value);
}

function describeArray(values: unknown[]): string {
  if (values.every((v) => typeof v === 'number')) {
    const shown = values.slice(0, SHOWN_VALUES).map((v) => formatNumber(v));
    return `[${shown.join(', ')}${values.length > SHOWN_VALUES ? `, … ${values.length} values` : ''}]`;
  }
  const inner = Array.isArray(values[0]) ? (values[0] as unknown[]).length : 0;
  return `${values.length} × ${inner} values (--json shows them)`;
}

function table(rows: Array<Record<string, unknown>>): string[] {
  const shown = rows
    .slice(0, SHOWN_ROWS)
    .map((row) => Object.values(row).map((v) => (typeof v === 'number' ? formatNumber(v) : String(v))));
  const widths = shown[0]?.map((_, c) => Math.max(...shown.map((r) => r[c]!.length))) ?? [];
  const lines = shown.map((r) => `    ${r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ')}`.trimEnd());
  return rows.length > SHOWN_ROWS ? [...lines, `    … ${rows.length - SHOWN_ROWS} more`] : lines;
}

function formatNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(4);
}

function shorten(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ');
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
