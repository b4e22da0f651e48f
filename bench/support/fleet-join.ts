// The time a daemon joining a fleet takes to receive its share (issue 21, point 3): two members hold
// four one-allocation models (2/2); a third joins, and the clock stops once the fleet is settled at
// 2/1/1, every allocation started and no move under way. Default reconcile period and move bound.
import { setTimeout as sleep } from 'node:timers/promises';
import type { FleetStatus } from '../../src/api/wire-types.js';
import { feederDelete, feederUpload } from './feeder-cli.js';
import { startFeederServe, type FeederServe } from './feeder-serve.js';
import { writeRandomFile } from './files.js';
import { median, round } from './report.js';

const MODELS = 4;
const MIB = 1024 * 1024;

export interface JoinReport {
  models: number;
  model_mib: number;
  trials: number;
  /** From the joining daemon's start to the fleet settled, per trial. */
  runs_s: number[];
  settle_p50_s: number;
  settle_max_s: number;
  moves_per_join: number[];
}

/** `trials` joins, each of a fresh third daemon into the same two-member fleet. */
export async function measureJoin(esUrl: string, dir: string, trials: number, mib: number): Promise<JoinReport> {
  const fleet = `bench-join-${process.pid}`;
  const ids = Array.from({ length: MODELS }, (_, i) => `bench-join-${process.pid}-${i}`);
  const file = await writeRandomFile(dir, mib * MIB);
  const members: FeederServe[] = [];
  const start = async (name: string) => {
    const serve = await startFeederServe({ esUrl, dir, name, config: { daemon: { fleet, stopGraceMs: 2000 } } });
    members.push(serve);
    return serve;
  };
  const runs: number[] = [];
  const moves: number[] = [];
  try {
    for (const id of ids) await feederUpload(esUrl, file, id, '1mb', `${dir}/upload.rss`);
    const first = await start(`${fleet}-a`);
    await start(`${fleet}-b`);
    for (const id of ids) await first.call('PUT', `/deployments/${id}`, { allocations: 1, wait_for: 'started', timeout_ms: 300_000 });
    for (let trial = 0; trial < trials; trial++) {
      await untilSpread(first, [2, 2], 120_000);
      const began = performance.now();
      const joiner = await start(`${fleet}-join${trial}`);
      await untilSpread(first, [1, 1, 2], 120_000);
      runs.push((performance.now() - began) / 1000);
      moves.push(await movesStarted(joiner));
      console.error(`bench: join ${trial + 1}/${trials}: settled at 2/1/1 after ${round(runs.at(-1)!, 2)} s`);
      // Its allocation goes back to the fleet when it stops: the two left take it, and are 2/2 again.
      await joiner.stop();
      members.splice(members.indexOf(joiner), 1);
    }
  } finally {
    for (const m of members) await m.stop().catch(() => undefined);
    for (const id of ids) await feederDelete(esUrl, id).catch(() => undefined);
  }
  return {
    models: MODELS,
    model_mib: mib,
    trials,
    runs_s: runs.map((r) => round(r, 2)),
    settle_p50_s: round(median(runs), 2),
    settle_max_s: round(Math.max(...runs), 2),
    moves_per_join: moves,
  };
}

/** Polls `GET /fleet` until the live members hold `expected` allocations (sorted), all started, none moving. */
async function untilSpread(via: FeederServe, expected: number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const status = await via.call<FleetStatus>('GET', '/fleet').catch(() => null);
    if (status) {
      const items = status.deployments.flatMap((d) => d.items);
      const counts = status.daemons.map((m) => items.filter((i) => i.daemon === m.daemon).length).sort((a, b) => a - b);
      last = JSON.stringify(counts);
      if (last === JSON.stringify(expected) && items.every((i) => i.state === 'started' && !i.moving)) return;
    }
    await sleep(100);
  }
  throw new Error(`the fleet did not settle at ${expected.join('/')} within ${timeoutMs / 1000} s (last ${last})`);
}

async function movesStarted(serve: FeederServe): Promise<number> {
  const text = await (await fetch(`${serve.url}/metrics`)).text();
  const match = /^feeder_fleet_moves_total\{outcome="started"\} (\d+)/m.exec(text);
  return match ? Number(match[1]) : 0;
}
