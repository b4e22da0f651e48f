// Upload benchmark: `feeder upload` in both chunk encodings against the same chunk documents sent
// by a bare HTTP client: base64 in bulk (its ceiling), CBOR one document per request with the same
// concurrency (its ceiling: `_bulk` refuses CBOR), and base64 one per request, one at a time (as
// Eland uploads); the index size on disk of each encoding; plus a chunk-size sweep.
//
//   npm run bench:upload                      256 MiB and 1 GiB, 3 runs each
//   BENCH_SIZES=64mb BENCH_RUNS=1 BENCH_SWEEP_SIZE=64mb npm run bench:upload
//
// Uses ES_URL when set, otherwise starts (and afterwards stops) the project's `bench` node.
// Writes bench/results/upload.json and prints a table.
import { execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, type FeederConfig } from '../src/config/config.js';
import { parseByteSize } from '../src/config/units.js';
import { Es } from '../src/es/es.js';
import { installTemplates } from '../src/model/templates.js';
import { bulkBodies, chunkDocs, docBodies } from './support/chunk-docs.js';
import { benchElasticsearch } from './support/es-node.js';
import { feederDelete, feederUpload, type FeederRun } from './support/feeder-cli.js';
import { makeTempDir, writeRandomFile } from './support/files.js';
import { PlainHttp } from './support/plain-http.js';
import { atLeast, below, median, round, table, type Target } from './support/report.js';

const MIB = 1024 * 1024;
const SWEEP_CHUNK_SIZES = ['256kb', '1mb', '4mb', '16mb', '64mb'];
const RSS_LIMIT_MIB = 200;
const RESULT_FILE = fileURLToPath(new URL('../../bench/results/upload.json', import.meta.url));

interface Bench {
  esUrl: string;
  http: PlainHttp;
  config: FeederConfig;
  dir: string;
  signal: AbortSignal;
  /** A name no other run of this benchmark uses. */
  name(kind: string): string;
}

interface SizeResult {
  size_mib: number;
  /** `feeder upload --encoding base64`. */
  feeder_mib_s: number;
  /** `feeder upload --encoding cbor`. */
  feeder_cbor_mib_s: number;
  /** The same CBOR documents, encoded before the clock starts, PUT with `upload.documentConcurrency` in flight. */
  raw_cbor_mib_s: number;
  feeder_cbor_vs_feeder: number;
  feeder_cbor_vs_raw_cbor: number;
  /** Store size of the CBOR documents over the base64 ones', each index force-merged to one segment. */
  disk_ratio_cbor: number;
  store_mib: { base64: number; cbor: number };
  peak_rss_cbor_mib: number;
  raw_bulk_mib_s: number;
  sequential_mib_s: number;
  peak_rss_mib: number;
  feeder_vs_raw: number;
  feeder_vs_sequential: number;
  samples: {
    feeder_wall_s: number[];
    feeder_cbor_wall_s: number[];
    raw_cbor_s: number[];
    feeder_startup_s: Array<number | null>;
    feeder_logged_upload_s: Array<number | null>;
    raw_bulk_s: number[];
    sequential_s: number[];
    peak_rss_mib: number[];
  };
}

interface SweepResult {
  chunk_size: string;
  /** Null when every run failed. */
  feeder_mib_s: number | null;
  peak_rss_mib: number | null;
  samples: { feeder_wall_s: number[]; peak_rss_mib: number[] };
  /** Runs in which `feeder upload` failed, with its error. */
  failures: string[];
}

async function main(): Promise<void> {
  const { sizes, runs, sweepSize } = readOptions(process.env);
  const code = codeVersion();
  const cleanup: Array<() => Promise<unknown>> = [];
  const interrupt = new AbortController();
  const stop = () => interrupt.abort(new Error('interrupted'));
  process.once('SIGINT', stop).once('SIGTERM', stop);
  try {
    const node = await benchElasticsearch();
    cleanup.push(() => node.stop());
    const bench = await prepare(node.url, interrupt.signal, cleanup);
    const esVersion = await elasticsearchVersion(bench.http);
    console.error(`bench: Elasticsearch ${esVersion}, sizes ${sizes.map((s) => s / MIB).join(', ')} MiB, ${runs} runs each`);

    const results: SizeResult[] = [];
    for (const size of sizes) results.push(await compareUploads(bench, size, runs));
    const sweep = await sweepChunkSizes(bench, sweepSize, runs);
    const recommended = recommendChunkSize(sweep);

    const report = {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, mem_gib: round(totalmem() / 1024 ** 3), node: process.version },
      es_version: esVersion,
      code,
      runs,
      sizes: results,
      sweep_size_mib: sweepSize / MIB,
      sweep,
      recommended_chunk_size: recommended,
      targets: targets(results),
    };
    await mkdir(dirname(RESULT_FILE), { recursive: true });
    await writeFile(RESULT_FILE, `${JSON.stringify(report, null, 2)}\n`);
    printReport(report);
    console.log('\nwritten to bench/results/upload.json');
  } finally {
    for (const step of cleanup.reverse())
      await step().catch((error: unknown) => console.error(`bench: cleanup failed: ${(error as Error).message}`));
  }
}

/** The commit checked out when the run starts, `-dirty` with uncommitted changes; build/ is what actually runs. */
function codeVersion(): string | null {
  try {
    return execFileSync('git', ['describe', '--always', '--dirty'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function readOptions(env: NodeJS.ProcessEnv): { sizes: number[]; runs: number; sweepSize: number } {
  const sizes = (env.BENCH_SIZES ?? '256mb,1gb').split(',').map((s) => parseByteSize(s, 'BENCH_SIZES'));
  const runs = Number(env.BENCH_RUNS ?? 3);
  if (!Number.isSafeInteger(runs) || runs < 1) throw new Error(`BENCH_RUNS must be a whole number of at least 1; got '${env.BENCH_RUNS}'`);
  if (sizes.some((s) => s < 1)) throw new Error(`BENCH_SIZES must list sizes above zero; got '${env.BENCH_SIZES}'`);
  return { sizes, runs, sweepSize: parseByteSize(env.BENCH_SWEEP_SIZE ?? '256mb', 'BENCH_SWEEP_SIZE') };
}

/** Feeder's templates installed (so our scratch indices get the chunk mapping), a temp dir, an HTTP client. */
async function prepare(esUrl: string, signal: AbortSignal, cleanup: Array<() => Promise<unknown>>): Promise<Bench> {
  const config = loadConfig({ esUrl });
  const es = new Es(config.elasticsearch);
  await installTemplates(es).finally(() => es.close());
  const http = new PlainHttp(esUrl);
  cleanup.push(async () => http.close());
  const dir = await makeTempDir();
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  let n = 0;
  return { esUrl, http, config, dir, signal, name: (kind) => `bench-${process.pid}-${++n}-${kind}` };
}

/** From the nodes info API: the test distribution the project runs has no `GET /`. */
async function elasticsearchVersion(http: PlainHttp): Promise<string> {
  const info = (await http.ok('GET', '/_nodes/_local?filter_path=nodes.*.version')) as { nodes: Record<string, { version: string }> };
  return Object.values(info.nodes)[0]!.version;
}

/** Feeder, raw bulk and one-per-request on one random file, interleaved run by run. */
async function compareUploads(bench: Bench, size: number, runs: number): Promise<SizeResult> {
  const file = await writeRandomFile(bench.dir, size);
  const chunkSize = String(bench.config.upload.chunkSize);
  const feeder: FeederRun[] = [];
  const feederCbor: FeederRun[] = [];
  const raw: number[] = [];
  const rawCbor: number[] = [];
  const sequential: number[] = [];
  const store = { base64: [] as number[], cbor: [] as number[] };
  const measurements = [
    async () => void feeder.push(await measureFeeder(bench, file, chunkSize, 'base64')),
    async () => void feederCbor.push(await measureFeeder(bench, file, chunkSize, 'cbor')),
    async () => void raw.push(await measureRawBulk(bench, file, store.base64)),
    async () => void rawCbor.push(await measureRawCbor(bench, file, store.cbor)),
    async () => void sequential.push(await measureSequential(bench, file)),
  ];
  try {
    for (let run = 1; run <= runs; run++) {
      // A different one goes first each run, so none always follows the same cleanup.
      for (let i = 0; i < measurements.length; i++) await measurements[(i + run - 1) % measurements.length]!();
      console.error(
        `bench: ${size / MIB} MiB run ${run}/${runs}: feeder ${feeder.at(-1)!.wallS.toFixed(2)} s, feeder cbor ${feederCbor.at(-1)!.wallS.toFixed(2)} s, raw bulk ${raw.at(-1)!.toFixed(2)} s, raw cbor ${rawCbor.at(-1)!.toFixed(2)} s, sequential ${sequential.at(-1)!.toFixed(2)} s`,
      );
    }
  } finally {
    await rm(file, { force: true });
  }
  const mib = size / MIB;
  const feederRate = mib / median(feeder.map((r) => r.wallS));
  const feederCborRate = mib / median(feederCbor.map((r) => r.wallS));
  const rawCborRate = mib / median(rawCbor);
  const rawRate = mib / median(raw);
  const sequentialRate = mib / median(sequential);
  return {
    size_mib: mib,
    feeder_mib_s: round(feederRate),
    feeder_cbor_mib_s: round(feederCborRate),
    raw_cbor_mib_s: round(rawCborRate),
    feeder_cbor_vs_feeder: round(feederCborRate / feederRate, 2),
    feeder_cbor_vs_raw_cbor: round(feederCborRate / rawCborRate, 2),
    disk_ratio_cbor: round(median(store.cbor) / median(store.base64), 3),
    store_mib: { base64: round(median(store.base64) / MIB), cbor: round(median(store.cbor) / MIB) },
    peak_rss_cbor_mib: round(median(feederCbor.map((r) => r.peakRssMib))),
    raw_bulk_mib_s: round(rawRate),
    sequential_mib_s: round(sequentialRate),
    peak_rss_mib: round(median(feeder.map((r) => r.peakRssMib))),
    feeder_vs_raw: round(feederRate / rawRate, 2),
    feeder_vs_sequential: round(feederRate / sequentialRate, 2),
    samples: {
      feeder_wall_s: feeder.map((r) => round(r.wallS, 3)),
      feeder_cbor_wall_s: feederCbor.map((r) => round(r.wallS, 3)),
      raw_cbor_s: rawCbor.map((s) => round(s, 3)),
      feeder_startup_s: feeder.map((r) => roundOrNull(r.startupS)),
      feeder_logged_upload_s: feeder.map((r) => roundOrNull(r.uploadS)),
      raw_bulk_s: raw.map((s) => round(s, 3)),
      sequential_s: sequential.map((s) => round(s, 3)),
      peak_rss_mib: feeder.map((r) => round(r.peakRssMib)),
    },
  };
}

function roundOrNull(seconds: number | null): number | null {
  return seconds === null ? null : round(seconds, 3);
}

/** The real CLI as a child process; the model is deleted afterwards (not timed). */
async function measureFeeder(bench: Bench, file: string, chunkSize: string, encoding?: string): Promise<FeederRun> {
  bench.signal.throwIfAborted();
  const modelId = bench.name('feeder');
  await settle(bench);
  try {
    return await feederUpload(bench.esUrl, file, modelId, chunkSize, join(bench.dir, `${modelId}.rss`), encoding);
  } finally {
    await feederDelete(bench.esUrl, modelId);
  }
}

/** The same bulk bodies, encoded before the clock starts, `concurrency` requests in flight, then a refresh. */
async function measureRawBulk(bench: Bench, file: string, storeBytes: number[]): Promise<number> {
  const { chunkSize, bulkBytes, concurrency } = bench.config.upload;
  const id = bench.name('raw');
  const { bodies, docCount } = await bulkBodies(chunkDocs(file, id, chunkSize, 'base64'), bulkBytes);
  return withScratchIndex(bench, `.feeder-chunks-${id}`, docCount, storeBytes, async (index) => {
    let next = 0;
    const sender = async () => {
      while (next < bodies.length) {
        bench.signal.throwIfAborted();
        const body = bodies[next++]!;
        const answer = (await bench.http.ok(
          'POST',
          `/${index}/_bulk?filter_path=errors,items.*.status,items.*.error`,
          body,
          'application/x-ndjson',
        )) as { errors: boolean; items?: unknown[] };
        if (answer.errors) throw new Error(`raw bulk into ${index} had item errors: ${JSON.stringify(answer.items?.[0]).slice(0, 300)}`);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, sender));
  });
}

/** The feeder's CBOR documents, encoded before the clock starts, one PUT each, `upload.documentConcurrency` in flight, then a refresh. */
async function measureRawCbor(bench: Bench, file: string, storeBytes: number[]): Promise<number> {
  const { chunkSize, documentConcurrency } = bench.config.upload;
  const id = bench.name('rawcbor');
  const docs = await docBodies(chunkDocs(file, id, chunkSize, 'cbor'));
  return withScratchIndex(bench, `.feeder-chunks-${id}`, docs.length, storeBytes, async (index) => {
    let next = 0;
    const sender = async () => {
      while (next < docs.length) {
        bench.signal.throwIfAborted();
        const doc = docs[next++]!;
        await bench.http.ok('PUT', `/${index}/_doc/${encodeURIComponent(doc.id)}?filter_path=result`, doc.body, 'application/cbor');
      }
    };
    await Promise.all(Array.from({ length: documentConcurrency }, sender));
  });
}

/** As Eland uploads: one `PUT /<index>/_doc/<id>` per chunk, one after another, then a refresh. */
async function measureSequential(bench: Bench, file: string): Promise<number> {
  const id = bench.name('seq');
  const docs = await docBodies(chunkDocs(file, id, bench.config.upload.chunkSize, 'base64'));
  return withScratchIndex(bench, `.feeder-chunks-${id}`, docs.length, [], async (index) => {
    for (const doc of docs) {
      bench.signal.throwIfAborted();
      await bench.http.ok('PUT', `/${index}/_doc/${encodeURIComponent(doc.id)}`, doc.body);
    }
  });
}

/**
 * Creates `index` (feeder's chunk template gives it the chunk mapping), times `send` plus a refresh,
 * checks all `docCount` documents arrived, and deletes the index whatever happens. Returns the seconds taken.
 */
async function withScratchIndex(
  bench: Bench,
  index: string,
  docCount: number,
  storeBytes: number[],
  send: (index: string) => Promise<void>,
): Promise<number> {
  await bench.http.ok('PUT', `/${index}`);
  try {
    await settle(bench);
    const started = performance.now();
    await send(index);
    await bench.http.ok('POST', `/${index}/_refresh`);
    const seconds = (performance.now() - started) / 1000;
    const { count } = (await bench.http.ok('GET', `/${index}/_count`)) as { count: number };
    if (count !== docCount) throw new Error(`${index} holds ${count} documents after the upload; ${docCount} were sent`);
    // Untimed: the size on disk, merged to one segment so that neither encoding is caught mid-merge.
    await bench.http.ok('POST', `/${index}/_forcemerge?max_num_segments=1`);
    const stats = (await bench.http.ok('GET', `/${index}/_stats/store?filter_path=_all.primaries.store.size_in_bytes`)) as {
      _all: { primaries: { store: { size_in_bytes: number } } };
    };
    storeBytes.push(stats._all.primaries.store.size_in_bytes);
    return seconds;
  } finally {
    await bench.http.request('DELETE', `/${index}`);
  }
}

/** Waits (up to a minute) until the node runs no merges, so no measurement pays for the one before it. */
async function settle(bench: Bench): Promise<void> {
  for (let waited = 0; waited < 60_000; waited += 250) {
    const stats = (await bench.http.ok('GET', '/_nodes/_local/stats/indices/merge?filter_path=nodes.*.indices.merges.current')) as {
      nodes: Record<string, { indices: { merges: { current: number } } }>;
    };
    if (Object.values(stats.nodes).every((n) => n.indices.merges.current === 0)) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * `feeder upload --chunk-size X` for each chunk size on one file, interleaved run by run. The
 * extremes may fail (e.g. Elasticsearch refusing two 85 MiB requests at once): failures are recorded.
 */
async function sweepChunkSizes(bench: Bench, size: number, runs: number): Promise<SweepResult[]> {
  const file = await writeRandomFile(bench.dir, size);
  const samples = new Map<string, Array<FeederRun | Error>>(SWEEP_CHUNK_SIZES.map((c) => [c, []]));
  try {
    for (let run = 1; run <= runs; run++) {
      for (const chunkSize of SWEEP_CHUNK_SIZES) {
        const result = await measureFeeder(bench, file, chunkSize).catch((error: unknown) => {
          if (bench.signal.aborted) throw error;
          return error as Error;
        });
        samples.get(chunkSize)!.push(result);
      }
      const line = SWEEP_CHUNK_SIZES.map((c) => samples.get(c)!.at(-1)!).map(
        (r, i) => `${SWEEP_CHUNK_SIZES[i]} ${r instanceof Error ? 'failed' : `${r.wallS.toFixed(2)} s`}`,
      );
      console.error(`bench: sweep run ${run}/${runs}: ${line.join(', ')}`);
    }
  } finally {
    await rm(file, { force: true });
  }
  return SWEEP_CHUNK_SIZES.map((chunkSize) => {
    const all = samples.get(chunkSize)!;
    const ok = all.filter((r): r is FeederRun => !(r instanceof Error));
    return {
      chunk_size: chunkSize,
      feeder_mib_s: ok.length === 0 ? null : round(size / MIB / median(ok.map((r) => r.wallS))),
      peak_rss_mib: ok.length === 0 ? null : round(median(ok.map((r) => r.peakRssMib))),
      samples: { feeder_wall_s: ok.map((r) => round(r.wallS, 3)), peak_rss_mib: ok.map((r) => round(r.peakRssMib)) },
      failures: all.filter((r): r is Error => r instanceof Error).map((e) => e.message),
    };
  });
}

/** The fastest chunk size that never failed and whose peak RSS stays under the limit. */
function recommendChunkSize(sweep: SweepResult[]): string | null {
  const fitting = sweep.filter((s) => s.failures.length === 0 && s.peak_rss_mib !== null && s.peak_rss_mib < RSS_LIMIT_MIB);
  if (fitting.length === 0) return null;
  return fitting.reduce((best, s) => (s.feeder_mib_s! > best.feeder_mib_s! ? s : best)).chunk_size;
}

function targets(sizes: SizeResult[]): Target[] {
  const out: Target[] = [];
  for (const s of sizes) {
    out.push(atLeast(`feeder_vs_raw @ ${s.size_mib} MiB`, s.feeder_vs_raw, 0.8));
    out.push(atLeast(`feeder_vs_sequential @ ${s.size_mib} MiB`, s.feeder_vs_sequential, 2));
    out.push(atLeast(`feeder_cbor_vs_feeder @ ${s.size_mib} MiB`, s.feeder_cbor_vs_feeder, 1.4));
    out.push(atLeast(`feeder_cbor_vs_raw_cbor @ ${s.size_mib} MiB`, s.feeder_cbor_vs_raw_cbor, 0.85));
    out.push(below(`disk_ratio_cbor @ ${s.size_mib} MiB`, s.disk_ratio_cbor, 0.8));
    out.push(below(`peak_rss_cbor_mib @ ${s.size_mib} MiB`, s.peak_rss_cbor_mib, RSS_LIMIT_MIB));
  }
  const largest = sizes.reduce((a, b) => (b.size_mib > a.size_mib ? b : a));
  out.push(below(`peak_rss_mib @ ${largest.size_mib} MiB`, largest.peak_rss_mib, RSS_LIMIT_MIB));
  const base = sizes.find((s) => s.size_mib === 256) ?? sizes.reduce((a, b) => (b.size_mib < a.size_mib ? b : a));
  if (base !== largest) {
    const diff = (Math.abs(largest.peak_rss_mib - base.peak_rss_mib) / base.peak_rss_mib) * 100;
    out.push(below(`peak_rss_mib @ ${largest.size_mib} MiB vs ${base.size_mib} MiB (% difference)`, diff, 10));
  }
  return out;
}

function printReport(report: {
  sizes: SizeResult[];
  sweep: SweepResult[];
  sweep_size_mib: number;
  recommended_chunk_size: string | null;
  targets: Target[];
  runs: number;
}): void {
  console.log(`\nUpload throughput (median of ${report.runs} runs; MiB of model per second)\n`);
  console.log(
    table(
      ['size MiB', 'feeder', 'raw bulk', 'sequential', 'peak RSS MiB', 'feeder/raw', 'feeder/seq'],
      report.sizes.map((s) => [
        s.size_mib,
        s.feeder_mib_s,
        s.raw_bulk_mib_s,
        s.sequential_mib_s,
        s.peak_rss_mib,
        s.feeder_vs_raw,
        s.feeder_vs_sequential,
      ]),
    ),
  );
  console.log('\nCBOR chunks (`_bulk` refuses CBOR: one PUT per document, upload.documentConcurrency in flight)\n');
  console.log(
    table(
      [
        'size MiB',
        'feeder cbor',
        'feeder base64',
        'cbor/base64',
        'raw cbor',
        'cbor/raw',
        'store MiB cbor',
        'store MiB base64',
        'disk ratio',
        'peak RSS MiB',
      ],
      report.sizes.map((s) => [
        s.size_mib,
        s.feeder_cbor_mib_s,
        s.feeder_mib_s,
        s.feeder_cbor_vs_feeder,
        s.raw_cbor_mib_s,
        s.feeder_cbor_vs_raw_cbor,
        s.store_mib.cbor,
        s.store_mib.base64,
        s.disk_ratio_cbor,
        s.peak_rss_cbor_mib,
      ]),
    ),
  );
  console.log('\nWhere the feeder command spends its time (medians, seconds)\n');
  console.log(
    table(
      ['size MiB', 'feeder wall', 'spawn to upload-start', 'logged upload', 'raw bulk', 'sequential'],
      report.sizes.map((s) => [
        s.size_mib,
        medianOf(s.samples.feeder_wall_s),
        medianOf(s.samples.feeder_startup_s),
        medianOf(s.samples.feeder_logged_upload_s),
        medianOf(s.samples.raw_bulk_s),
        medianOf(s.samples.sequential_s),
      ]),
    ),
  );
  console.log(`\nChunk-size sweep (${report.sweep_size_mib} MiB file)\n`);
  console.log(
    table(
      ['chunk size', 'feeder MiB/s', 'peak RSS MiB', 'failed runs', ''],
      report.sweep.map((s) => [
        s.chunk_size,
        s.feeder_mib_s ?? '-',
        s.peak_rss_mib ?? '-',
        `${s.failures.length}/${report.runs}`,
        s.chunk_size === report.recommended_chunk_size ? '<- recommended' : '',
      ]),
    ),
  );
  const failures = [...new Set(report.sweep.flatMap((s) => s.failures.map((f) => `${s.chunk_size}: ${f}`)))];
  if (failures.length > 0) console.log(`\nFailed sweep runs:\n${failures.map((f) => `  ${f}`).join('\n')}`);
  if (report.recommended_chunk_size === null)
    console.log(`\nNo chunk size kept the peak RSS under ${RSS_LIMIT_MIB} MiB without failing: none recommended.`);
  console.log('\nTargets\n');
  console.log(
    table(
      ['target', 'value', 'wanted', ''],
      report.targets.map((t) => [t.name, t.value, t.target, t.pass ? 'PASS' : 'MISS']),
    ),
  );
}

function medianOf(samples: Array<number | null>): string {
  const known = samples.filter((s): s is number => s !== null);
  return known.length === 0 ? '-' : median(known).toFixed(2);
}

await main().catch((error: unknown) => {
  console.error(`bench: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
});
