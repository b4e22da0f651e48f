// Workers and threads of native-torch on all-MiniLM-L6-v2, fed directly (no daemon): which split of
// the host's cores serves the most rows in batches. For each batch size and each workers × threads
// of 1 × 1, N × 1 and 1 × N (N = the host's cores), a closed loop keeps one batch per worker in
// flight for BENCH_SECONDS and counts rows/s, the p50 of a batch, and the process's CPU seconds per
// second (from /proc/<pid>/stat): on a shared host the rows per CPU-second are what compares.
//
//   npm run bench:workers                       8 s per run, batches of 8 and 32 rows
//   BENCH_SECONDS=3 npm run bench:workers       a quick look
//
// Writes bench/results/workers.json and prints a table; docs/operations.md quotes it.
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadNative, packr } from './support/native-direct.js';
import { median, round, table, wholeFromEnv } from './support/report.js';
import { prepareTorch } from './support/torch-models.js';

const RESULT_FILE = fileURLToPath(new URL('../../bench/results/workers.json', import.meta.url));
const SECONDS = wholeFromEnv(process.env, 'BENCH_SECONDS', 8, 1);
const BATCHES = [8, 32];
/** [CLS], eight words, [SEP]. */
const ROW = [101, 1996, 4937, 2938, 2006, 1996, 13523, 1012, 2182, 102];

interface Run {
  workers: number;
  threads: number;
  rows: number;
  rows_s: number;
  p50_ms: number;
  cpu: number;
  rows_per_cpu_s: number;
  load: number;
}

/** The process's user + system CPU seconds so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function measure(binary: string, model: Buffer, workers: number, threads: number, rows: number): Promise<Run> {
  const { native, frames } = await loadNative(binary, model, ['--workers', String(workers), '--threads', String(threads)]);
  const tokens = Array.from({ length: rows }, () => ROW);
  const sentAt = new Map<string, number>();
  let next = 0;
  const send = () => {
    const id = String((next += 1));
    sentAt.set(id, performance.now());
    native.stdin.write(packr.pack({ request_id: id, tokens }));
  };
  const latencies: number[] = [];
  const start = performance.now();
  const cpuStart = cpuSeconds(native.pid!);
  for (let i = 0; i < workers; i++) send();
  while (latencies.length < next) {
    const { value } = await frames.next();
    if (value?.type !== 'result') throw new Error(`native-torch answered ${JSON.stringify(value).slice(0, 200)}`);
    latencies.push(performance.now() - sentAt.get(value.request_id)!);
    if (performance.now() - start < SECONDS * 1000) send();
  }
  const seconds = (performance.now() - start) / 1000;
  const cpu = (cpuSeconds(native.pid!) - cpuStart) / seconds;
  native.stdin.end();
  const rowsPerSecond = (latencies.length * rows) / seconds;
  return {
    workers,
    threads,
    rows,
    rows_s: Math.round(rowsPerSecond),
    p50_ms: round(median(latencies)),
    cpu: round(cpu, 2),
    rows_per_cpu_s: Math.round(rowsPerSecond / cpu),
    load: round(loadavg()[0]!, 1),
  };
}

async function main(): Promise<void> {
  const { binary, fixtures } = await prepareTorch();
  const model = await readFile(join(fixtures, 'minilm.pt'));
  const cores = availableParallelism();
  const splits = [
    [1, 1],
    [cores, 1],
    [1, cores],
  ];
  const runs: Run[] = [];
  for (const rows of BATCHES) for (const [workers, threads] of splits) runs.push(await measure(binary, model, workers!, threads!, rows));
  const header = ['workers × threads', 'rows', 'rows/s', 'p50 ms', 'cpu', 'rows per CPU-s', 'load'];
  console.log(
    table(
      header,
      runs.map((r) => [`${r.workers} × ${r.threads}`, r.rows, r.rows_s, r.p50_ms, r.cpu, r.rows_per_cpu_s, r.load]),
    ),
  );
  await mkdir(dirname(RESULT_FILE), { recursive: true });
  await writeFile(RESULT_FILE, `${JSON.stringify({ cores, seconds: SECONDS, runs }, null, 2)}\n`);
}

await main();
