// Inference benchmark: requests/s and latency of `POST /deployments/<id>/infer` through a real
// `feeder serve` and its native stub, against a bare node:http server answering the daemon's own
// answer (the HTTP ceiling), with 1, 16 and 64 concurrent keep-alive clients.
//
//   npm run bench:infer                          3 runs of 1, 16 and 64 clients, 1 s warm-up + 5 s each
//   BENCH_RUNS=1 npm run bench:infer             a quick look
//   BENCH_CLIENTS=64 BENCH_DURATION_S=10 ...     other client counts, a longer window
//   BENCH_PROFILE=1 ...                          then a CPU profile of a daemon under the most clients
//
// The load comes from a process of its own (support/load-generator.ts), the ceiling is a process of
// its own (support/http-ceiling.ts), and the daemon is the built CLI; daemon and ceiling runs
// alternate, the first of each pair changing every run, so noise hits both.
// Uses ES_URL when set, otherwise starts (and afterwards stops) the project's `bench` node.
// Writes bench/results/infer.json and prints a table.
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { summarizeProfile, printProfile, type ProfileSummary } from './support/cpu-profile.js';
import { buildStamp } from './support/deploy-build.js';
import { procCpuMs } from './support/deploy-es-cpu.js';
import { benchElasticsearch } from './support/es-node.js';
import { CLI, feederDelete, feederUpload } from './support/feeder-cli.js';
import { startFeederServe, type FeederServe, type ServeOptions } from './support/feeder-serve.js';
import { makeTempDir, writeRandomFile } from './support/files.js';
import type { CeilingOptions } from './support/http-ceiling.js';
import type { LoadOptions, LoadReport } from './support/load-generator.js';
import { runNode, startNodeServer } from './support/node-child.js';
import { atLeast, below, median, round, table, type Target, wholeFromEnv } from './support/report.js';

const MODEL_BYTES = 1024 * 1024;
/** The request of the issue: one row of three tokens. */
const REQUEST_BODY = JSON.stringify({ tokens: [[1, 2, 3]] });
const RPS_RATIO_MIN = 0.5;
const P99_RATIO_MAX = 5;
const LOAD_GENERATOR = fileURLToPath(new URL('./support/load-generator.js', import.meta.url));
const HTTP_CEILING = fileURLToPath(new URL('./support/http-ceiling.js', import.meta.url));
const RESULT_FILE = fileURLToPath(new URL('../../bench/results/infer.json', import.meta.url));
const PROFILE_FILE = fileURLToPath(new URL('../../bench/results/infer-daemon.cpuprofile', import.meta.url));

/** Ctrl-C or SIGTERM: said in one line, not with the stack of whichever wait it cut short. */
class Interrupted extends Error {
  constructor() {
    super('interrupted; every process it started has been stopped');
  }
}

interface Options {
  clients: number[];
  runs: number;
  warmupMs: number;
  durationMs: number;
  profile: boolean;
}

/** Something to load: where it listens, and the processes whose CPU time is its cost. */
interface LoadTarget {
  kind: 'daemon' | 'ceiling';
  origin: string;
  path: string;
  pids: { server: number; native?: number };
}

/** One fixed-duration load on one target. */
interface Sample {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  mean_ms: number;
  max_ms: number;
  requests: number;
  errors: number;
  error_detail: LoadReport['error_detail'];
  /** By the load generator's pool: the client count when keep-alive held throughout. */
  connections_opened: number;
  window_us: LoadReport['window_us'];
  /** CPU time per answer (µs), warm-up included: the server process, the native stub (daemon only), the load generator. */
  cpu_us_per_request: { server: number; native: number | null; generator: number };
  /** Involuntary context switches of the server's main thread per answer, warm-up included. */
  preempted_per_request: number;
}

interface Figures {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  cpu_us_per_request: { server: number; native: number | null; generator: number };
  preempted_per_request: number;
}

interface ClientsResult {
  clients: number;
  daemon: Figures;
  ceiling: Figures;
  rps_ratio: number;
  p99_ratio: number;
  /**
   * The ceiling's CPU per request / the daemon's and its native stub's: the rps ratio the two would
   * reach if each were CPU-bound on cores of its own, without the load generator beside it.
   */
  cpu_ratio: number | null;
  samples: { daemon: Sample[]; ceiling: Sample[] };
}

interface Bench {
  options: Options;
  dir: string;
  signal: AbortSignal;
  /** The daemon's answer to the request, and its content type: what the ceiling answers. */
  answer: CeilingOptions;
}

async function main(): Promise<void> {
  const options = readOptions(process.env);
  const cleanup: Array<() => Promise<unknown>> = [];
  const interrupt = new AbortController();
  // `on`: a second Ctrl-C must not kill the benchmark half-way through its cleanup.
  const stop = () => interrupt.abort(new Error('interrupted'));
  process.on('SIGINT', stop).on('SIGTERM', stop);
  try {
    const stampAtStart = await buildStamp(CLI);
    const node = await benchElasticsearch();
    cleanup.push(() => node.stop());
    const dir = await makeTempDir();
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const modelId = `bench-infer-${process.pid}`;
    await uploadModel(node.url, dir, modelId, cleanup);
    interrupt.signal.throwIfAborted();
    const daemon = await startDeployed({ esUrl: node.url, dir, name: `${modelId}-daemon` }, modelId, cleanup);
    interrupt.signal.throwIfAborted();
    const bench: Bench = { options, dir, signal: interrupt.signal, answer: await daemonAnswer(daemon.serve, daemon.target.path) };
    const ceiling = await startCeiling(bench, cleanup);
    console.error(
      `bench: clients ${options.clients.join(', ')}, ${options.runs} runs, ${options.warmupMs / 1000} s warm-up + ${options.durationMs / 1000} s each; answer ${Buffer.byteLength(bench.answer.body)} bytes`,
    );

    const samples = options.clients.map((clients) => ({ clients, daemon: [] as Sample[], ceiling: [] as Sample[] }));
    for (let run = 1; run <= options.runs; run++) {
      for (const row of samples) {
        // Which goes first changes every run, so neither always follows the other.
        const pair = run % 2 === 1 ? [daemon.target, ceiling] : [ceiling, daemon.target];
        for (const target of pair) row[target.kind].push(await measure(bench, target, row.clients));
        const d = row.daemon.at(-1)!;
        const c = row.ceiling.at(-1)!;
        console.error(
          `bench: run ${run}/${options.runs}, ${row.clients} clients: daemon ${Math.round(d.rps)} rps p99 ${round(d.p99_ms, 2)} ms (${d.errors} errors), ceiling ${Math.round(c.rps)} rps p99 ${round(c.p99_ms, 2)} ms (${c.errors} errors)`,
        );
      }
    }
    const results = samples.map((row) => summarize(row.clients, { daemon: row.daemon, ceiling: row.ceiling }));
    const profile = options.profile ? await profileDaemon(bench, node.url, modelId, Math.max(...options.clients)) : null;
    const report = buildReport(options, results, stampAtStart.code, profile);
    const changed = (await buildStamp(CLI)).deploy_code_sha256 !== stampAtStart.deploy_code_sha256;
    await mkdir(dirname(RESULT_FILE), { recursive: true });
    await writeFile(
      RESULT_FILE,
      `${JSON.stringify({ ...report, daemon_code: { sha256: stampAtStart.deploy_code_sha256, changed_during_run: changed } }, null, 2)}\n`,
    );
    printReport(report);
    if (profile)
      printProfile(
        profile.summary,
        `the daemon under ${profile.clients} clients (${Math.round(profile.sample.rps)} rps, ${profile.sample.cpu_us_per_request.server} µs of CPU per request while profiled)`,
      );
    if (changed) console.log('\nWARNING: the compiled daemon changed during the run (a rebuild by someone else): the samples mix versions');
    console.log('\nwritten to bench/results/infer.json');
  } catch (error) {
    if (interrupt.signal.aborted) throw new Interrupted();
    throw error;
  } finally {
    for (const step of cleanup.reverse())
      await step().catch((error: unknown) => console.error(`bench: cleanup failed: ${(error as Error).message}`));
    process.off('SIGINT', stop).off('SIGTERM', stop);
  }
}

function readOptions(env: NodeJS.ProcessEnv): Options {
  const whole = (name: string, fallback: number, min: number) => wholeFromEnv(env, name, fallback, min);
  const clients = (env.BENCH_CLIENTS ?? '1,16,64').split(',').map((s) => Number(s.trim()));
  if (clients.some((n) => !Number.isSafeInteger(n) || n < 1))
    throw new Error(`BENCH_CLIENTS must list whole numbers of at least 1; got '${env.BENCH_CLIENTS}'`);
  const profile = env.BENCH_PROFILE === '1' || env.BENCH_PROFILE === 'true';
  return {
    clients,
    runs: whole('BENCH_RUNS', 3, 1),
    warmupMs: whole('BENCH_WARMUP_S', 1, 0) * 1000,
    durationMs: whole('BENCH_DURATION_S', 5, 1) * 1000,
    profile,
  };
}

/** A small random model, uploaded with the real CLI; deleted again at the end. */
async function uploadModel(esUrl: string, dir: string, modelId: string, cleanup: Array<() => Promise<unknown>>): Promise<void> {
  const file = await writeRandomFile(dir, MODEL_BYTES);
  cleanup.push(() => feederDelete(esUrl, modelId));
  await feederUpload(esUrl, file, modelId, '1mb', join(dir, 'upload.rss'));
}

/** `feeder serve` with the model deployed into the native stub. */
async function startDeployed(
  serveOptions: ServeOptions,
  modelId: string,
  cleanup: Array<() => Promise<unknown>>,
): Promise<{ serve: FeederServe; target: LoadTarget }> {
  const serve = await startFeederServe(serveOptions);
  cleanup.push(() => serve.stop());
  const path = `/deployments/${encodeURIComponent(modelId)}`;
  // Undeployed before the daemon stops, so that its record in Elasticsearch goes and the model can be deleted.
  cleanup.push(() => serve.call('DELETE', path));
  const status = await serve.call<{ state: string; reason: string | null; pid: number | null }>('PUT', path, {
    wait_for: 'started',
    timeout_ms: 60_000,
  });
  if (status.state !== 'started' || status.pid === null)
    throw new Error(`the deployment of '${modelId}' is ${status.state}: ${status.reason}`);
  return { serve, target: { kind: 'daemon', origin: serve.url, path: `${path}/infer`, pids: { server: serve.pid, native: status.pid } } };
}

/** One answer of the daemon, checked to be an inference result: the body the ceiling will answer with. */
async function daemonAnswer(serve: FeederServe, path: string): Promise<CeilingOptions> {
  const res = await fetch(`${serve.url}${path}`, { method: 'POST', body: REQUEST_BODY, headers: { 'content-type': 'application/json' } });
  const body = await res.text();
  if (res.status !== 200 || (JSON.parse(body) as { type?: string }).type !== 'result')
    throw new Error(`the daemon answered the inference with HTTP ${res.status}: ${body.slice(0, 500)}`);
  return { body, contentType: res.headers.get('content-type') ?? 'application/json' };
}

async function startCeiling(bench: Bench, cleanup: Array<() => Promise<unknown>>): Promise<LoadTarget> {
  const server = await startNodeServer([HTTP_CEILING, JSON.stringify(bench.answer)], {
    ready: (line) => (JSON.parse(line) as { port: number }).port,
  });
  cleanup.push(() => server.stop());
  return { kind: 'ceiling', origin: `http://127.0.0.1:${server.ready}`, path: '/deployments/x/infer', pids: { server: server.pid } };
}

/** One closed-loop load of `clients` connections from the load generator's own process. */
async function measure(bench: Bench, target: LoadTarget, clients: number): Promise<Sample> {
  bench.signal.throwIfAborted();
  const load: LoadOptions = {
    origin: target.origin,
    method: 'POST',
    path: target.path,
    body: REQUEST_BODY,
    contentType: 'application/json',
    connections: clients,
    warmupMs: bench.options.warmupMs,
    durationMs: bench.options.durationMs,
    expect: '"type":"result"',
  };
  const cpuBefore = await cpuOf(target);
  const preemptedBefore = await preemptions(target.pids.server);
  const out = await runNode([LOAD_GENERATOR, JSON.stringify(load)], bench.signal);
  const cpuAfter = await cpuOf(target);
  const preemptedAfter = await preemptions(target.pids.server);
  const report = JSON.parse(out.trim().split('\n').pop()!) as LoadReport;
  const perAnswer = (ms: number) => round((ms * 1000) / Math.max(1, report.total_answers), 1);
  return {
    rps: round(report.rps),
    p50_ms: round(report.p50_ms, 3),
    p99_ms: round(report.p99_ms, 3),
    mean_ms: round(report.mean_ms, 3),
    max_ms: round(report.max_ms, 3),
    requests: report.requests,
    errors: report.errors,
    error_detail: report.error_detail,
    connections_opened: report.connections_opened,
    window_us: report.window_us,
    cpu_us_per_request: {
      server: perAnswer(cpuAfter.server - cpuBefore.server),
      native: cpuAfter.native === null || cpuBefore.native === null ? null : perAnswer(cpuAfter.native - cpuBefore.native),
      generator: perAnswer(report.cpu_ms),
    },
    preempted_per_request: round((preemptedAfter - preemptedBefore) / Math.max(1, report.total_answers), 3),
  };
}

/**
 * How often the server's main thread was taken off its core while it could still run. Writing to a
 * pipe wakes the process that reads it, and on a busy machine the kernel may switch to that process
 * at once: a sampling profile then charges the wait to the write.
 */
async function preemptions(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^nonvoluntary_ctxt_switches:\s+(\d+)$/m.exec(status)?.[1] ?? NaN);
}

async function cpuOf(target: LoadTarget): Promise<{ server: number; native: number | null }> {
  return {
    server: await procCpuMs(target.pids.server),
    native: target.pids.native === undefined ? null : await procCpuMs(target.pids.native),
  };
}

function summarize(clients: number, samples: ClientsResult['samples']): ClientsResult {
  const daemon = figures(samples.daemon);
  const ceiling = figures(samples.ceiling);
  const daemonCpu = daemon.cpu_us_per_request.server + (daemon.cpu_us_per_request.native ?? 0);
  const cpuRatio = daemonCpu > 0 ? round(ceiling.cpu_us_per_request.server / daemonCpu, 2) : null;
  return {
    clients,
    daemon,
    ceiling,
    rps_ratio: round(daemon.rps / ceiling.rps, 2),
    p99_ratio: round(daemon.p99_ms / ceiling.p99_ms, 2),
    cpu_ratio: cpuRatio,
    samples,
  };
}

/** Medians of each figure over the runs; errors summed. */
function figures(samples: Sample[]): Figures {
  const med = (pick: (s: Sample) => number, digits: number) => round(median(samples.map(pick)), digits);
  const natives = samples.map((s) => s.cpu_us_per_request.native);
  return {
    rps: med((s) => s.rps, 1),
    p50_ms: med((s) => s.p50_ms, 3),
    p99_ms: med((s) => s.p99_ms, 3),
    errors: samples.reduce((sum, s) => sum + s.errors, 0),
    cpu_us_per_request: {
      server: med((s) => s.cpu_us_per_request.server, 1),
      native: natives.every((n) => n !== null) ? round(median(natives), 1) : null,
      generator: med((s) => s.cpu_us_per_request.generator, 1),
    },
    preempted_per_request: med((s) => s.preempted_per_request, 3),
  };
}

interface ProfileResult {
  clients: number;
  /** The profiled load itself: slower than the measured ones, the profiler's sampling costs CPU. */
  sample: Sample;
  /** bench/results/infer-daemon.cpuprofile: open it in Chrome DevTools or speedscope. */
  file: string;
  /** Samples taken during the measured window only (start-up and deploy left out), unless the clocks did not line up. */
  window_only: boolean;
  summary: ProfileSummary;
}

/**
 * A fresh daemon under `node --cpu-prof`, loaded like the measured ones (warm-up + duration, `clients`
 * connections). The profiler slows the daemon down, so its figures are not mixed with the others.
 */
async function profileDaemon(bench: Bench, esUrl: string, modelId: string, clients: number): Promise<ProfileResult> {
  const profDir = join(bench.dir, 'cpu-prof');
  await mkdir(profDir);
  const own: Array<() => Promise<unknown>> = [];
  let sample: Sample;
  try {
    const daemon = await startDeployed(
      { esUrl, dir: bench.dir, name: `${modelId}-profiled`, nodeFlags: ['--cpu-prof', '--cpu-prof-dir', profDir] },
      modelId,
      own,
    );
    sample = await measure(bench, daemon.target, clients);
  } finally {
    // Undeployed and stopped here, also on failure: the profile is written when the daemon exits.
    for (const step of own.reverse())
      await step().catch((error: unknown) => console.error(`bench: profiling cleanup failed: ${(error as Error).message}`));
  }
  const written = (await readdir(profDir)).find((f) => f.endsWith('.cpuprofile'));
  if (!written) throw new Error(`the profiled daemon wrote no .cpuprofile into ${profDir}`);
  await copyFile(join(profDir, written), PROFILE_FILE);
  const windowed = await summarizeProfile(PROFILE_FILE, { fromUs: sample.window_us.from, toUs: sample.window_us.to });
  const windowOnly = windowed.busy_ms > 0;
  const summary = windowOnly ? windowed : await summarizeProfile(PROFILE_FILE);
  return { clients, sample, file: 'bench/results/infer-daemon.cpuprofile', window_only: windowOnly, summary };
}

function buildReport(options: Options, results: ClientsResult[], code: string | null, profile: ProfileResult | null) {
  const most = results.reduce((a, b) => (b.clients > a.clients ? b : a));
  const targets: Target[] = [
    atLeast(`daemon_rps / ceiling_rps @ ${most.clients} clients`, most.rps_ratio, RPS_RATIO_MIN),
    below(`daemon_p99_ms / ceiling_p99_ms @ ${most.clients} clients`, most.p99_ratio, P99_RATIO_MAX),
  ];
  return {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, mem_gib: round(totalmem() / 1024 ** 3), node: process.version },
    code,
    runs: options.runs,
    warmup_s: options.warmupMs / 1000,
    duration_s: options.durationMs / 1000,
    // The figures, for the most clients measured (64 by default).
    clients: most.clients,
    daemon_rps: most.daemon.rps,
    ceiling_rps: most.ceiling.rps,
    rps_ratio: most.rps_ratio,
    daemon_p99_ms: most.daemon.p99_ms,
    ceiling_p99_ms: most.ceiling.p99_ms,
    p99_ratio: most.p99_ratio,
    targets,
    targets_met: targets.every((t) => t.pass),
    errors: results.reduce((sum, r) => sum + r.daemon.errors + r.ceiling.errors, 0),
    /** Loads in which the generator opened more connections than it has clients: keep-alive broke. */
    reconnected: results.flatMap((r) =>
      [...r.samples.daemon, ...r.samples.ceiling]
        .filter((s) => s.connections_opened > r.clients)
        .map((s) => ({ clients: r.clients, opened: s.connections_opened })),
    ),
    method: {
      request: `POST /deployments/<id>/infer ${REQUEST_BODY} (content-type application/json), the model ${MODEL_BYTES} random bytes in the native stub`,
      load: 'closed loop from a node process of its own: N keep-alive connections (undici Pool, no pipelining), each sending its next request once the answer is read; answers completed during the warm-up are not counted',
      daemon: 'the built `feeder serve` with the model deployed into native-stub, default configuration (log level info)',
      ceiling:
        "a bare node:http server in a process of its own: reads the request body, answers the daemon's own answer (same bytes, same content-type) to any request",
      figures:
        'rps = 2xx answers whose body holds "type":"result" / window; p50 and p99 by nearest rank over those answers\' latencies; anything else counts as an error; medians over the runs, ratios of the medians',
      cpu_us_per_request:
        'CPU time (user + system, from /proc) of the server process, the native stub and the load generator over the whole load (warm-up included) / the answers in it',
      preempted_per_request:
        "nonvoluntary_ctxt_switches of the server's main thread (/proc/<pid>/status) over the whole load / the answers in it",
      cpu_ratio:
        "ceiling CPU per request / (daemon + native stub) CPU per request: the rps ratio if each were CPU-bound on cores of its own, without the load generator's share",
      order: 'daemon and ceiling alternate for each client count; which goes first changes every run',
    },
    results,
    ...(profile ? { profile } : {}),
  };
}

function printReport(report: ReturnType<typeof buildReport>): void {
  console.log(
    `\nInference through the control API against the HTTP ceiling (median of ${report.runs} runs, ${report.warmup_s} s warm-up + ${report.duration_s} s each)\n`,
  );
  console.log(
    table(
      [
        'clients',
        'daemon rps',
        'ceiling rps',
        'ratio',
        'daemon p50 ms',
        'daemon p99 ms',
        'ceiling p50 ms',
        'ceiling p99 ms',
        'p99 ratio',
        'errors',
      ],
      report.results.map((r) => [
        r.clients,
        r.daemon.rps,
        r.ceiling.rps,
        r.rps_ratio,
        r.daemon.p50_ms,
        r.daemon.p99_ms,
        r.ceiling.p50_ms,
        r.ceiling.p99_ms,
        r.p99_ratio,
        r.daemon.errors + r.ceiling.errors,
      ]),
    ),
  );
  console.log('\nCPU per request (µs, medians): where the time goes on these cores\n');
  console.log(
    table(
      [
        'clients',
        'daemon',
        'native stub',
        'generator (daemon)',
        'ceiling',
        'generator (ceiling)',
        'ceiling/(daemon+stub)',
        'preempted/request daemon',
        'ceiling',
      ],
      report.results.map((r) => [
        r.clients,
        r.daemon.cpu_us_per_request.server,
        r.daemon.cpu_us_per_request.native ?? '-',
        r.daemon.cpu_us_per_request.generator,
        r.ceiling.cpu_us_per_request.server,
        r.ceiling.cpu_us_per_request.generator,
        r.cpu_ratio ?? '-',
        r.daemon.preempted_per_request,
        r.ceiling.preempted_per_request,
      ]),
    ),
  );
  console.log('\nTargets\n');
  console.log(
    table(
      ['target', 'value', 'wanted', ''],
      report.targets.map((t) => [t.name, t.value, t.target, t.pass ? 'PASS' : 'MISS']),
    ),
  );
  if (report.errors > 0) console.log(`\nWARNING: ${report.errors} requests failed; see error_detail in bench/results/infer.json`);
  if (report.reconnected.length > 0)
    console.log(
      `\nWARNING: keep-alive broke in ${report.reconnected.length} loads (more connections opened than clients); see reconnected in bench/results/infer.json`,
    );
}

await main().catch((error: unknown) => {
  console.error(`bench: ${error instanceof Interrupted ? error.message : ((error as Error).stack ?? String(error))}`);
  process.exitCode = 1;
});
