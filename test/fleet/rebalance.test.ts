// Issue 21, point 3: a member that joins receives its share, one move at a time, each new copy
// started before the old one is released, within the bound on moves per minute; a move that fails
// to start on its receiver is abandoned while the old copy serves. Real daemons and the stub on the
// single test node; a watcher samples the allocation documents and the members' processes.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { RunningDaemon } from '../support/daemon.js';
import { addMember, InferenceLoop, metric, MoveWatcher, readDocs, spread, useMoveScene, waitForSpread } from '../support/moves.js';
import { waitUntil } from '../support/wait.js';

const SIZE = 100_000;
/** The stub reads a model in about a second: long enough to see the move under way. */
const SLOW_LOAD = { deploy: { args: ['--read-rate', String(SIZE)] } };

const scene = useMoveScene();
const fleetWithModels = (members: number, models: number, maxMovesPerMinute?: number) =>
  scene.fleetWithModels(members, models, SIZE, maxMovesPerMinute);

const logTime = (d: RunningDaemon, match: (l: Record<string, any>) => boolean) => {
  const line = d.logs.find(match);
  return line ? Date.parse(line['@timestamp']) : undefined;
};

describe('rebalancing toward a member that joins', () => {
  it('moves one allocation to a third member (2/2 → 2/1/1), started there before released, never fewer started, no failed inference', async () => {
    const { f, ids } = await fleetWithModels(2, 4);
    expect(spread(await readDocs(f), f.members)).toEqual([2, 2]);
    const watcher = new MoveWatcher(f, true);
    const loops = ids.map((id) => new InferenceLoop(f.members[0]!, id));
    const joined = await addMember(f, `${f.fleet}-d2`, SLOW_LOAD);
    const docs = await waitForSpread(f, [1, 1, 2]);
    await sleep(3000); // settled, and it stays so
    expect(spread(await readDocs(f), f.members), 'no further move').toEqual([1, 1, 2]);
    const { violations, movesShown } = await watcher.stop();
    expect(violations).toEqual([]);
    expect([...movesShown].length, `moving shown in GET /fleet: ${[...movesShown].join('; ')}`).toBe(1);
    for (const loop of loops) expect((await loop.stop()).failures, 'inferences that failed').toEqual([]);
    expect(loops.every((l) => l.answered > 0)).toBe(true);

    const moved = docs.allocations.find((a) => a.doc.daemon === joined.name)!.doc;
    const from = f.byName(moved.moves!.at(-1)!.from);
    expect(moved.moves!.map((m) => m.outcome)).toEqual(['completed']);
    const isMove = (step: string) => (l: Record<string, any>) =>
      l.event?.action === 'fleet-move' && l.feeder?.step === step && l.feeder?.model_id === moved.model_id;
    const completedAt = logTime(joined, isMove('completed'))!;
    expect(logTime(joined, (l) => l.event?.action === 'native-spawn' && l.feeder?.model_id === moved.model_id)).toBeLessThan(completedAt);
    const stoppedAt = logTime(from, (l) => l.event?.action === 'fleet-stop' && l.feeder?.model_id === moved.model_id);
    expect(stoppedAt, 'the old holder stopped its copy after the move was recorded').toBeGreaterThan(completedAt);
    expect(await metric(joined, 'feeder_fleet_moves_total', 'outcome="started"')).toBe(1);
    expect(await metric(joined, 'feeder_fleet_moves_total', 'outcome="completed"')).toBe(1);
    const cli = await f.members[0]!.cli(['status']);
    expect(cli.stdout).toContain(`${moved.model_id}: started, 1 of 1 allocation(s) started`);
  }, 120_000);

  it('holds to maxMovesPerMinute, while members join and leave again', async () => {
    const { f } = await fleetWithModels(1, 4, 1);
    await addMember(f, `${f.fleet}-d1`);
    await waitForSpread(f, [1, 3]);
    // Each of these finds the fleet at 3/1/0: it would move, but the one move of this minute is spent.
    for (let k = 2; k < 4; k++) {
      const passing = await addMember(f, `${f.fleet}-d${k}`);
      await sleep(2500);
      await passing.stop();
      f.forget(passing);
    }
    const docs = await readDocs(f);
    expect(spread(docs, f.members)).toEqual([1, 3]);
    const moves = docs.allocations.flatMap((a) => [...(a.doc.moves ?? []), ...(a.doc.moving ? [a.doc.moving] : [])]);
    expect(moves.length, JSON.stringify(moves)).toBe(1);
  }, 120_000);

  it('abandons a move whose copy fails to start on the receiver: the old copy serves on, and it is not tried again at once', async () => {
    const { f, ids } = await fleetWithModels(1, 2);
    const watcher = new MoveWatcher(f, true);
    const loops = ids.map((id) => new InferenceLoop(f.members[0]!, id));
    const failing = await addMember(f, `${f.fleet}-d1`, { deploy: { args: ['--wrong-sha'] } });
    await waitUntil('a move abandoned', async () => (await metric(failing, 'feeder_fleet_moves_total', 'outcome="abandoned"')) > 0, {
      timeoutMs: 30_000,
    });
    await sleep(4000);
    const docs = await readDocs(f);
    expect(spread(docs, f.members)).toEqual([0, 2]);
    for (const { doc } of docs.allocations) {
      const tries = (doc.moves ?? []).filter((m) => m.to === failing.name);
      expect(tries.length, `moves of ${doc.model_id} to the failing member: ${JSON.stringify(doc.moves)}`).toBeLessThanOrEqual(1);
      expect(tries.every((m) => m.outcome === 'abandoned')).toBe(true);
    }
    expect((await watcher.stop()).violations).toEqual([]);
    for (const loop of loops) expect((await loop.stop()).failures).toEqual([]);
  }, 120_000);
});
