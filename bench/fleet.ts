// Fleet benchmark: how long a model is gone when the daemon serving it dies, and what claiming costs
// when three daemons race for twenty deployments.
//
//   npm run bench:fleet                    10 recovery trials, 256 MiB model, default lease (15 s)
//   BENCH_TRIALS=3 BENCH_MIB=64 ...        a quick look
//
// - recovery: three `feeder serve` of one fleet with the default heartbeat (5 s), lease (15 s) and
//   reconcile period (1 s). The model is deployed with one allocation; the daemon holding it is
//   SIGKILLed, and the time until another daemon's allocation reports `started` (polled every
//   100 ms through a third daemon) is the recovery: detection (the lease running out), the claim,
//   and the load. The killed daemon is started again under its name before the next trial, so each
//   trial kills a holder of a fleet of three. The lease and the model's own load time (a deploy on
//   an idle fleet member, median of 3) are measured in the same run: the target is
//   max recovery <= lease + load + 2 s.
// - race: 20 models of 1 MiB deployed at once, through the three daemons in turn; claim latency is
//   from the deploy request to `claimed_at`, and the conflict rate is lost claims (another
//   daemon's fenced write came first) over all claims, from the daemons' /metrics.
// - forwarding: inference through a member that holds nothing, over TLS against plain HTTP, at 16
//   clients for BENCH_DURATION_S (10) seconds each (support/fleet-tls.ts); target TLS >= 0.8x plain.
// - join: two members hold four models of BENCH_JOIN_MIB (16) MiB, 2/2; a third joins, and the time
//   until the fleet settled at 2/1/1 (the move's load included) is measured, BENCH_JOIN_TRIALS (3)
//   times (support/fleet-join.ts).
// Uses ES_URL when set, otherwise starts (and afterwards stops) the project's `bench` node.
// Writes bench/results/fleet.json and prints a table.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { defaultConfig } from '../src/config/config.js';
import type { FleetModelStatus } from '../src/api/wire-types.js';
import { benchElasticsearch } from './support/es-node.js';
import { feederDelete, feederUpload } from './support/feeder-cli.js';
import { startFeederServe, type FeederServe } from './support/feeder-serve.js';
import { makeTempDir, writeRandomFile } from './support/files.js';
import { measureJoin } from './support/fleet-join.js';
import { compareForwarding, TLS_RATIO_MIN } from './support/fleet-tls.js';
import { atLeast, atMost, median, round, table, type Target, wholeFromEnv } from './support/report.js';

const RESULT_FILE = fileURLToPath(new URL('../../bench/results/fleet.json', import.meta.url));
const MIB = 1024 * 1024;
const RACE_MODELS = 20;
const SLACK_S = 2;

interface Options {
  trials: number;
  mib: number;
  forwardMs: number;
  joinTrials: number;
  joinMib: number;
}

interface Member {
  name: string;
  serve: FeederServe;
}

async function main(): Promise<void> {
  const options = readOptions(process.env);
  const cleanup: Array<() => Promise<unknown>> = [];
  const loadAtStart = loadavg()[0]!;
  const defaults = defaultConfig().daemon;
  try {
    const node = await benchElasticsearch();
    cleanup.push(() => node.stop());
    const dir = await makeTempDir();
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const fleet = `bench-fleet-${process.pid}`;
    const modelId = `bench-fleet-${process.pid}`;
    cleanup.push(() => feederDelete(node.url, modelId));
    await feederUpload(node.url, await writeRandomFile(dir, options.mib * MIB), modelId, '1mb', join(dir, 'upload.rss'));

    const members: Member[] = [];
    const start = async (name: string) => {
      const serve = await startFeederServe({ esUrl: node.url, dir, name, config: { daemon: { fleet, stopGraceMs: 2000 } } });
      const member = { name, serve };
      members.push(member);
      return member;
    };
    cleanup.push(async () => {
      for (const m of members) await m.serve.stop();
    });
    for (let i = 0; i < 3; i++) await start(`${fleet}-d${i}`);
    const path = `/deployments/${modelId}`;

    // The model's own load time, on this fleet: deploy, then undeploy, three times.
    const loads: number[] = [];
    for (let run = 0; run < 3; run++) {
      const began = performance.now();
      const status = await deploy(members[0]!.serve, path, 1);
      if (status.state !== 'started') throw new Error(`the deploy ended ${status.state}: ${JSON.stringify(status)}`);
      loads.push((performance.now() - began) / 1000);
      await members[0]!.serve.call('DELETE', path);
    }
    const loadS = median(loads);
    console.error(`bench: load of ${options.mib} MiB into the stub through the fleet: ${loads.map((l) => round(l, 2)).join(', ')} s`);

    const trials: Array<{ recovery_s: number; detect_claim_s: number; load_s: number }> = [];
    cleanup.push(() => members[0]!.serve.call('DELETE', path).catch(() => undefined));
    for (let trial = 1; trial <= options.trials; trial++) {
      const status = await deploy(members[0]!.serve, path, 1);
      if (status.state !== 'started') throw new Error(`the deploy ended ${status.state}: ${JSON.stringify(status)}`);
      const holderName = status.items[0]!.daemon!;
      const victim = members.find((m) => m.name === holderName)!;
      const witness = members.find((m) => m !== victim)!;
      const killedAt = Date.now();
      await victim.serve.kill();
      members.splice(members.indexOf(victim), 1);
      const back = await untilStartedElsewhere(witness.serve, path, holderName, 120_000);
      const recoveredAt = Date.now();
      const claimedAt = Date.parse(back.items[0]!.claimed_at!);
      trials.push({
        recovery_s: (recoveredAt - killedAt) / 1000,
        detect_claim_s: (claimedAt - killedAt) / 1000,
        load_s: (recoveredAt - claimedAt) / 1000,
      });
      console.error(
        `bench: trial ${trial}/${options.trials}: '${holderName}' killed, started on '${back.items[0]!.daemon}' after ${round(trials.at(-1)!.recovery_s, 2)} s (claimed after ${round(trials.at(-1)!.detect_claim_s, 2)} s)`,
      );
      // Back to three: the killed daemon's lease has expired (its allocation was taken), so its name is free.
      await start(holderName);
    }
    await members[0]!.serve.call('DELETE', path);

    const race = await claimRace(node.url, dir, members, cleanup);
    const forwardModel = `bench-forward-${process.pid}`;
    cleanup.push(() => feederDelete(node.url, forwardModel));
    await feederUpload(node.url, await writeRandomFile(dir, MIB), forwardModel, '1mb', join(dir, 'upload.rss'));
    const forwarding = await compareForwarding(node.url, dir, forwardModel, options.forwardMs);
    const joining = await measureJoin(node.url, dir, options.joinTrials, options.joinMib);
    const recoveries = trials.map((t) => t.recovery_s);
    const leaseS = defaults.leaseMs / 1000;
    const report = {
      model_mib: options.mib,
      trials: options.trials,
      lease_s: leaseS,
      heartbeat_s: defaults.heartbeatMs / 1000,
      reconcile_s: defaults.reconcileMs / 1000,
      load_s: round(loadS, 2),
      recovery_p50_s: round(median(recoveries), 2),
      recovery_max_s: round(Math.max(...recoveries), 2),
      recovery_target_s: round(leaseS + loadS + SLACK_S, 2),
      detect_claim_p50_s: round(median(trials.map((t) => t.detect_claim_s)), 2),
      load_after_claim_p50_s: round(median(trials.map((t) => t.load_s)), 2),
      runs: trials.map((t) => ({
        recovery_s: round(t.recovery_s, 2),
        detect_claim_s: round(t.detect_claim_s, 2),
        load_s: round(t.load_s, 2),
      })),
      race,
      forwarding,
      join: joining,
      machine: { cpus: cpus().length, loadavg_1m: { start: round(loadAtStart, 2), end: round(loadavg()[0]!, 2) } },
    };
    await mkdir(dirname(RESULT_FILE), { recursive: true });
    await writeFile(RESULT_FILE, `${JSON.stringify(report, null, 2)}\n`);
    printReport(report);
    console.log('\nwritten to bench/results/fleet.json');
  } finally {
    for (const step of cleanup.reverse())
      await step().catch((error: unknown) => console.error(`bench: cleanup failed: ${(error as Error).message}`));
  }
}

/** Twenty models deployed at once through three daemons: claim latency and lost claims. */
async function claimRace(esUrl: string, dir: string, members: Member[], cleanup: Array<() => Promise<unknown>>) {
  const ids = Array.from({ length: RACE_MODELS }, (_, i) => `bench-race-${process.pid}-${i}`);
  const file = await writeRandomFile(dir, MIB);
  for (const id of ids) {
    cleanup.push(() => feederDelete(esUrl, id));
    await feederUpload(esUrl, file, id, '1mb', join(dir, 'upload.rss'));
  }
  const before = await claimCounts(members);
  const sent = Date.now();
  const statuses = await Promise.all(ids.map((id, i) => deploy(members[i % members.length]!.serve, `/deployments/${id}`, 1)));
  const latencies = statuses.map((s) => (Date.parse(s.items[0]!.claimed_at!) - sent) / 1000);
  const after = await claimCounts(members);
  const won = after.won - before.won;
  const lost = after.lost - before.lost;
  const perDaemon: Record<string, number> = {};
  for (const s of statuses) perDaemon[s.items[0]!.daemon!] = (perDaemon[s.items[0]!.daemon!] ?? 0) + 1;
  for (const id of ids) await members[0]!.serve.call('DELETE', `/deployments/${id}`);
  return {
    deployments: RACE_MODELS,
    all_started: statuses.every((s) => s.state === 'started'),
    claim_latency_p50_s: round(median(latencies), 2),
    claim_latency_max_s: round(Math.max(...latencies), 2),
    claims_won: won,
    claims_lost: lost,
    conflict_rate: round(lost / Math.max(1, won + lost), 3),
    per_daemon: perDaemon,
  };
}

async function claimCounts(members: Member[]): Promise<{ won: number; lost: number }> {
  const totals = { won: 0, lost: 0 };
  for (const m of members) {
    const text = await (await fetch(`${m.serve.url}/metrics`)).text();
    for (const outcome of ['won', 'lost'] as const) {
      const match = new RegExp(`^feeder_fleet_claims_total\\{outcome="${outcome}"\\} (\\d+)`, 'm').exec(text);
      totals[outcome] += match ? Number(match[1]) : 0;
    }
  }
  return totals;
}

async function deploy(serve: FeederServe, path: string, allocations: number): Promise<FleetModelStatus> {
  return serve.call<FleetModelStatus>('PUT', path, { allocations, wait_for: 'started', timeout_ms: 300_000 });
}

async function untilStartedElsewhere(serve: FeederServe, path: string, gone: string, timeoutMs: number): Promise<FleetModelStatus> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await serve.call<FleetModelStatus>('GET', path).catch(() => null);
    const item = status?.items[0];
    if (status && item && item.daemon !== gone && item.state === 'started') return status;
    await sleep(100);
  }
  throw new Error(`the allocation of ${path} did not start on another daemon within ${timeoutMs / 1000} s`);
}

function readOptions(env: NodeJS.ProcessEnv): Options {
  const whole = (name: string, fallback: number, min: number) => wholeFromEnv(env, name, fallback, min);
  return {
    trials: whole('BENCH_TRIALS', 10, 1),
    mib: whole('BENCH_MIB', 256, 1),
    forwardMs: whole('BENCH_DURATION_S', 10, 1) * 1000,
    joinTrials: whole('BENCH_JOIN_TRIALS', 3, 1),
    joinMib: whole('BENCH_JOIN_MIB', 16, 1),
  };
}

function printReport(r: Record<string, any>): void {
  console.log(
    table(
      ['recovery after SIGKILL', 'seconds'],
      [
        ['lease (default)', r.lease_s],
        ['load of the model (median of 3)', r.load_s],
        ['recovery p50', r.recovery_p50_s],
        ['recovery max', r.recovery_max_s],
        ['  of which detect + claim (p50)', r.detect_claim_p50_s],
        ['  of which load after the claim (p50)', r.load_after_claim_p50_s],
      ],
    ),
  );
  console.log();
  console.log(
    table(
      ['claim race', 'value'],
      [
        ['deployments', r.race.deployments],
        ['claim latency p50 (s)', r.race.claim_latency_p50_s],
        ['claim latency max (s)', r.race.claim_latency_max_s],
        ['claims won / lost', `${r.race.claims_won} / ${r.race.claims_lost}`],
        ['conflict rate', r.race.conflict_rate],
        ['per daemon', Object.values(r.race.per_daemon).join(' / ')],
      ],
    ),
  );
  console.log();
  console.log(
    table(
      [`forwarded inference, ${r.forwarding.clients} clients`, 'req/s', 'p50 ms', 'p99 ms', 'errors'],
      (['plain', 'tls'] as const).map((k) => [
        k === 'tls' ? 'TLS' : 'plain HTTP',
        r.forwarding[k].rps,
        r.forwarding[k].p50_ms,
        r.forwarding[k].p99_ms,
        r.forwarding[k].errors,
      ]),
    ),
  );
  console.log();
  console.log(
    table(
      [`a third member joins ${r.join.models} models at 2/2`, 'value'],
      [
        ['model MiB', r.join.model_mib],
        ['settled at 2/1/1, p50 (s)', r.join.settle_p50_s],
        ['settled at 2/1/1, max (s)', r.join.settle_max_s],
        ['runs (s)', r.join.runs_s.join(', ')],
        ['moves per join', r.join.moves_per_join.join(', ')],
      ],
    ),
  );
  const targets: Target[] = [
    atMost('recovery max (s), lease + load + 2 s', r.recovery_max_s, r.recovery_target_s),
    atMost('default lease (s)', r.lease_s, 15),
    atLeast('forwarding req/s, TLS / plain HTTP', r.forwarding.tls_ratio, TLS_RATIO_MIN),
  ];
  console.log();
  console.log(
    table(
      ['target', 'value', 'target', 'pass'],
      targets.map((t) => [t.name, t.value, t.target, t.pass ? 'yes' : 'NO']),
    ),
  );
}

await main();
