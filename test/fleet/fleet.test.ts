// Issue 13: three real daemons in one fleet, sharing deployments through Elasticsearch. Each test
// judges the fleet as an operator would: where `status` says each allocation runs, which daemons
// actually serve, what answers an inference, and that no native process is left afterwards.
// These fleets run on the single test node, beside the other files: leases, takeovers, failures
// and refusals are the daemons' doing, the same on one node as on three. What needs the 3-node
// cluster (a node lost mid-load, claims raced while shard copies serve the reads) is
// fleet-cluster.test.ts's.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { feeder } from '../support/cli.js';
import { withDaemon } from '../support/daemon.js';
import { randomModelFile } from '../support/es.js';
import { call, deployPath, desiredModels, type Answer } from '../support/races.js';
import { FLEET_TIMING, TestFleet, useFleetScene, type FleetOptions } from '../support/fleet.js';
import { isAlive } from '../support/processes.js';
import { pollUntil } from '../support/wait.js';
import type { FleetModelStatus } from '../../src/api/wire-types.js';
import { allStarted, deployIn, holders, storedOn as stored, valuesFor } from './fleet-steps.js';

const scene = useFleetScene({ onCluster: false });
const desired = scene.desired;
const startFleet = (options: FleetOptions = {}) => scene.start(options);
const deploy = (f: TestFleet, modelId: string, allocations: number, via?: TestFleet['members'][number], timeoutMs?: number) =>
  deployIn(scene, f, modelId, allocations, via, timeoutMs);

describe('a fleet of three daemons', () => {
  it('runs --allocations 2 on two distinct daemons; any daemon shows both and answers an inference (forwarded when it holds none)', async () => {
    const f = await startFleet();
    const { modelId, bytes } = await stored(f, 400_000);
    const answer = await deploy(f, modelId, 2);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const status = answer.body as FleetModelStatus;
    expect(status).toMatchObject({ model_id: modelId, allocations: 2, state: 'started' });
    expect(new Set(holders(status)).size, 'two allocations on two distinct daemons').toBe(2);

    for (const via of f.members) {
      const seen = await f.modelStatus(modelId, via);
      expect(holders(seen).sort(), `status through ${via.name}`).toEqual(holders(status).sort());
    }
    const bystander = f.members.find((d) => !holders(status).includes(d.name))!;
    const inferred = await call(bystander.listen, 'POST', `${deployPath(modelId)}/infer`, { tokens: [[1, 2, 3]] });
    expect(inferred.status, JSON.stringify(inferred.body)).toBe(200);
    expect(inferred.body.result.inference).toEqual(valuesFor(bytes, [1, 2, 3]));
    expect(inferred.headers['x-feeder-served-by'], 'forwarded to a holder').toSatisfy((h: string) => holders(status).includes(h));

    // The CLI's view through the bystander: every allocation, on whichever daemon.
    const cli = await bystander.cli(['status']);
    expect(cli.stdout).toContain(`fleet '${f.fleet}': 3 live daemon(s)`);
    expect(cli.stdout).toMatch(new RegExp(`${modelId}: started, 2 of 2 allocation\\(s\\) started`));

    const undeployed = await call(bystander.listen, 'DELETE', deployPath(modelId));
    desired.delete(modelId);
    expect(undeployed.body).toMatchObject({ undeployed: true, allocations_left: 0 });
    expect((await f.servingNow()).get(modelId)).toBeUndefined();
  }, 90_000);

  it('after SIGKILL of a holder, its allocation starts on the daemon that had none, once the lease expired', async () => {
    // No rebalancing: with the models of earlier tests still placed, a move toward the empty daemon
    // would be another way for the allocation to get there, and this test judges the takeover.
    const f = await startFleet({ config: { daemon: { rebalance: { maxMovesPerMinute: 0 } } } });
    const { modelId, bytes } = await stored(f, 300_000);
    const first = (await deploy(f, modelId, 2)).body as FleetModelStatus;
    expect(first.state).toBe('started');
    const victim = f.byName(first.items[0]!.daemon!);
    const spare = f.members.find((d) => !holders(first).includes(d.name))!;
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    await victim.child;
    f.forget(victim);

    const back = await f.waitFor(modelId, (s) => allStarted(s) && holders(s).includes(spare.name), 20_000);
    const recoveredMs = Date.now() - killedAt;
    expect(new Set(holders(back)).size).toBe(2);
    // The victim renewed its lease at most a heartbeat before it was killed, so the lease may end
    // up to a heartbeat before killedAt + leaseMs.
    expect(recoveredMs, 'not before the lease expired').toBeGreaterThanOrEqual(FLEET_TIMING.leaseMs - FLEET_TIMING.heartbeatMs - 100);
    const claim = await spare.waitForLog((l) => l.event?.action === 'fleet-claim' && l.feeder?.model_id === modelId);
    expect(claim.message).toContain(`from daemon '${victim.name}', whose lease expired`);
    expect(await desiredModels(victim.name, f.esUrl), "the killed daemon's pin moved with the allocation").not.toContain(modelId);
    expect(await desiredModels(spare.name, f.esUrl)).toContain(modelId);
    const inferred = await call(spare.listen, 'POST', `${deployPath(modelId)}/infer`, { tokens: [[7]] });
    expect(inferred.body.result.inference).toEqual(valuesFor(bytes, [7]));
  }, 90_000);

  it('after SIGTERM of a holder, its allocation moves at once, without waiting for the lease to expire', async () => {
    // A lease long enough that waiting for it would show.
    const f = await startFleet({ config: { daemon: { heartbeatMs: 2000, leaseMs: 20_000 } } });
    const { modelId } = await stored(f, 300_000);
    const first = (await deploy(f, modelId, 1)).body as FleetModelStatus;
    const holder = f.byName(first.items[0]!.daemon!);
    const stoppedAt = Date.now();
    expect((await holder.stop()).exitCode).toBe(0);
    f.forget(holder);
    const back = await f.waitFor(modelId, (s) => allStarted(s) && s.items[0]!.daemon !== holder.name, 15_000);
    expect(Date.now() - stoppedAt, 'moved well within the 20 s lease').toBeLessThan(10_000);
    expect(holder.output()).toMatch(/gave back 1 allocation\(s\) to fleet/);
    expect(back.items[0]!.daemon).not.toBe(holder.name);
  }, 90_000);

  it('a daemon paused past its lease (SIGSTOP) stops serving what was taken over and never serves it beside the new holder (SIGCONT)', async () => {
    const f = await startFleet();
    const { modelId } = await stored(f, 300_000);
    const first = (await deploy(f, modelId, 1)).body as FleetModelStatus;
    const paused = f.byName(first.items[0]!.daemon!);
    const pid = first.items[0]!.pid!;
    const before = await call(paused.listen, 'POST', `${deployPath(modelId)}/infer`, { tokens: [[1]] });
    expect(before.headers['x-feeder-served-by'], 'answered by its holder before the pause').toBe(paused.name);
    process.kill(paused.child.pid!, 'SIGSTOP');
    let waiting: Promise<Answer>;
    try {
      const other = f.members.find((d) => d !== paused)!;
      await f.waitFor(modelId, (s) => allStarted(s) && s.items[0]!.daemon !== paused.name, 20_000, other);
      // Sent while it is still paused: the first thing the woken daemon does with its old process is what is judged.
      waiting = call(paused.listen, 'POST', `${deployPath(modelId)}/infer`, { tokens: [[1]] });
      await sleep(200);
    } finally {
      process.kill(paused.child.pid!, 'SIGCONT');
    }
    const woken = await waiting;
    expect(woken.status, JSON.stringify(woken.body)).toBe(200);
    expect(woken.headers['x-feeder-served-by'], 'the first answer after SIGCONT comes from the new holder').not.toBe(paused.name);
    // Woken, it learns its lease lapsed before it serves again: its native process goes.
    await paused.waitForLog((l) => l.event?.action === 'fleet-stop' && l.feeder?.model_id === modelId, 10_000);
    await pollUntil(() => !isAlive(pid), { timeoutMs: 5000 });
    expect(isAlive(pid), "the paused daemon's native process").toBe(false);
    const through = await call(paused.listen, 'POST', `${deployPath(modelId)}/infer`, { tokens: [[1]] });
    expect(through.status).toBe(200);
    expect(through.headers['x-feeder-served-by'], 'answered by the new holder, not by the paused daemon').not.toBe(paused.name);
    const serving = await f.servingNow();
    expect(serving.get(modelId)).toHaveLength(1);
  }, 90_000);

  it("a model that fails to load is tried on each daemon, then failed with every daemon's reason", async () => {
    // --wrong-sha: the stub reports a digest that is not the model's; every daemon refuses it.
    const f = await startFleet({ config: { deploy: { args: ['--wrong-sha'] }, daemon: { maxRestarts: 0 } } });
    const { modelId } = await stored(f, 200_000);
    const answer = await deploy(f, modelId, 1);
    const status = answer.body as FleetModelStatus;
    expect(status.state, JSON.stringify(status)).toBe('failed');
    const item = status.items[0]!;
    expect(item.failures.map((x) => x.daemon).sort(), JSON.stringify(status)).toEqual(f.members.map((d) => d.name).sort());
    for (const d of f.members) expect(item.reason).toContain(`daemon '${d.name}'`);
    expect(item.reason).toMatch(/sha256/i);
    // A deploy again is a new try, on every daemon again (and fails again the same way here).
    const cli = await f.members[1]!.cli(['deploy', modelId]);
    expect(cli.exitCode).toBe(1);
    expect(cli.stderr).toContain(`deploying model '${modelId}' in the fleet failed`);
    const again = await f.modelStatus(modelId);
    expect(again.items[0]!.failures.map((x) => x.daemon).sort(), 'tried afresh on every daemon').toEqual(
      f.members.map((d) => d.name).sort(),
    );
    expect(f.members.flatMap((d) => d.logs.filter((l) => l.event?.action === 'fleet-claim'))).toHaveLength(6);
  }, 120_000);
});

describe('a fleet that restarts', () => {
  it('after every daemon restarts at once (SIGTERM, start again), the desired allocations converge again', async () => {
    const f = await startFleet();
    const a = await stored(f, 200_000);
    const b = await stored(f, 200_000);
    expect((await deploy(f, a.modelId, 3)).body.state).toBe('started');
    expect((await deploy(f, b.modelId, 1)).body.state).toBe('started');
    const names = f.members.map((d) => d.name);
    await Promise.all(f.members.map((d) => d.stop()));
    for (const d of [...f.members]) f.forget(d);
    await Promise.all(names.map((name) => f.add(name)));

    const backA = await f.waitFor(a.modelId, allStarted, 30_000);
    const backB = await f.waitFor(b.modelId, allStarted, 30_000);
    expect(new Set(holders(backA)).size).toBe(3);
    expect(holders(backB)).toHaveLength(1);
    const inferred = await call(f.members[0]!.listen, 'POST', `${deployPath(a.modelId)}/infer`, { tokens: [[5]] });
    expect(inferred.body.result.inference).toEqual(valuesFor(a.bytes, [5]));
  }, 120_000);
});

describe('changing a fleet deployment, and what is refused', () => {
  it('scales 3 allocations down to 1 and rolls the remaining one over to a replaced generation', async () => {
    const f = await startFleet();
    const { modelId } = await stored(f, 200_000);
    expect((await deploy(f, modelId, 3)).body.state).toBe('started');
    const down = (await deploy(f, modelId, 1)).body as FleetModelStatus;
    expect(down).toMatchObject({ allocations: 1, state: 'started' });
    await f.waitFor(modelId, allStarted);
    await pollUntil(async () => (await f.servingNow()).get(modelId)?.length === 1, { timeoutMs: 10_000, intervalMs: 200 });
    expect((await f.servingNow()).get(modelId), 'one daemon serves after scaling down').toHaveLength(1);

    const generation = down.items[0]!.generation!;
    const replaced = await feeder(['upload', (await randomModelFile(150_000)).path, '--model-id', modelId, '--replace'], {
      env: { ES_URL: f.esUrl },
    });
    expect(replaced.exitCode, replaced.stderr).toBe(0);
    await deploy(f, modelId, 1);
    const rolled = await f.waitFor(modelId, (s) => allStarted(s) && s.items[0]!.generation === generation + 1, 20_000);
    expect(rolled.items[0]!.daemon, 'rolled over where it ran').toBe(down.items[0]!.daemon);
  }, 120_000);

  it('refuses a delete of a model the fleet runs, --allocations out of range, and --allocations on a daemon in no fleet', async () => {
    const f = await startFleet({ size: 1 });
    const { modelId } = await stored(f, 100_000);
    expect((await deploy(f, modelId, 1)).body.state).toBe('started');
    const refused = await feeder(['models', 'delete', modelId], { env: { ES_URL: f.esUrl } });
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain(
      `it is deployed in fleet '${f.fleet}'; run 'feeder undeploy ${modelId}' against a daemon of that fleet first`,
    );
    expect((await f.modelStatus(modelId)).state, 'still started after the refused delete').toBe('started');

    for (const allocations of [0, 65, 1.5]) {
      const answer = await call(f.members[0]!.listen, 'PUT', deployPath(modelId), { allocations });
      expect(answer.status).toBe(400);
      expect(answer.body.error.message).toContain(`allocations must be a whole number from 1 to 64; got ${allocations}`);
    }
    await withDaemon({ env: { ES_URL: f.esUrl } }, async (lone) => {
      const cli = await lone.cli(['deploy', modelId, '--allocations', '2']);
      expect(cli.exitCode).not.toBe(0);
      expect(cli.stderr).toContain('allocations above 1 need a fleet: this daemon is in none');
    });
    expect((await call(f.members[0]!.listen, 'DELETE', deployPath(modelId))).body).toMatchObject({ undeployed: true });
    desired.delete(modelId);
    const deleted = await feeder(['models', 'delete', modelId], { env: { ES_URL: f.esUrl } });
    expect(deleted.exitCode, deleted.stderr).toBe(0);
  }, 120_000);

  it('respects daemon.memoryBudget: a model that does not fit waits unassigned, and starts once room is made', async () => {
    const f = await startFleet({ size: 1, config: { daemon: { memoryBudget: 300_000 } } });
    const first = await stored(f, 200_000);
    const second = await stored(f, 200_000);
    expect((await deploy(f, first.modelId, 1)).body.state).toBe('started');
    const waiting = await call(f.members[0]!.listen, 'PUT', deployPath(second.modelId), { allocations: 1, timeout_ms: 3000 });
    desired.set(second.modelId, 1);
    expect(waiting.status, 'still waiting when the wait ran out').toBe(202);
    expect(waiting.body.items[0]).toMatchObject({ daemon: null, state: 'unassigned' });
    // Its presence says what it serves (renewed every heartbeat).
    let serving = -1;
    await pollUntil(async () => (serving = (await f.status()).daemons[0]!.serving) === 1, { timeoutMs: 5000, intervalMs: 200 });
    expect(serving, 'allocations its presence document lists').toBe(1);

    expect((await call(f.members[0]!.listen, 'DELETE', deployPath(first.modelId))).body).toMatchObject({ undeployed: true });
    desired.delete(first.modelId);
    const started = await f.waitFor(second.modelId, allStarted, 20_000);
    expect(started.items[0]!.daemon).toBe(f.members[0]!.name);
  }, 90_000);

  it('refuses a bad fleet name at start-up, naming the rule', async () => {
    const bad = await feeder(['serve', '--fleet', 'Bad Fleet!', '--listen', '127.0.0.1:0']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain(`daemon.fleet (FEEDER_FLEET, --fleet) must be 1 to 64 lowercase letters`);
  });
});
