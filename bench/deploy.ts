// Deploy benchmark: the feeder's deploy (feedModel in a child node process, as the daemon runs it),
// of the same model stored in both chunk encodings (base64 JSON and CBOR), against the same chunk
// documents fetched raw by parallel HTTP with a lean reader (the Elasticsearch ceilings), the
// model file piped into the stub (the pipe ceiling), and a restore done as Elastic ML does it
// (sequential `_search` size 1 + `search_after`, decode, blocking write). Also the ceiling's
// fetch and the pipe into the stub run at once (fetch-and-feed): the least work any deploy must do,
// measured together on the same cores, so a missed ratio can be told apart from a machine limit.
//
//   npm run bench:deploy                        256 MiB, 1 GiB and 4 GiB, 3 runs each
//   BENCH_SIZES=64mb BENCH_RUNS=1 npm run bench:deploy
//   BENCH_PREFETCH=4 ...                        the feeder's deploy.prefetch (default: the config default)
//   BENCH_CHUNK_SIZE=4mb ...                    the upload's chunk size (default: the config default)
//
// Every native stub runs with --discard (it hashes and counts but keeps nothing), so its memory is
// not what is measured; up to 4 GiB - 1 the size header is u32, from 4 GiB on u64.
// Uses ES_URL when set, otherwise starts (and afterwards stops) the project's `benchd` node.
// Writes bench/results/deploy.json and prints a table.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, type FeederConfig, type HeaderKind } from '../src/config/config.js';
import { parseByteSize } from '../src/config/units.js';
import { Es } from '../src/es/es.js';
import { encodeSizeHeader } from '../src/feed/header.js';
import { createLogger, type Logger } from '../src/log/logger.js';
import { deleteModel } from '../src/maintenance/delete.js';
import { chunkDocId } from '../src/model/layout.js';
import type { ModelMeta } from '../src/model/meta.js';
import { codecFor, type ChunkEncoding } from '../src/chunks/codec/index.js';
import { uploadModel } from '../src/upload/upload.js';
import type { DeployChildOptions, DeployChildReport } from './support/deploy-child.js';
import { benchElasticsearch } from './support/es-node.js';
import { buildStamp } from './support/deploy-build.js';
import { esCpuClock } from './support/deploy-es-cpu.js';
import { RawHttp } from './support/deploy-http.js';
import { LeanReader } from './support/lean-reader.js';
import { pipeFileIntoStub, startStub, writeAll, type Stub } from './support/deploy-stub.js';
import { makeTempDir, writeRandomFile } from './support/files.js';
import { runNode } from './support/node-child.js';
import { cpuBudget, printCpuBudget, type CpuBudget } from './support/deploy-cpu.js';
import { atLeast, atMost, below, median, round, table, type Target } from './support/report.js';

const MIB = 1024 * 1024;
const U32_MAX = 2 ** 32 - 1;
const RSS_LIMIT_MIB = 150;
const RSS_SPREAD_PERCENT = 10;
/** Parallel GETs tried for the Elasticsearch ceiling; the best median is the ceiling. */
const ES_LIMIT_PARALLEL = [2, 4, 8];
/**
 * How the ceiling fetches a chunk: the stored source as is. (Earlier runs also tried `_doc` with
 * source filtering, which makes Elasticsearch parse and re-serialize each document: 190-225 MiB/s
 * against 500-650, never the ceiling, and a minute per 4 GiB run; dropped.)
 */
const esLimitPath = (index: string, id: string) => `/${index}/_source/${encodeURIComponent(id)}`;
const ES_LIMIT_VARIANTS = ES_LIMIT_PARALLEL.map((n) => `source N=${n}`);
/** The fetch of fetch-and-feed: the parallelism that has given the ceiling in every run so far. */
const FETCH_AND_FEED_PARALLEL = Math.max(...ES_LIMIT_PARALLEL);
const DEPLOY_CHILD = fileURLToPath(new URL('./support/deploy-child.js', import.meta.url));
const RESULT_FILE = fileURLToPath(new URL('../../bench/results/deploy.json', import.meta.url));

interface Bench {
  esUrl: string;
  es: Es;
  http: RawHttp;
  /** The ceilings' reader. */
  lean: LeanReader;
  config: FeederConfig;
  logger: Logger;
  dir: string;
  signal: AbortSignal;
  prefetch: number;
  /** CPU milliseconds the Elasticsearch node has used so far. */
  esCpuMs(): Promise<number>;
  name(kind: string): string;
}

/** One model stored in both encodings, and its file while the pipe baseline still needs it. */
interface Model {
  /** Stored as base64 JSON documents. */
  meta: ModelMeta;
  /** The same file stored as CBOR documents. */
  cbor: ModelMeta;
  file: string;
  size: number;
  header: HeaderKind;
  stubArgs: string[];
}

/** One timed run: wall seconds, and the CPU seconds Elasticsearch and this benchmark process spent meanwhile. */
interface Sample {
  s: number;
  es_cpu_s: number;
  /** This process's own CPU: the reader of the raw GETs, of the ML-style searches. */
  client_cpu_s: number;
}

interface FeederSample extends Sample {
  wall_s: number;
  node_cpu_s: number;
  native_cpu_s: number;
  peak_rss_mib: number;
  max_rss_mib: number;
  chunks_peak: number;
  es_calls: number;
  es_call_ms_mean: number;
  es_busy_s: number;
}

interface SizeResult {
  size_mib: number;
  header: HeaderKind;
  feeder_mib_s: number;
  /** The same model stored as CBOR: the deploy's fast path. */
  feeder_cbor_mib_s: number;
  feeder_cbor_vs_feeder: number;
  feeder_cbor_vs_pipe_limit: number;
  peak_rss_cbor_mib: number;
  /** The serving ceiling of the CBOR documents, read with Accept: application/cbor. */
  es_limit_cbor_mib_s: number;
  es_limit_cbor_method: string;
  feeder_cbor_vs_es_limit_cbor: number;
  fetch_and_feed_cbor_mib_s: number;
  cpu_cbor: CpuBudget;
  es_limit_mib_s: number;
  /** Which parallelism gave the ceiling. */
  es_limit_method: string;
  pipe_limit_mib_s: number;
  /** The ceiling's fetch and the pipe into the stub at once: MiB / the time until both are done. */
  fetch_and_feed_mib_s: number;
  fetch_and_feed_vs_es_limit: number;
  feeder_vs_fetch_and_feed: number;
  elastic_ml_style_mib_s: number;
  peak_rss_mib: number;
  feeder_vs_es_limit: number;
  feeder_vs_elastic_ml_style: number;
  cpu: CpuBudget;
  samples: {
    feeder: FeederSample[];
    feeder_cbor: FeederSample[];
    es_limit: Record<string, Sample[]>;
    es_limit_cbor: Record<string, Sample[]>;
    pipe_limit: Sample[];
    fetch_and_feed: Sample[];
    fetch_and_feed_cbor: Sample[];
    elastic_ml_style: Sample[];
  };
}

async function main(): Promise<void> {
  const sizes = (process.env.BENCH_SIZES ?? '256mb,1gb,4gb').split(',').map((s) => parseByteSize(s, 'BENCH_SIZES'));
  const runs = Number(process.env.BENCH_RUNS ?? 3);
  if (!Number.isSafeInteger(runs) || runs < 1)
    throw new Error(`BENCH_RUNS must be a whole number of at least 1; got '${process.env.BENCH_RUNS}'`);
  const cleanup: Array<() => Promise<unknown>> = [];
  const interrupt = new AbortController();
  const stop = () => interrupt.abort(new Error('interrupted'));
  process.once('SIGINT', stop).once('SIGTERM', stop);
  try {
    const node = await benchElasticsearch('benchd', 9280);
    cleanup.push(() => node.stop());
    const bench = await prepare(node.url, interrupt.signal, cleanup);
    const esVersion = await elasticsearchVersion(bench.http);
    const stampAtStart = await buildStamp(DEPLOY_CHILD);
    console.error(
      `bench: Elasticsearch ${esVersion}, sizes ${sizes.map((s) => s / MIB).join(', ')} MiB, ${runs} runs each, prefetch ${bench.prefetch}`,
    );

    const loadAtStart = loadavg()[0];
    const results: SizeResult[] = [];
    for (const size of sizes) results.push(await measureSize(bench, size, runs));

    const report = {
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        mem_gib: round(totalmem() / 1024 ** 3),
        node: process.version,
        loadavg_1m: { start: loadAtStart, end: loadavg()[0] },
      },
      es_version: esVersion,
      code: stampAtStart.code,
      runs,
      chunk_size: bench.config.upload.chunkSize,
      prefetch: bench.prefetch,
      deploy_code: {
        sha256: stampAtStart.deploy_code_sha256,
        changed_during_run: (await buildStamp(DEPLOY_CHILD)).deploy_code_sha256 !== stampAtStart.deploy_code_sha256,
      },
      method: {
        feeder:
          'feedModel in a child node process; MiB/s = model MiB / its durationMs (spawn of the native process to the verified loaded report); feeder_cbor: the same file uploaded with --encoding cbor',
        peak_rss: "the child's VmHWM at exit (getrusage maxRSS, kept as max_rss_mib, also carries the parent's RSS across fork+exec)",
        es_limit: `N parallel GET /<index>/_source/<id> of every chunk with a lean reader (undici dispatch, parts counted and dropped), N = ${ES_LIMIT_PARALLEL.join(', ')}; es_limit is the best median; es_limit_cbor the same of the CBOR documents with Accept: application/cbor`,
        pipe_limit: '{ printf <header>; cat <model file>; } | native-stub, until its loaded frame (file in the page cache)',
        fetch_and_feed: `es_limit's fetch (N = ${FETCH_AND_FEED_PARALLEL}) and pipe_limit's pipe started together; MiB / the time until both are done. Every deploy does at least this work (and decodes, checks and orders the chunks besides), so fetch_and_feed_vs_es_limit is the most of the ceiling any deploy reaches on this machine`,
        elastic_ml_style:
          '_search size 1, sort doc_num, search_after, filtered on model_id and generation, one at a time; base64 decoded; each write awaited',
        stub_flags: 'every native stub runs with --header <header> --discard',
      },
      daemon_cbor_ms_per_mib: daemonCborMsPerMib(results),
      sizes: results,
      targets: targets(results),
    };
    await mkdir(join(RESULT_FILE, '..'), { recursive: true });
    await writeFile(RESULT_FILE, `${JSON.stringify(report, null, 2)}\n`);
    printReport(report);
    if (report.deploy_code.changed_during_run)
      console.log(
        '\nWARNING: the compiled deploy code changed during the run (a rebuild by someone else): the samples mix feeder versions',
      );
    console.log('\nwritten to bench/results/deploy.json');
  } finally {
    for (const step of cleanup.reverse())
      await step().catch((error: unknown) => console.error(`bench: cleanup failed: ${(error as Error).message}`));
  }
}

async function prepare(esUrl: string, signal: AbortSignal, cleanup: Array<() => Promise<unknown>>): Promise<Bench> {
  const config = loadConfig({ esUrl, ...(process.env.BENCH_CHUNK_SIZE ? { chunkSize: process.env.BENCH_CHUNK_SIZE } : {}) }, {});
  const prefetch = process.env.BENCH_PREFETCH ? Number(process.env.BENCH_PREFETCH) : config.deploy.prefetch;
  const es = new Es(config.elasticsearch);
  cleanup.push(() => es.close());
  const http = new RawHttp(esUrl, Math.max(...ES_LIMIT_PARALLEL));
  cleanup.push(async () => http.close());
  const lean = new LeanReader(esUrl, Math.max(...ES_LIMIT_PARALLEL));
  cleanup.push(() => lean.close());
  const dir = await makeTempDir();
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const logger = createLogger({ level: 'warn', pretty: false });
  const esCpu = await esCpuClock(http, esUrl);
  console.error(`bench: Elasticsearch CPU time read from ${esCpu.source}`);
  let n = 0;
  return {
    esUrl,
    es,
    http,
    lean,
    config,
    logger,
    dir,
    signal,
    prefetch,
    esCpuMs: esCpu.read,
    name: (kind) => `bench-deploy-${process.pid}-${++n}-${kind}`,
  };
}

/** From the nodes info API: the test distribution the project runs has no `GET /`. */
async function elasticsearchVersion(http: RawHttp): Promise<string> {
  const info = await http.json<{ nodes: Record<string, { version: string }> }>('GET', '/_nodes/_local?filter_path=nodes.*.version');
  return Object.values(info.nodes)[0]!.version;
}

/** Uploads one random model, runs every measurement `runs` times (interleaved), removes the model and its file. */
async function measureSize(bench: Bench, size: number, runs: number): Promise<SizeResult> {
  const modelId = bench.name(`${size / MIB}mib`);
  const file = await writeRandomFile(bench.dir, size);
  try {
    const model = await storeModel(bench, modelId, file, size);
    const feeder: FeederSample[] = [];
    const feederCbor: FeederSample[] = [];
    const esLimit: Record<string, Sample[]> = Object.fromEntries(ES_LIMIT_VARIANTS.map((v) => [v, []]));
    const esLimitCbor: Record<string, Sample[]> = Object.fromEntries(ES_LIMIT_VARIANTS.map((v) => [v, []]));
    const pipe: Sample[] = [];
    const fetchAndFeed: Sample[] = [];
    const fetchAndFeedCbor: Sample[] = [];
    const mlStyle: Sample[] = [];
    const measurements = [
      async () => void feeder.push(await measureFeeder(bench, model, model.meta)),
      async () => void feederCbor.push(await measureFeeder(bench, model, model.cbor)),
      async () => {
        for (const n of ES_LIMIT_PARALLEL) esLimit[`source N=${n}`]!.push(await measureEsLimit(bench, model, model.meta, n));
      },
      async () => {
        for (const n of ES_LIMIT_PARALLEL) esLimitCbor[`source N=${n}`]!.push(await measureEsLimit(bench, model, model.cbor, n));
      },
      async () => void pipe.push(await measurePipeLimit(bench, model)),
      async () => void fetchAndFeed.push(await measureFetchAndFeed(bench, model, model.meta)),
      async () => void fetchAndFeedCbor.push(await measureFetchAndFeed(bench, model, model.cbor)),
      async () => void mlStyle.push(await measureElasticMlStyle(bench, model)),
    ];
    for (let run = 1; run <= runs; run++) {
      // A different one goes first each run, so none always follows the same one.
      for (let i = 0; i < measurements.length; i++) await measurements[(i + run - 1) % measurements.length]!();
      const limits = ES_LIMIT_VARIANTS.map((v) => `${v} ${esLimit[v]!.at(-1)!.s.toFixed(2)} s`).join(', ');
      const cborLimits = ES_LIMIT_VARIANTS.map((v) => `${v} ${esLimitCbor[v]!.at(-1)!.s.toFixed(2)} s`).join(', ');
      console.error(
        `bench: ${size / MIB} MiB run ${run}/${runs}: feeder ${feeder.at(-1)!.s.toFixed(2)} s (${feeder.at(-1)!.peak_rss_mib} MiB RSS), feeder cbor ${feederCbor.at(-1)!.s.toFixed(2)} s (${feederCbor.at(-1)!.peak_rss_mib} MiB RSS), es limit ${limits}, es limit cbor ${cborLimits}, pipe ${pipe.at(-1)!.s.toFixed(2)} s, fetch-and-feed ${fetchAndFeed.at(-1)!.s.toFixed(2)} s, cbor ${fetchAndFeedCbor.at(-1)!.s.toFixed(2)} s, ml-style ${mlStyle.at(-1)!.s.toFixed(2)} s`,
      );
    }
    return summarize(model, {
      feeder,
      feeder_cbor: feederCbor,
      es_limit: esLimit,
      es_limit_cbor: esLimitCbor,
      pipe_limit: pipe,
      fetch_and_feed: fetchAndFeed,
      fetch_and_feed_cbor: fetchAndFeedCbor,
      elastic_ml_style: mlStyle,
    });
  } finally {
    await rm(file, { force: true });
    for (const id of [modelId, `${modelId}-cbor`])
      await deleteModel(bench.es, id, bench.logger).catch((error: unknown) => {
        if ((error as Error).name !== 'ModelNotFoundError') throw error;
      });
  }
}

/**
 * The feeder's upload (not timed); then waits for merges and reads every chunk once, untimed, so the
 * first measurement does not pay for what comes first after an upload.
 */
async function storeModel(bench: Bench, modelId: string, file: string, size: number): Promise<Model> {
  const upload = async (id: string, encoding: ChunkEncoding) => {
    const started = performance.now();
    const meta = await uploadModel(
      { es: bench.es, config: bench.config, logger: bench.logger },
      { modelId: id, path: file, signal: bench.signal, encoding },
    );
    console.error(
      `bench: uploaded ${size / MIB} MiB as '${id}' (${encoding}) in ${((performance.now() - started) / 1000).toFixed(1)} s (${meta.chunk_count} chunks in ${meta.chunks_index})`,
    );
    return meta;
  };
  const meta = await upload(modelId, 'base64');
  const cbor = await upload(`${modelId}-cbor`, 'cbor');
  await settle(bench);
  const header: HeaderKind = size > U32_MAX ? 'u64' : 'u32';
  const model: Model = { meta, cbor, file, size, header, stubArgs: ['--header', header, '--discard'] };
  await measureEsLimit(bench, model, meta, 4);
  await measureEsLimit(bench, model, cbor, 4);
  return model;
}

/** feedModel in a child node process (deploy-child), as the daemon deploys. */
async function measureFeeder(bench: Bench, model: Model, meta: ModelMeta): Promise<FeederSample> {
  const options: DeployChildOptions = {
    esUrl: bench.esUrl,
    modelId: meta.model_id,
    header: model.header,
    args: model.stubArgs,
    prefetch: bench.prefetch,
  };
  const esCpu = await bench.esCpuMs();
  const started = performance.now();
  const out = await runNode([DEPLOY_CHILD, JSON.stringify(options)], bench.signal);
  const wall = (performance.now() - started) / 1000;
  const report = JSON.parse(out.trim().split('\n').pop()!) as DeployChildReport;
  if (report.bytes !== model.size) throw new Error(`the feeder deployed ${report.bytes} bytes of a ${model.size}-byte model`);
  return {
    s: report.duration_ms / 1000,
    es_cpu_s: ((await bench.esCpuMs()) - esCpu) / 1000,
    client_cpu_s: 0,
    wall_s: wall,
    node_cpu_s: report.cpu_ms / 1000,
    native_cpu_s: report.native_cpu_ms / 1000,
    peak_rss_mib: round((report.vm_hwm_kib ?? report.max_rss_kib) / 1024),
    max_rss_mib: round(report.max_rss_kib / 1024),
    chunks_peak: report.chunks_peak,
    es_calls: report.es_calls,
    es_call_ms_mean: report.es_call_ms_mean,
    es_busy_s: report.es_busy_ms / 1000,
  };
}

/** The Elasticsearch ceiling: every chunk fetched by id, `parallel` requests in flight, bodies discarded. */
async function measureEsLimit(bench: Bench, model: Model, meta: ModelMeta, parallel: number): Promise<Sample> {
  return timed(bench, () => fetchAllChunks(bench, model, meta, parallel));
}

/** The ceiling's fetch and the pipe ceiling at once, on the same cores: the least work of any deploy. */
async function measureFetchAndFeed(bench: Bench, model: Model, meta: ModelMeta): Promise<Sample> {
  return timed(bench, async () => {
    const stub = pipeFileIntoStub(bench.config.deploy.command, model.stubArgs, model.file, encodeSizeHeader(model.size, model.header));
    const fed = untilLoaded(stub, model).then(() => stub.exited);
    fed.catch(() => {}); // awaited below, once the fetch is done
    try {
      await fetchAllChunks(bench, model, meta, FETCH_AND_FEED_PARALLEL);
    } catch (error) {
      stub.kill();
      await fed.catch(() => {});
      throw error;
    }
    await fed;
  });
}

async function fetchAllChunks(bench: Bench, model: Model, meta: ModelMeta, parallel: number): Promise<void> {
  const { accept } = codecFor(meta.encoding);
  const paths = Array.from({ length: meta.chunk_count! }, (_, i) =>
    esLimitPath(meta.chunks_index, chunkDocId(meta.model_id, meta.generation, i)),
  );
  let next = 0;
  let received = 0;
  const worker = async () => {
    while (next < paths.length) {
      bench.signal.throwIfAborted();
      const bytes = await bench.lean.discard(paths[next++]!, accept);
      received += bytes;
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  // Base64 is 4/3 of the model; CBOR the model and a few dozen bytes per chunk.
  const least = meta.encoding === 'cbor' ? model.size : (model.size * 4) / 3;
  if (received < least) throw new Error(`the raw GETs received ${received} bytes for a ${model.size}-byte ${meta.encoding} model`);
}

/** The pipe ceiling: the size header and the model file through a shell pipe into the stub. */
async function measurePipeLimit(bench: Bench, model: Model): Promise<Sample> {
  return timed(bench, async () => {
    const stub = pipeFileIntoStub(bench.config.deploy.command, model.stubArgs, model.file, encodeSizeHeader(model.size, model.header));
    await untilLoaded(stub, model);
    await stub.exited;
  });
}

/** As Elastic ML restores a model: one `_search` (size 1, search_after) at a time, decoded, written, awaited. */
async function measureElasticMlStyle(bench: Bench, model: Model): Promise<Sample> {
  const { meta } = model;
  const filter = [{ term: { model_id: meta.model_id } }, { term: { generation: meta.generation } }];
  type Hits = { hits: { hits: Array<{ _source: { definition: string; eos: boolean }; sort: number[] }> } };
  return timed(bench, async () => {
    const stub = startStub(bench.config.deploy.command, model.stubArgs);
    const stdin = stub.stdin!;
    try {
      await writeAll(stdin, encodeSizeHeader(model.size, model.header));
      let after: number[] | undefined;
      for (;;) {
        bench.signal.throwIfAborted();
        const body = { size: 1, sort: [{ doc_num: 'asc' }], query: { bool: { filter } }, ...(after ? { search_after: after } : {}) };
        const hit = (await bench.http.json<Hits>('POST', `/${meta.chunks_index}/_search`, body)).hits.hits[0];
        if (!hit) break;
        await writeAll(stdin, Buffer.from(hit._source.definition, 'base64'));
        if (hit._source.eos) break;
        after = hit.sort;
      }
      await untilLoaded(stub, model);
      stdin.end();
      await stub.exited;
    } finally {
      stub.kill();
    }
  });
}

/** The stub's `loaded` frame, checked against the model; the stub is killed if it does not come. */
async function untilLoaded(stub: Stub, model: Model): Promise<void> {
  try {
    const loaded = await stub.loaded;
    if (loaded.bytes !== model.size || loaded.sha256 !== model.meta.sha256)
      throw new Error(
        `the stub reports ${loaded.bytes} bytes, sha256 ${loaded.sha256}; the model is ${model.size} bytes, sha256 ${model.meta.sha256}`,
      );
  } catch (error) {
    stub.kill();
    throw error;
  }
}

async function timed(bench: Bench, work: () => Promise<void>): Promise<Sample> {
  bench.signal.throwIfAborted();
  const esCpu = await bench.esCpuMs();
  const ownCpu = process.cpuUsage();
  const started = performance.now();
  await work();
  const s = (performance.now() - started) / 1000;
  const own = process.cpuUsage(ownCpu);
  return { s, es_cpu_s: ((await bench.esCpuMs()) - esCpu) / 1000, client_cpu_s: (own.user + own.system) / 1e6 };
}

/** Waits (up to a minute) until the node runs no merges. */
async function settle(bench: Bench): Promise<void> {
  for (let waited = 0; waited < 60_000; waited += 250) {
    const stats = await bench.http.json<{ nodes: Record<string, { indices: { merges: { current: number } } }> }>(
      'GET',
      '/_nodes/_local/stats/indices/merge?filter_path=nodes.*.indices.merges.current',
    );
    if (Object.values(stats.nodes).every((n) => n.indices.merges.current === 0)) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function summarize(model: Model, samples: SizeResult['samples']): SizeResult {
  const mib = model.size / MIB;
  const rate = (runs: Sample[]) => mib / median(runs.map((r) => r.s));
  const fastest = (of: Record<string, Sample[]>) => ES_LIMIT_VARIANTS.reduce((a, b) => (rate(of[b]!) > rate(of[a]!) ? b : a));
  const best = fastest(samples.es_limit);
  const bestCbor = fastest(samples.es_limit_cbor);
  const feeder = rate(samples.feeder);
  const feederCbor = rate(samples.feeder_cbor);
  const esLimit = rate(samples.es_limit[best]!);
  const esLimitCbor = rate(samples.es_limit_cbor[bestCbor]!);
  const pipeLimit = rate(samples.pipe_limit);
  const mlStyle = rate(samples.elastic_ml_style);
  const rounded = <T extends object>(runs: T[]) =>
    runs.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, round(v as number, 3)])) as T);
  return {
    size_mib: mib,
    header: model.header,
    feeder_mib_s: round(feeder),
    feeder_cbor_mib_s: round(feederCbor),
    feeder_cbor_vs_feeder: round(feederCbor / feeder, 2),
    feeder_cbor_vs_pipe_limit: round(feederCbor / pipeLimit, 2),
    peak_rss_cbor_mib: round(median(samples.feeder_cbor.map((r) => r.peak_rss_mib))),
    es_limit_cbor_mib_s: round(esLimitCbor),
    es_limit_cbor_method: bestCbor,
    feeder_cbor_vs_es_limit_cbor: round(feederCbor / esLimitCbor, 2),
    fetch_and_feed_cbor_mib_s: round(rate(samples.fetch_and_feed_cbor)),
    cpu_cbor: cpuBudget(mib, esLimitCbor, samples.es_limit_cbor[bestCbor]!, samples.feeder_cbor),
    es_limit_mib_s: round(esLimit),
    es_limit_method: best,
    pipe_limit_mib_s: round(pipeLimit),
    fetch_and_feed_mib_s: round(rate(samples.fetch_and_feed)),
    fetch_and_feed_vs_es_limit: round(rate(samples.fetch_and_feed) / esLimit, 2),
    feeder_vs_fetch_and_feed: round(feeder / rate(samples.fetch_and_feed), 2),
    elastic_ml_style_mib_s: round(mlStyle),
    peak_rss_mib: round(median(samples.feeder.map((r) => r.peak_rss_mib))),
    feeder_vs_es_limit: round(feeder / esLimit, 2),
    feeder_vs_elastic_ml_style: round(feeder / mlStyle, 2),
    cpu: cpuBudget(mib, esLimit, samples.es_limit[best]!, samples.feeder),
    samples: {
      feeder: rounded(samples.feeder),
      feeder_cbor: rounded(samples.feeder_cbor),
      es_limit: Object.fromEntries(Object.entries(samples.es_limit).map(([n, runs]) => [n, rounded(runs)])),
      es_limit_cbor: Object.fromEntries(Object.entries(samples.es_limit_cbor).map(([n, runs]) => [n, rounded(runs)])),
      pipe_limit: rounded(samples.pipe_limit),
      fetch_and_feed: rounded(samples.fetch_and_feed),
      fetch_and_feed_cbor: rounded(samples.fetch_and_feed_cbor),
      elastic_ml_style: rounded(samples.elastic_ml_style),
    },
  };
}

/** The daemon's CPU per MiB of a CBOR deploy, as the CPU table gives it, at the size where it is highest. */
function daemonCborMsPerMib(sizes: SizeResult[]): number {
  return Math.max(...sizes.map((s) => s.cpu_cbor.feeder_ms_per_mib.daemon));
}

function targets(sizes: SizeResult[]): Target[] {
  const out: Target[] = [atMost('daemon_cbor_ms_per_mib (the worst size)', daemonCborMsPerMib(sizes), 1.0)];
  for (const s of sizes) {
    if (s.size_mib >= 1024) out.push(atLeast(`feeder_cbor_vs_es_limit_cbor @ ${s.size_mib} MiB`, s.feeder_cbor_vs_es_limit_cbor, 0.9));
    out.push(atLeast(`feeder_vs_es_limit @ ${s.size_mib} MiB`, s.feeder_vs_es_limit, 0.85));
    out.push(atLeast(`feeder_vs_elastic_ml_style @ ${s.size_mib} MiB`, s.feeder_vs_elastic_ml_style, 2));
    out.push(below(`peak_rss_mib @ ${s.size_mib} MiB`, s.peak_rss_mib, RSS_LIMIT_MIB));
    if (s.size_mib >= 1024) out.push(atLeast(`feeder_cbor_vs_feeder @ ${s.size_mib} MiB`, s.feeder_cbor_vs_feeder, 1.5));
    out.push(atLeast(`feeder_cbor_vs_pipe_limit @ ${s.size_mib} MiB`, s.feeder_cbor_vs_pipe_limit, 0.6));
    out.push(below(`peak_rss_cbor_mib @ ${s.size_mib} MiB`, s.peak_rss_cbor_mib, RSS_LIMIT_MIB));
  }
  const smallest = sizes.reduce((a, b) => (b.size_mib < a.size_mib ? b : a));
  const largest = sizes.reduce((a, b) => (b.size_mib > a.size_mib ? b : a));
  if (smallest !== largest) {
    const spread = (Math.abs(largest.peak_rss_mib - smallest.peak_rss_mib) / smallest.peak_rss_mib) * 100;
    out.push(below(`peak_rss_mib @ ${largest.size_mib} MiB vs ${smallest.size_mib} MiB (% difference)`, spread, RSS_SPREAD_PERCENT));
    const spreadCbor = (Math.abs(largest.peak_rss_cbor_mib - smallest.peak_rss_cbor_mib) / smallest.peak_rss_cbor_mib) * 100;
    out.push(
      below(`peak_rss_cbor_mib @ ${largest.size_mib} MiB vs ${smallest.size_mib} MiB (% difference)`, spreadCbor, RSS_SPREAD_PERCENT),
    );
  }
  return out;
}

function printReport(report: { sizes: SizeResult[]; targets: Target[]; runs: number; prefetch: number; chunk_size: number }): void {
  console.log(
    `\nDeploy throughput (median of ${report.runs} runs; MiB of model per second; chunk size ${report.chunk_size / MIB} MiB, prefetch ${report.prefetch}; stubs with --discard)\n`,
  );
  console.log(
    table(
      ['size MiB', 'header', 'feeder', 'ES limit', '(how)', 'pipe limit', 'ML style', 'peak RSS MiB', 'feeder/ES', 'feeder/ML'],
      report.sizes.map((s) => [
        s.size_mib,
        s.header,
        s.feeder_mib_s,
        s.es_limit_mib_s,
        s.es_limit_method,
        s.pipe_limit_mib_s,
        s.elastic_ml_style_mib_s,
        s.peak_rss_mib,
        s.feeder_vs_es_limit,
        s.feeder_vs_elastic_ml_style,
      ]),
    ),
  );
  console.log("\nThe least work of any deploy, on the same cores: the ceiling's fetch and the pipe into the stub at once\n");
  console.log(
    table(
      ['size MiB', 'ES limit', 'fetch-and-feed', 'its share of ES limit', 'feeder', 'feeder/fetch-and-feed'],
      report.sizes.map((s) => [
        s.size_mib,
        s.es_limit_mib_s,
        s.fetch_and_feed_mib_s,
        s.fetch_and_feed_vs_es_limit,
        s.feeder_mib_s,
        s.feeder_vs_fetch_and_feed,
      ]),
    ),
  );
  printCpuBudget(report.sizes);
  console.log('\nThe same model stored as CBOR documents (Accept: application/cbor on the ceiling)\n');
  console.log(
    table(
      [
        'size MiB',
        'feeder cbor',
        'feeder base64',
        'cbor/base64',
        'pipe limit',
        'cbor/pipe',
        'ES limit cbor',
        '(how)',
        'cbor/ES cbor',
        'fetch-and-feed cbor',
        'peak RSS MiB',
      ],
      report.sizes.map((s) => [
        s.size_mib,
        s.feeder_cbor_mib_s,
        s.feeder_mib_s,
        s.feeder_cbor_vs_feeder,
        s.pipe_limit_mib_s,
        s.feeder_cbor_vs_pipe_limit,
        s.es_limit_cbor_mib_s,
        s.es_limit_cbor_method,
        s.feeder_cbor_vs_es_limit_cbor,
        s.fetch_and_feed_cbor_mib_s,
        s.peak_rss_cbor_mib,
      ]),
    ),
  );
  printCpuBudget(
    report.sizes.map((s) => ({ ...s, feeder_mib_s: s.feeder_cbor_mib_s, es_limit_mib_s: s.es_limit_cbor_mib_s, cpu: s.cpu_cbor })),
    'CBOR',
  );
  console.log('\nTargets\n');
  console.log(
    table(
      ['target', 'value', 'wanted', ''],
      report.targets.map((t) => [t.name, t.value, t.target, t.pass ? 'PASS' : 'MISS']),
    ),
  );
}

await main().catch((error: unknown) => {
  console.error(`bench: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
});
