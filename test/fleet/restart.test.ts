// Issue 21, point 5: a member killed and started again under its name (by systemd, say) restores
// nothing by itself: what is still recorded under its name is claimed again through the fleet's
// fenced claim before any native process starts, so it never runs beside a daemon taking it over.
import { describe, expect, it } from 'vitest';
import type { FleetModelStatus } from '../../src/api/wire-types.js';
import { storedModel } from '../support/deploy.js';
import { useFleetScene } from '../support/fleet.js';
import { call, deployPath } from '../support/races.js';
import { allStarted, holders } from './fleet-steps.js';

// On the single test node: the fenced claim is the daemons' doing, no node's loss is involved.
const scene = useFleetScene({ onCluster: false });

describe('a member SIGKILLed and started again under its name', () => {
  it('starts nothing recorded under its name before its own fenced claim of it is written', async () => {
    // No grace: the restarted member must never run an allocation beside another holder, not even briefly.
    const f = await scene.start({}, 0);
    const { modelId } = await storedModel(200_000, undefined, 'base64', f.esUrl);
    scene.desired.set(modelId, 2);
    const first = (await call(f.members[0]!.listen, 'PUT', deployPath(modelId), { allocations: 2, timeout_ms: 30_000 }, 45_000))
      .body as FleetModelStatus;
    expect(first.state, JSON.stringify(first)).toBe('started');
    const victim = f.byName(first.items[0]!.daemon!);
    victim.child.kill('SIGKILL');
    await victim.child;
    f.forget(victim);

    const restartedAt = Date.now();
    const restarted = await f.add(victim.name);
    // The killed run's allocation claimed afresh, by whichever daemon: until then its document still says started.
    const reclaimed = (s: FleetModelStatus) => Date.parse(s.items[0]!.claimed_at ?? '') > restartedAt;
    const back = await f.waitFor(modelId, (s) => allStarted(s) && reclaimed(s), 20_000);
    expect(new Set(holders(back)).size).toBe(2);
    const actions = restarted.logs.map((l) => l.event?.action);
    const claimed = actions.indexOf('fleet-claim');
    const spawned = actions.indexOf('native-spawn');
    if (spawned >= 0) {
      expect(claimed, 'the restarted member claimed before it started a native process').toBeGreaterThanOrEqual(0);
      expect(claimed).toBeLessThan(spawned);
    }
    expect(holders(back).includes(victim.name), 'the restarted member serves only what it claimed').toBe(claimed >= 0);
  }, 120_000);
});
