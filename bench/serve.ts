// Serving benchmark (issue 20): all-MiniLM-L6-v2 in native-torch (made by scripts/make-torch-models.py),
// one 8-token row per request through `POST /deployments/<id>/infer`, closed loop from a load
// generator process of its own, at 1, 16 and 64 clients; against torch in Python on the same
// TorchScript file and cores, measured in the same run.
//
//   npm run bench:serve                          the whole run
//   BENCH_DURATION_MS=3000 BENCH_WARMUP_MS=1000  shorter windows
//   BENCH_TORCH_ARGS='["--threads","2"]'         native-torch's arguments (default --threads 1)
//   BENCH_DEPLOY='{"...":2}'                     more deploy settings for every deploy (e.g. workers)
//   BENCH_CANDIDATES='[[64,0],[64,2]]'           batching settings [max_batch_size, max_queue_delay_ms] tried for the best
//   BENCH_ONE_CLIENT_ROUNDS=3                    rounds of the one-client figures (daemon, bound, Python)
//
// Daemon settings: batching off (max_batch_size 1), the defaults, and the best of the candidates
// (chosen at 64 clients). Python: one row at a time on 1 thread (the single-row p50), and the best
// of batches of 8, 32 and 64 rows on 1 thread and on every core. The stub through its daemon, with
// the defaults, says what the way there and back costs. The one-client target's figures come from
// rounds that alternate the daemon (defaults), its bound (a bare node proxy in front of
// native-torch: the daemon's two hops and nothing else) and Python's single-row forward, each the
// median of its rounds (oneClientRounds); native-torch fed directly and a bare HTTP server show
// where the bound's time goes (boundParts). Uses ES_URL when set, otherwise starts (and afterwards
// stops) the project's `bench` node. Writes bench/results/serve.json and prints tables.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { packageRoot } from '../src/config/paths.js';
import { defaultParallelism } from '../src/native/parallelism.js';
import type { FeederServe } from './support/feeder-serve.js';
import type { BareProxyOptions } from './support/bare-proxy.js';
import type { CeilingOptions } from './support/http-ceiling.js';
import type { LoadOptions, LoadReport } from './support/load-generator.js';
import { loneRequestP50 } from './support/native-direct.js';
import { runNode, startNodeServer } from './support/node-child.js';
import { atLeast, atMost, median, round, table, wholeFromEnv, type Target } from './support/report.js';
import { prepareMiniLMBench, runCleanup, serveBench } from './support/minilm-bench.js';

const RESULT_FILE = fileURLToPath(new URL('../../bench/results/serve.json', import.meta.url));
const LOAD_GENERATOR = fileURLToPath(new URL('./support/load-generator.js', import.meta.url));
const HTTP_CEILING = fileURLToPath(new URL('./support/http-ceiling.js', import.meta.url));
const BARE_PROXY = fileURLToPath(new URL('./support/bare-proxy.js', import.meta.url));
const PYTHON_SCRIPT = join(packageRoot(), 'bench', 'support', 'torch-batch.py');
/** "[CLS] the cat sat on the mat [SEP]" in MiniLM's vocabulary. */
const TOKENS = [[101, 1996, 4937, 2938, 2006, 1996, 13523, 102]];
const CLIENTS = [1, 16, 64];
const PYTHON_BATCHES = [8, 32, 64];
const ROWS_RATIO_MIN = 0.8;
const P50_MARGIN_MS = 1;

interface Options {
  warmupMs: number;
  durationMs: number;
  torchArgs: string[];
  deploy: Record<string, unknown>;
  candidates: Array<[number, number]>;
  /** Rounds of the one-client figures (daemon, bare proxy, Python), alternating. */
  oneClientRounds: number;
}

interface Sample {
  clients: number;
  rows_s: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
}

interface Setting {
  name: string;
  max_batch_size?: number;
  max_queue_delay_ms?: number;
}

interface DeployTarget {
  serve: FeederServe;
  path: string;
}

async function main(): Promise<void> {
  const options = readOptions(process.env);
  const cleanup: Array<() => Promise<unknown>> = [];
  const loadAtStart = loadavg()[0]!;
  try {
    const bench = await prepareMiniLMBench('bench-serve', cleanup);
    const { torch, torchId, stubId } = bench;

    const torchServe = await serveBench(
      bench,
      `${torchId}-daemon`,
      { deploy: { command: torch.binary, args: options.torchArgs } },
      cleanup,
    );
    const target = { serve: torchServe, path: `/deployments/${torchId}` };
    // The defaults first: a repeated deploy keeps the batching it does not name.
    const defaults = await measureSetting(target, options, { name: 'defaults' });
    const off = await measureSetting(target, options, { name: 'batching off', max_batch_size: 1 });
    const best = await measureSetting(target, options, await bestCandidate(target, options));
    const answer = JSON.stringify(await torchServe.call('POST', `${target.path}/infer`, { tokens: TOKENS }));
    // Back to the defaults, named: the one-client rounds measure the daemon as a user who sets nothing runs it.
    await deployWith(target, options, {
      name: 'defaults',
      max_batch_size: defaults.max_batch_size,
      max_queue_delay_ms: defaults.max_queue_delay_ms,
    });
    const one = await oneClientRounds(target, torch.binary, torch.python, bench.modelFile, options);
    await torchServe.call('DELETE', target.path);

    const stubServe = await serveBench(bench, `${stubId}-daemon`, {}, cleanup);
    const stubTarget = { serve: stubServe, path: `/deployments/${stubId}` };
    const stub = await measureSetting(stubTarget, options, { name: 'stub, defaults' });
    await stubServe.call('DELETE', stubTarget.path);

    const python = await pythonReference(torch.python, bench.modelFile, options);
    const parts = await boundParts(torch.binary, bench.modelFile, options, one.python_single_p50_ms, answer);
    const report = buildReport(
      options,
      { off, defaults, best, stub },
      python,
      { ...one, ...parts },
      {
        cpus: cpus().length,
        loadavg_1m: { start: round(loadAtStart, 2), end: round(loadavg()[0]!, 2) },
      },
    );
    await mkdir(dirname(RESULT_FILE), { recursive: true });
    await writeFile(RESULT_FILE, `${JSON.stringify(report, null, 2)}\n`);
    printReport(report);
    console.log('\nwritten to bench/results/serve.json');
  } finally {
    await runCleanup(cleanup);
  }
}

function readOptions(env: NodeJS.ProcessEnv): Options {
  const json = <T>(name: string, fallback: T): T => (env[name] ? (JSON.parse(env[name]) as T) : fallback);
  return {
    warmupMs: wholeFromEnv(env, 'BENCH_WARMUP_MS', 2000, 0),
    durationMs: wholeFromEnv(env, 'BENCH_DURATION_MS', 6000, 500),
    torchArgs: json('BENCH_TORCH_ARGS', ['--threads', '1']),
    oneClientRounds: wholeFromEnv(env, 'BENCH_ONE_CLIENT_ROUNDS', 3, 1),
    deploy: json('BENCH_DEPLOY', {}),
    candidates: json('BENCH_CANDIDATES', [
      [16, 0],
      [64, 0],
      [64, 2],
    ]),
  };
}

/** Deploys (or, deployed, changes the batching of) the model with `setting`, waiting until it is started. */
async function deployWith(target: DeployTarget, options: Options, setting: Setting): Promise<void> {
  const { name: _name, ...batching } = setting;
  const body = { wait_for: 'started', timeout_ms: 300_000, ...options.deploy, ...batching };
  const status = await target.serve.call<{ state: string; reason: string | null }>('PUT', target.path, body);
  if (status.state !== 'started') throw new Error(`the deployment ${target.path} is ${status.state}: ${status.reason}`);
}

/** The deploy's settings as the daemon shows them, then a closed loop at each number of clients. */
async function measureSetting(target: DeployTarget, options: Options, setting: Setting) {
  await deployWith(target, options, setting);
  const shown = await target.serve.call<{ max_batch_size: number; max_queue_delay_ms: number }>('GET', target.path);
  const samples: Sample[] = [];
  for (const clients of CLIENTS) {
    samples.push(await measure(target, options, clients));
    const s = samples.at(-1)!;
    console.error(`bench: ${setting.name}, ${clients} clients: ${s.rows_s} rows/s, p50 ${s.p50_ms} ms, ${s.errors} errors`);
  }
  return { name: setting.name, max_batch_size: shown.max_batch_size, max_queue_delay_ms: shown.max_queue_delay_ms, samples };
}

/** The candidate with the most rows/s at 64 clients. */
async function bestCandidate(target: DeployTarget, options: Options): Promise<Setting> {
  let best: { setting: Setting; rows: number } | null = null;
  for (const [size, delay] of options.candidates) {
    const setting = { name: 'best', max_batch_size: size, max_queue_delay_ms: delay };
    await deployWith(target, options, setting);
    const { rows_s: rows } = await measure(target, options, 64);
    console.error(`bench: candidate ${size}/${delay} ms at 64 clients: ${rows} rows/s`);
    if (!best || rows > best.rows) best = { setting, rows };
  }
  return best!.setting;
}

async function measure(target: DeployTarget, options: Options, clients: number): Promise<Sample> {
  return measureAt(target.serve.url, `${target.path}/infer`, options, clients);
}

async function measureAt(origin: string, path: string, options: Options, clients: number): Promise<Sample> {
  const load: LoadOptions = {
    origin,
    method: 'POST',
    path,
    body: JSON.stringify({ tokens: TOKENS }),
    contentType: 'application/json',
    connections: clients,
    warmupMs: options.warmupMs,
    durationMs: options.durationMs,
    expect: '"type":"result"',
  };
  const out = await runNode([LOAD_GENERATOR, JSON.stringify(load)], new AbortController().signal);
  const report = JSON.parse(out.trim().split('\n').pop()!) as LoadReport;
  return { clients, rows_s: round(report.rps), p50_ms: round(report.p50_ms, 3), p99_ms: round(report.p99_ms, 3), errors: report.errors };
}

/**
 * The one-client target's three figures, measured in alternating rounds so that a machine whose
 * speed drifts during the run (a busy host) weighs on each alike: the daemon (deployed with the
 * defaults), the bound, and Python's single-row forward; each the median of its rounds. The bound is
 * a bare node proxy (bare-proxy.ts): the daemon's two hops in one node process, HTTP in, a frame to
 * native-torch and its answer back out, with nothing else the daemon does, on the daemon's default
 * workers.
 */
async function oneClientRounds(target: DeployTarget, binary: string, python: string, modelFile: string, options: Options) {
  const proxyOptions: BareProxyOptions = { binary, model: modelFile, args: nativeArgs(options) };
  const proxy = await startOwnServer(BARE_PROXY, proxyOptions);
  const rounds = { daemon: [] as number[], bare_proxy: [] as number[], python: [] as number[] };
  try {
    const steps: Array<() => Promise<void>> = [
      async () => void rounds.daemon.push((await measure(target, options, 1)).p50_ms),
      async () => void rounds.bare_proxy.push((await measureClean(`http://127.0.0.1:${proxy.ready}`, options)).p50_ms),
      async () => void rounds.python.push((await pythonRun(python, modelFile, options.durationMs / 1000, 1, 1)).p50_ms),
    ];
    for (let round = 0; round < options.oneClientRounds; round++) {
      for (const step of round % 2 ? [...steps].reverse() : steps) await step();
      console.error(
        `bench: one client, round ${round + 1}: daemon ${rounds.daemon.at(-1)} ms, bare proxy ${rounds.bare_proxy.at(-1)} ms, Python ${rounds.python.at(-1)} ms`,
      );
    }
  } finally {
    await proxy.stop();
  }
  return {
    daemon_p50_ms: round(median(rounds.daemon), 3),
    bound_p50_ms: round(median(rounds.bare_proxy), 3),
    python_single_p50_ms: round(median(rounds.python), 3),
    rounds,
  };
}

/**
 * Where the bare proxy's time goes, each measured once: native-torch fed directly by this process
 * (no HTTP), and what a bare node:http server adds to an answer it is busy computing for Python's
 * single-row p50, as a model served in its own process would be.
 */
async function boundParts(binary: string, modelFile: string, options: Options, workMs: number, answer: string) {
  const window = { warmupMs: options.warmupMs, durationMs: options.durationMs };
  const direct = await loneRequestP50(binary, await readFile(modelFile), nativeArgs(options), TOKENS, window);
  console.error(
    `bench: native-torch fed directly, one request at a time: p50 ${direct.p50_ms} ms (${direct.process_p50_ms} ms in the process)`,
  );
  const ceiling: CeilingOptions = { body: answer, contentType: 'application/json', workMs };
  const server = await startOwnServer(HTTP_CEILING, ceiling);
  try {
    const floor = await measureClean(`http://127.0.0.1:${server.ready}`, options);
    const httpOverhead = round(floor.p50_ms - workMs, 3);
    console.error(`bench: a bare HTTP server busy ${workMs} ms per answer: p50 ${floor.p50_ms} ms, ${httpOverhead} ms over its work`);
    return {
      native_direct_p50_ms: direct.p50_ms,
      native_direct_in_process_p50_ms: direct.process_p50_ms,
      http_floor_p50_ms: floor.p50_ms,
      http_overhead_ms: httpOverhead,
    };
  } finally {
    await server.stop();
  }
}

/** native-torch's arguments outside the daemon: the benchmark's, with the workers the daemon defaults to. */
function nativeArgs(options: Options): string[] {
  return [...options.torchArgs, '--workers', String(defaultParallelism().workers)];
}

/** A node server of this benchmark's own (`script` with `config`), once it prints the port it listens on. */
function startOwnServer(script: string, config: object) {
  return startNodeServer([script, JSON.stringify(config)], { ready: (line) => (JSON.parse(line) as { port: number }).port });
}

/** One client against a server of this benchmark's own, every answer a good one. */
async function measureClean(origin: string, options: Options): Promise<Sample> {
  const sample = await measureAt(origin, '/deployments/x/infer', options, 1);
  if (sample.errors) throw new Error(`${origin}: ${sample.errors} of its answers were errors`);
  return sample;
}

interface PythonRun {
  batch: number;
  threads: number;
  rows_s: number;
  p50_ms: number;
}

async function pythonRun(python: string, model: string, seconds: number, batch: number, threads: number): Promise<PythonRun> {
  const { stdout } = await execa(python, [PYTHON_SCRIPT, model, JSON.stringify(TOKENS), String(seconds), String(batch), String(threads)]);
  const run = JSON.parse(stdout) as { rows_s: number; p50_ms: number };
  console.error(`bench: Python, batch ${batch}, ${threads} threads: ${round(run.rows_s)} rows/s, p50 ${round(run.p50_ms, 3)} ms`);
  return { batch, threads, rows_s: round(run.rows_s), p50_ms: round(run.p50_ms, 3) };
}

/** One row at a time on one thread, then the batches on one thread and on every core. */
async function pythonReference(python: string, model: string, options: Options) {
  const seconds = options.durationMs / 1000;
  const single = await pythonRun(python, model, seconds, 1, 1);
  const batched: PythonRun[] = [];
  for (const threads of [...new Set([1, cpus().length])])
    for (const batch of PYTHON_BATCHES) batched.push(await pythonRun(python, model, seconds, batch, threads));
  const best = batched.reduce((a, b) => (b.rows_s > a.rows_s ? b : a));
  return { single, batched, best };
}

type Measured = Awaited<ReturnType<typeof measureSetting>>;

function buildReport(
  options: Options,
  daemon: { off: Measured; defaults: Measured; best: Measured; stub: Measured },
  python: Awaited<ReturnType<typeof pythonReference>>,
  one: Awaited<ReturnType<typeof oneClientRounds>> & Awaited<ReturnType<typeof boundParts>>,
  machine: { cpus: number; loadavg_1m: { start: number; end: number } },
) {
  const at = (m: Measured, clients: number) => m.samples.find((s) => s.clients === clients)!;
  const rows64 = at(daemon.defaults, 64).rows_s;
  const targets: Target[] = [
    atLeast('daemon_rows_s_64 / python_best_rows_s', rows64 / python.best.rows_s, ROWS_RATIO_MIN),
    atMost('daemon_p50_ms_1 - python_single_p50_ms', round(one.daemon_p50_ms - one.python_single_p50_ms, 3), P50_MARGIN_MS),
  ];
  return {
    model: { name: 'all-MiniLM-L6-v2 (scripts/make-torch-models.py)', tokens: TOKENS },
    daemon_rows_s_64: rows64,
    python_best_rows_s: python.best.rows_s,
    // The medians of the alternating one-client rounds (oneClientRounds).
    daemon_p50_ms_1: one.daemon_p50_ms,
    python_single_p50_ms: one.python_single_p50_ms,
    // The least the one-client p50 can be here, a bare node proxy, and how far above Python's it is.
    bound_p50_ms_1: one.bound_p50_ms,
    bound_over_python_ms: round(one.bound_p50_ms - one.python_single_p50_ms, 3),
    one_client: one,
    torch_args: options.torchArgs,
    deploy: options.deploy,
    window_ms: { warmup: options.warmupMs, measured: options.durationMs },
    daemon: [daemon.off, daemon.defaults, daemon.best, daemon.stub],
    python,
    targets,
    machine,
  };
}

type Report = ReturnType<typeof buildReport>;

function printReport(report: Report): void {
  const { cpus: cores, loadavg_1m: load } = report.machine;
  console.log(
    `\n${report.model.name}, one 8-token row per request, native-torch ${report.torch_args.join(' ')}; ${cores} cores, load average ${load.start} at the start, ${load.end} at the end\n`,
  );
  const rows = report.daemon.flatMap((m) =>
    m.samples.map((s) => [
      `${m.name} (batch ${m.max_batch_size}, delay ${m.max_queue_delay_ms} ms)`,
      s.clients,
      s.rows_s,
      s.p50_ms,
      s.p99_ms,
      s.errors,
    ]),
  );
  console.log(table(['through the daemon', 'clients', 'rows/s', 'p50 ms', 'p99 ms', 'errors'], rows));
  const { single, batched, best } = report.python;
  const pythonRows = [single, ...batched].map((r) => [
    `batch ${r.batch}, ${r.threads} thread${r.threads > 1 ? 's' : ''}`,
    r.rows_s,
    r.p50_ms,
  ]);
  console.log(`\n${table(['Python torch, same file', 'rows/s', 'forward p50 ms'], pythonRows)}`);
  console.log(`(best: batch ${best.batch}, ${best.threads} threads)`);
  const one = report.one_client;
  const each = (values: number[]) => values.join(' / ');
  const oneRows = [
    ['Python, one row, in its own process (forward only)', report.python_single_p50_ms, each(one.rounds.python)],
    ['bound: a bare node proxy in front of native-torch', report.bound_p50_ms_1, each(one.rounds.bare_proxy)],
    ['the daemon, defaults', report.daemon_p50_ms_1, each(one.rounds.daemon)],
    ["  where the proxy's time goes, measured once:", '', ''],
    ['  native-torch fed directly, no HTTP', one.native_direct_p50_ms, ''],
    [`    of which the process's own handling (time_ms)`, one.native_direct_in_process_p50_ms, ''],
    [`  bare HTTP server busy ${report.python_single_p50_ms} ms per answer`, one.http_floor_p50_ms, ''],
  ];
  console.log(`\n${table(['one client, p50', 'median ms', 'rounds (ms)'], oneRows)}`);
  console.log(
    `(the bound is ${report.bound_over_python_ms} ms above Python's forward; the daemon ${round(report.daemon_p50_ms_1 - report.bound_p50_ms_1, 3)} ms above the bound)`,
  );
  console.log(
    `\n${table(
      ['target', 'value', 'target', 'met'],
      report.targets.map((t) => [t.name, t.value, t.target, t.pass ? 'yes' : 'NO']),
    )}`,
  );
}

await main();
