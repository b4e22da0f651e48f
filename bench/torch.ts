// native-torch benchmark, on all-MiniLM-L6-v2 (87 MiB of TorchScript, made by
// scripts/make-torch-models.py): what serving a real model through the feeder costs against what a
// user would do instead, torch in Python on the same file from local disk.
//
//   npm run bench:torch                  medians of 3 runs
//   BENCH_RUNS=1 BENCH_REQUESTS=50 ...   a quick look
//
// - deploy: `PUT /deployments/<id>` with wait_for=started (what `feeder deploy` sends) until it
//   answers `started`, into native-torch; the same for a random file of the same size into the
//   stub; against `torch.jit.load` of the file from local disk in a fresh Python (timed around the
//   call, as a user's script would see it, after `import torch`).
// - inference: BENCH_REQUESTS sequential requests (one row of 8 tokens) through the control API,
//   one keep-alive client, against the same number of calls of the module in Python on one thread,
//   both after a warm-up. The overhead is the difference of the p50s. A second Python reference
//   pauses between calls as long as a request spends outside forward() in the daemon's path: a
//   forward() after an idle gap is slower than one in a tight loop (caches, other processes), so
//   this one says how much of the overhead is that gap rather than the daemon's work. The same
//   requests into the stub through its daemon say what the way there and back costs right now.
// Uses ES_URL when set, otherwise starts (and afterwards stops) the project's `bench` node.
// Writes bench/results/torch.json and prints a table.
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { packageRoot } from '../src/config/paths.js';
import type { FeederServe } from './support/feeder-serve.js';
import { prepareMiniLMBench, runCleanup, serveBench } from './support/minilm-bench.js';
import { below, median, round, table, type Target, wholeFromEnv } from './support/report.js';

const RESULT_FILE = fileURLToPath(new URL('../../bench/results/torch.json', import.meta.url));
const LOCAL_SCRIPT = join(packageRoot(), 'bench', 'support', 'torch-local.py');
/** "[CLS] the cat sat on the mat [SEP]" in MiniLM's vocabulary. */
const TOKENS = [[101, 1996, 4937, 2938, 2006, 1996, 13523, 102]];
const DEPLOY_RATIO_MAX = 1.5;
const OVERHEAD_P50_MAX_MS = 2;

interface Options {
  runs: number;
  requests: number;
}

interface Deployed {
  serve: FeederServe;
  path: string;
}

async function main(): Promise<void> {
  const options = readOptions(process.env);
  const cleanup: Array<() => Promise<unknown>> = [];
  // Other work on the machine moves these figures more than anything measured: say how busy it was.
  const loadAtStart = loadavg()[0]!;
  try {
    const bench = await prepareMiniLMBench('bench-torch', cleanup);
    const { torch, reference, modelFile, torchId, stubId } = bench;

    const torchServe = await serveBench(
      bench,
      `${torchId}-daemon`,
      { deploy: { command: torch.binary, args: ['--threads', '1'] } },
      cleanup,
    );
    const stubServe = await serveBench(bench, `${stubId}-daemon`, {}, cleanup);
    const torchDeployed = { serve: torchServe, path: `/deployments/${torchId}` };
    const stubDeployed = { serve: stubServe, path: `/deployments/${stubId}` };

    const deploy: number[] = [];
    const stub: number[] = [];
    const local: number[] = [];
    for (let run = 1; run <= options.runs; run++) {
      deploy.push(await timeDeploy(torchDeployed));
      stub.push(await timeDeploy(stubDeployed));
      local.push(await localLoad(torch.python, modelFile));
      console.error(
        `bench: run ${run}/${options.runs}: deploy into native-torch ${round(deploy.at(-1)!, 2)} s, into the stub ${round(stub.at(-1)!, 2)} s, torch.jit.load ${round(local.at(-1)!, 2)} s`,
      );
    }

    await deployStarted(torchDeployed);
    cleanup.push(() => torchServe.call('DELETE', torchDeployed.path));
    const daemon = await daemonLatencies(torchDeployed, options.requests);
    // The same requests into the stub through its daemon: what the way there and back costs on
    // this machine now, with next to no work at the end of it.
    await deployStarted(stubDeployed);
    cleanup.push(() => stubServe.call('DELETE', stubDeployed.path));
    const stubLatency = await daemonLatencies(stubDeployed, options.requests);
    const python = await localLatencies(torch.python, modelFile, options.requests, 0);
    const gapMs = Math.max(0, percentile(daemon.total, 50) - percentile(daemon.native, 50));
    const paced = await localLatencies(torch.python, modelFile, options.requests, gapMs);

    const machine = { cpus: cpus().length, loadavg_1m: { start: round(loadAtStart, 2), end: round(loadavg()[0]!, 2) } };
    const stubPath = { p50: round(percentile(stubLatency.total, 50), 3), p99: round(percentile(stubLatency.total, 99), 3) };
    const built = buildReport(options, reference.bytes, { deploy, stub, local }, daemon, python, { paced, gapMs });
    const report = { ...built, infer_ms: { ...built.infer_ms, stub_through_daemon: stubPath }, machine };
    await mkdir(dirname(RESULT_FILE), { recursive: true });
    await writeFile(RESULT_FILE, `${JSON.stringify(report, null, 2)}\n`);
    printReport(report);
    console.log('\nwritten to bench/results/torch.json');
  } finally {
    await runCleanup(cleanup);
  }
}

function readOptions(env: NodeJS.ProcessEnv): Options {
  const whole = (name: string, fallback: number, min: number) => wholeFromEnv(env, name, fallback, min);
  return { runs: whole('BENCH_RUNS', 3, 1), requests: whole('BENCH_REQUESTS', 500, 10) };
}

async function deployStarted(target: Deployed): Promise<void> {
  const status = await target.serve.call<{ state: string; reason: string | null }>('PUT', target.path, {
    wait_for: 'started',
    timeout_ms: 120_000,
  });
  if (status.state !== 'started') throw new Error(`the deployment ${target.path} is ${status.state}: ${status.reason}`);
}

/** Seconds from the deploy request to its `started` answer; undeployed again afterwards. */
async function timeDeploy(target: Deployed): Promise<number> {
  const started = performance.now();
  await deployStarted(target);
  const seconds = (performance.now() - started) / 1000;
  await target.serve.call('DELETE', target.path);
  return seconds;
}

async function python(pythonPath: string, args: string[]): Promise<Record<string, any>> {
  const { stdout } = await execa(pythonPath, [LOCAL_SCRIPT, ...args]);
  return JSON.parse(stdout) as Record<string, any>;
}

async function localLoad(pythonPath: string, file: string): Promise<number> {
  return (await python(pythonPath, ['load', file])).load_s as number;
}

async function localLatencies(pythonPath: string, file: string, requests: number, pauseMs: number): Promise<number[]> {
  return (await python(pythonPath, ['infer', file, JSON.stringify(TOKENS), String(requests), String(pauseMs)])).infer_ms as number[];
}

/** Sequential requests on one keep-alive connection (fetch's pool), after 20 of warm-up. */
async function daemonLatencies(target: Deployed, requests: number): Promise<{ total: number[]; native: number[] }> {
  const total: number[] = [];
  const native: number[] = [];
  const body = JSON.stringify({ tokens: TOKENS });
  for (let i = -20; i < requests; i++) {
    const started = performance.now();
    const res = await fetch(`${target.serve.url}${target.path}/infer`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
    });
    const answer = (await res.json()) as { type: string; time_ms?: number };
    const ms = performance.now() - started;
    if (answer.type !== 'result') throw new Error(`the daemon answered ${JSON.stringify(answer).slice(0, 300)}`);
    if (i < 0) continue;
    total.push(ms);
    native.push(answer.time_ms!);
  }
  return { total, native };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function buildReport(
  options: Options,
  bytes: number,
  loads: { deploy: number[]; stub: number[]; local: number[] },
  daemon: { total: number[]; native: number[] },
  local: number[],
  paced: { paced: number[]; gapMs: number },
) {
  const deployS = median(loads.deploy);
  const localLoadS = median(loads.local);
  const stubS = median(loads.stub);
  const daemonP50 = percentile(daemon.total, 50);
  const localP50 = percentile(local, 50);
  const overhead = daemonP50 - localP50;
  const targets: Target[] = [
    below('deploy_s / local_load_s', deployS / localLoadS, DEPLOY_RATIO_MAX),
    below('infer_overhead_p50_ms', overhead, OVERHEAD_P50_MAX_MS),
  ];
  return {
    model: { name: 'all-MiniLM-L6-v2 (scripts/make-torch-models.py)', bytes, tokens: TOKENS },
    runs: options.runs,
    requests: options.requests,
    deploy_s: round(deployS, 3),
    local_load_s: round(localLoadS, 3),
    stub_deploy_s: round(stubS, 3),
    deploy_ratio: round(deployS / localLoadS, 2),
    infer_overhead_p50_ms: round(overhead, 3),
    infer_ms: {
      daemon: { p50: round(daemonP50, 3), p99: round(percentile(daemon.total, 99), 3) },
      native_forward: { p50: round(percentile(daemon.native, 50), 3), p99: round(percentile(daemon.native, 99), 3) },
      python: { p50: round(localP50, 3), p99: round(percentile(local, 99), 3) },
      python_paced: {
        pause_ms: round(paced.gapMs, 3),
        p50: round(percentile(paced.paced, 50), 3),
        p99: round(percentile(paced.paced, 99), 3),
      },
    },
    infer_overhead_p50_vs_paced_ms: round(daemonP50 - percentile(paced.paced, 50), 3),
    samples_s: {
      deploy: loads.deploy.map((s) => round(s, 3)),
      stub_deploy: loads.stub.map((s) => round(s, 3)),
      local_load: loads.local.map((s) => round(s, 3)),
    },
    targets,
  };
}

type Report = ReturnType<typeof buildReport> & {
  infer_ms: { stub_through_daemon: { p50: number; p99: number } };
  machine: { cpus: number; loadavg_1m: { start: number; end: number } };
};

function printReport(report: Report): void {
  const { cpus: cores, loadavg_1m: load } = report.machine;
  console.log(
    `\n${report.model.name}, ${(report.model.bytes / 1024 ** 2).toFixed(1)} MiB; medians of ${report.runs} runs; ${cores} cores, load average ${load.start} at the start, ${load.end} at the end\n`,
  );
  console.log(
    table(
      ['load', 'seconds'],
      [
        ['deploy into native-torch (request to started)', report.deploy_s],
        ['deploy of the same size into the stub', report.stub_deploy_s],
        ['torch.jit.load from local disk (Python)', report.local_load_s],
      ],
    ),
  );
  console.log(`\n${report.requests} sequential requests of one 8-token row, one thread\n`);
  const { daemon, native_forward, python, python_paced, stub_through_daemon } = report.infer_ms;
  console.log(
    table(
      ['inference', 'p50 ms', 'p99 ms'],
      [
        ['through the daemon (HTTP to answer)', daemon.p50, daemon.p99],
        ['  of which forward() in native-torch (time_ms)', native_forward.p50, native_forward.p99],
        ['the module called in Python', python.p50, python.p99],
        [`the same, ${python_paced.pause_ms} ms apart (the gap outside forward())`, python_paced.p50, python_paced.p99],
        ['the same request into the stub, through its daemon', stub_through_daemon.p50, stub_through_daemon.p99],
      ],
    ),
  );
  console.log(
    `\n${table(
      ['target', 'value', 'target', 'met'],
      report.targets.map((t) => [t.name, t.value, t.target, t.pass ? 'yes' : 'NO']),
    )}`,
  );
}

await main();
