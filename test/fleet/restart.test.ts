// Issue 21, point 5: a member killed and started again under its name (by systemd, say) restores
// nothing by itself: what is still recorded under its name is claimed again through the fleet's
// fenced claim before any native process starts, so it never runs beside a daemon taking it over.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { FleetModelStatus } from '../../src/api/wire-types.js';
import { FLEET_INDEX } from '../../src/model/layout.js';
import { storedModel } from '../support/deploy.js';
import { newEs } from '../support/es.js';
import { FLEET_TIMING, OverAllocationWatcher, TestFleet } from '../support/fleet.js';
import { call, deployPath, liveChildren } from '../support/races.js';

const holders = (s: FleetModelStatus) => s.items.map((i) => i.daemon);
const allStarted = (s: FleetModelStatus) => s.items.every((i) => i.state === 'started' && i.daemon_live);

let fleet: TestFleet | null = null;
let watcher: OverAllocationWatcher | null = null;
const desired = new Map<string, number>();

afterEach(async () => {
  const violations = (await watcher?.stop()) ?? [];
  const f = fleet;
  fleet = null;
  watcher = null;
  if (!f) return;
  await f.stop();
  expect(violations, 'a model had more started allocations than desired').toEqual([]);
  expect(await f.leftovers(), 'native processes left running after the test').toEqual([]);
}, 60_000);

/** Freezes every write to the fleet's allocation documents: no claim can be written while it holds. */
async function blockFleetWrites(f: TestFleet, blocked: boolean): Promise<void> {
  await newEs(f.esUrl).client.indices.putSettings({ index: FLEET_INDEX, settings: { 'index.blocks.write': blocked } });
}

describe('a member SIGKILLed and started again under its name', () => {
  it('starts nothing recorded under its name before its own fenced claim of it is written', async () => {
    fleet = await TestFleet.start();
    const f = fleet;
    // No grace: the restarted member must never run an allocation beside another holder, not even briefly.
    watcher = new OverAllocationWatcher(f, () => desired, 0);
    const { modelId } = await storedModel(200_000, undefined, 'base64', f.esUrl);
    desired.set(modelId, 2);
    const first = (await call(f.members[0]!.listen, 'PUT', deployPath(modelId), { allocations: 2, timeout_ms: 30_000 }, 45_000))
      .body as FleetModelStatus;
    expect(first.state, JSON.stringify(first)).toBe('started');
    const victim = f.byName(first.items[0]!.daemon!);
    victim.child.kill('SIGKILL');
    await victim.child;
    f.forget(victim);

    // A claim written by nobody, as when another daemon's claim wins the race: not a real node's
    // fault but Elasticsearch's own index block, so that the race is decided the same way every run.
    await blockFleetWrites(f, true);
    let blocked = true;
    try {
      const restartedAt = Date.now();
      const restarted = await f.add(victim.name);
      await restarted.waitForLog((l) => l.event?.action === 'daemon-restore');
      await sleep(5 * FLEET_TIMING.reconcileMs + 1000);
      expect(await liveChildren(restarted), 'native processes of the restarted member while it could claim nothing').toEqual([]);
      await blockFleetWrites(f, false);
      blocked = false;
      // The killed run's allocation claimed afresh, by whichever daemon: until then its document still says started.
      const reclaimed = (s: FleetModelStatus) => Date.parse(s.items[0]!.claimed_at ?? '') > restartedAt;
      const back = await f.waitFor(modelId, (s) => allStarted(s) && reclaimed(s), 20_000);
      expect(new Set(holders(back)).size).toBe(2);
      const claims = restarted.logs.filter((l) => l.event?.action === 'fleet-claim' && l.feeder?.model_id === modelId);
      if (holders(back).includes(victim.name)) expect(claims, 'the restarted member serves only what it claimed').not.toEqual([]);
    } finally {
      if (blocked) await blockFleetWrites(f, false);
    }
  }, 120_000);
});
