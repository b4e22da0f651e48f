import { readFile } from 'node:fs/promises';
import { round, table } from './report.js';

/** The parts of V8's `.cpuprofile` (what `node --cpu-prof` writes) that a summary needs. */
interface CpuProfile {
  /** µs on the monotonic clock, the one `process.hrtime` reads. */
  startTime: number;
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }>;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Sampled time, idle left out. */
  busy_ms: number;
  /** Self time per area: a package, node's own code, the feeder's files, GC, V8 builtins. */
  areas: Array<{ area: string; self_ms: number; share: number }>;
  /** Functions by self time: time spent in their own code. */
  self: Array<{ function: string; self_ms: number; share: number }>;
  /** Functions by total time: their own code and everything they called. */
  total: Array<{ function: string; total_ms: number; share: number }>;
}

const IDLE = new Set(['(idle)', '(root)']);

/**
 * Where a process spent its CPU, from a `node --cpu-prof` file: by area, by function (self and total).
 * With `window` (µs on `process.hrtime`'s clock), only the samples taken within it.
 */
export async function summarizeProfile(file: string, window?: { fromUs: number; toUs: number }, top = 25): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const areas = new Map<string, number>();
  let busyUs = 0;
  let clock = profile.startTime;
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id)!.callFrame;
    const us = profile.timeDeltas[i] ?? 0;
    clock += us;
    if (window && (clock < window.fromUs || clock > window.toUs)) return;
    if (IDLE.has(frame.functionName)) return;
    busyUs += us;
    add(self, nameOf(frame), us);
    add(areas, areaOf(frame), us);
    // Each function once per sample, however often it recurs in the stack.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)!.callFrame;
      if (!IDLE.has(f.functionName)) seen.add(nameOf(f));
    }
    for (const name of seen) add(total, name, us);
  });
  const ms = (us: number) => round(us / 1000, 1);
  const share = (us: number) => round(us / busyUs, 3);
  const ranked = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return {
    busy_ms: ms(busyUs),
    areas: ranked(areas).map(([area, us]) => ({ area, self_ms: ms(us), share: share(us) })),
    self: ranked(self)
      .slice(0, top)
      .map(([name, us]) => ({ function: name, self_ms: ms(us), share: share(us) })),
    total: ranked(total)
      .slice(0, top)
      .map(([name, us]) => ({ function: name, total_ms: ms(us), share: share(us) })),
  };
}

export function printProfile(summary: ProfileSummary, what: string): void {
  const pct = (s: number) => `${round(s * 100, 1)}%`;
  console.log(`\nCPU profile of ${what}: ${summary.busy_ms} ms sampled (idle left out)\n`);
  console.log(
    table(
      ['area', 'self ms', 'share'],
      summary.areas.map((a) => [a.area, a.self_ms, pct(a.share)]),
    ),
  );
  console.log('\nBy self time\n');
  console.log(
    table(
      ['function', 'self ms', 'share'],
      summary.self.map((f) => [f.function, f.self_ms, pct(f.share)]),
    ),
  );
  console.log('\nBy total time (self and callees)\n');
  console.log(
    table(
      ['function', 'total ms', 'share'],
      summary.total.map((f) => [f.function, f.total_ms, pct(f.share)]),
    ),
  );
}

function add(map: Map<string, number>, key: string, us: number): void {
  map.set(key, (map.get(key) ?? 0) + us);
}

function nameOf(frame: CpuProfile['nodes'][number]['callFrame']): string {
  const fn = frame.functionName || '(anonymous)';
  return frame.url ? `${fn} ${shortUrl(frame.url)}:${frame.lineNumber + 1}` : fn;
}

/** `node_modules/<package>/…`, `build/src/…` as `src/…`, node's own modules as they are. */
function shortUrl(url: string): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(url);
  if (pkg) return `${pkg[1]}/${pkg[2]}`;
  const ours = /\/build\/((?:src|bench)\/.*)$/.exec(url);
  return ours ? ours[1]! : url;
}

function areaOf(frame: CpuProfile['nodes'][number]['callFrame']): string {
  const { url, functionName } = frame;
  if (!url) return /^\(.*\)$/.test(functionName) ? functionName : 'V8 builtins (JSON, RegExp, …)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return url.startsWith('node:internal/') ? `node:${url.slice('node:internal/'.length).split('/')[0]}` : url;
  const ours = /\/build\/((?:src|bench)\/[^/]+)\//.exec(url);
  return ours ? ours[1]! : url;
}
