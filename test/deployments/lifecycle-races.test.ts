// Issue 9: deploys racing each other, an undeploy, or the daemon's restore. Each test drives a real
// `feeder serve` over loopback and judges it by what an operator would see: the native processes
// running, the control API's map, and the desired-state documents a restart brings back.
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { freePort, withDaemon, type RunningDaemon } from '../support/daemon.js';
import { spawnedPids, storedModel } from '../support/deploy.js';
import { uniqueId } from '../support/es.js';
import {
  agreementAfterSettling,
  call,
  deployPath,
  ensureDeploymentsMapping,
  forgetDaemon,
  liveChildren,
  liveSpawned,
  stopWithin,
  type Answer,
} from '../support/races.js';
import { pollUntil, waitUntil } from '../support/wait.js';

const MIB = 1024 * 1024;
const deployStarted = (daemon: { listen: string }, modelId: string) =>
  call(daemon.listen, 'PUT', deployPath(modelId), { wait_for: 'started', timeout_ms: 30_000 }, 45_000);
const outcome = (answer: Answer) => ({ status: answer.status, state: answer.body?.state, pid: answer.body?.pid });
const spawnedFor = (daemon: RunningDaemon, modelId: string) => spawnedPids(daemon.logs.filter((l) => l.feeder?.model_id === modelId));

beforeAll(ensureDeploymentsMapping);

/** Removes the desired state of the daemon named `name` once the test ends, however it ends. */
const forgetAfterTest = (name: string) => onTestFinished(() => forgetDaemon(name));

describe('identical concurrent deploys', () => {
  it('four simultaneous PUTs of one model share one load: one native process, one outcome; undeploy and SIGTERM leave nothing', async () => {
    const model = await storedModel(4 * MIB);
    // A throttled stub makes each load last long enough for the four requests to overlap.
    await withDaemon({ config: { deploy: { args: ['--read-rate', String(16 * MIB)] } } }, async (daemon) => {
      forgetAfterTest(daemon.name);
      const answers = await Promise.all([0, 1, 2, 3].map(() => deployStarted(daemon, model.modelId)));
      const outcomes = answers.map(outcome);
      expect
        .soft(outcomes[0], 'the first deploy answers started')
        .toMatchObject({ status: 200, state: 'started', pid: expect.any(Number) });
      expect.soft(outcomes, 'every caller gets the same outcome: same status, state and pid').toEqual(outcomes.map(() => outcomes[0]));
      expect.soft(spawnedFor(daemon, model.modelId), 'native processes spawned for the model').toHaveLength(1);
      expect
        .soft(await liveChildren(daemon), "the daemon's live native children are the one deployment's process")
        .toEqual([outcomes[0]!.pid]);

      const undeployed = await call(daemon.listen, 'DELETE', deployPath(model.modelId));
      expect.soft(undeployed.status, JSON.stringify(undeployed.body)).toBe(200);
      expect.soft(await liveSpawned(daemon), 'native processes still running after undeploy').toEqual([]);

      const stopped = await stopWithin(daemon, 5000);
      expect
        .soft(stopped, `SIGTERM: exit within 5 s with code 0, no native process left; daemon output:\n${daemon.output().slice(-1500)}`)
        .toMatchObject({ exited: true, exitCode: 0, leftRunning: [] });
    });
  }, 60_000);
});

describe('a deploy racing an undeploy of the same model', () => {
  // A stub that ignores SIGTERM holds every stop open for stopGraceMs: the deploy lands inside it.
  const config = { deploy: { args: ['--ignore-sigterm'] }, daemon: { stopGraceMs: 1500 } };

  it('leaves the map, the native processes and the desired documents in agreement, and a restart brings back only what ran', async () => {
    const model = await storedModel(256 * 1024);
    const name = uniqueId('daemon');
    forgetAfterTest(name);
    let answers = '';
    let ranBefore: string[] = [];
    await withDaemon({ name, config }, async (daemon) => {
      expect((await deployStarted(daemon, model.modelId)).body).toMatchObject({ state: 'started' });
      const undeploying = call(daemon.listen, 'DELETE', deployPath(model.modelId));
      const seen = await untilStopping(daemon, model.modelId);
      const redeployed = await deployStarted(daemon, model.modelId);
      const undeployed = await undeploying;
      answers = `the PUT was sent with the deployment at ${seen}; DELETE answered ${JSON.stringify(outcome(undeployed))}, the PUT ${JSON.stringify(outcome(redeployed))}`;

      const before = await agreementAfterSettling(daemon, 5000);
      expect.soft(before.problems, `after a deploy during an undeploy (${answers})`).toEqual([]);
      if (redeployed.status === 200 && redeployed.body?.state === 'started') {
        const running = before.list.find((d) => d.model_id === model.modelId);
        expect
          .soft(running?.pid, `the deploy answered started with pid ${redeployed.body.pid}, so that process must be serving (${answers})`)
          .toBe(redeployed.body.pid);
      }
      ranBefore = before.list.filter((d) => d.state !== 'stopped').map((d) => d.model_id);

      const stopped = await stopWithin(daemon, 10_000);
      expect.soft(stopped, 'SIGTERM exits 0 and leaves no native process').toMatchObject({ exited: true, exitCode: 0, leftRunning: [] });
    });
    await withDaemon({ name, config }, async (daemon) => {
      const after = await agreementAfterSettling(daemon, 5000);
      expect.soft(after.problems, 'after the restart').toEqual([]);
      expect
        .soft(
          after.list.filter((d) => d.state !== 'stopped').map((d) => d.model_id),
          `the restarted daemon runs what ran before the restart (${answers})`,
        )
        .toEqual(ranBefore);

      await raceRepeatedly(daemon, model.modelId);
      const stopped = await stopWithin(daemon, 10_000);
      expect.soft(stopped, 'SIGTERM exits 0 and leaves no native process').toMatchObject({ exited: true, exitCode: 0, leftRunning: [] });
    });
  }, 110_000);

  /**
   * Both orders, from a model started and from one not deployed, at two staggers (at once, and
   * inside the stop): after each round the daemon must agree with its documents. The first round
   * that leaves them apart ends the loop, since every later round would start from its mess.
   */
  async function raceRepeatedly(daemon: RunningDaemon, modelId: string): Promise<void> {
    for (const deployedFirst of [true, false]) {
      for (const putFirst of [false, true]) {
        for (const staggerMs of [0, 300]) {
          if (deployedFirst) await deployStarted(daemon, modelId);
          else await call(daemon.listen, 'DELETE', deployPath(modelId));
          const del = () => call(daemon.listen, 'DELETE', deployPath(modelId));
          const put = () => deployStarted(daemon, modelId);
          const [first, second] = putFirst ? [put, del] : [del, put];
          const answers = await Promise.all([first(), sleep(staggerMs).then(second)]);
          const round = `round: model ${deployedFirst ? 'started' : 'not deployed'}, ${putFirst ? 'PUT' : 'DELETE'} first, the other ${staggerMs} ms later; answers ${JSON.stringify(answers.map(outcome))}`;
          const { problems } = await agreementAfterSettling(daemon, 5000);
          expect.soft(problems, round).toEqual([]);
          if (problems.length > 0) return;
        }
      }
    }
  }
});

describe('a deploy during restore', () => {
  it('a PUT that arrives while a restarted daemon brings back the same model shares its load: one process', async () => {
    const model = await storedModel(MIB);
    const name = uniqueId('daemon');
    const config = { deploy: { args: ['--read-rate', String(8 * MIB)] } };
    forgetAfterTest(name);
    await withDaemon({ name, config }, async (first) => {
      expect((await deployStarted(first, model.modelId)).body).toMatchObject({ state: 'started' });
      expect(await stopWithin(first, 10_000)).toMatchObject({ exited: true, exitCode: 0 });
    });

    // The PUT is sent the moment the control API accepts connections, before restore has finished.
    const listen = `127.0.0.1:${await freePort()}`;
    const early = putOnceListening(listen, model.modelId);
    early.catch(() => {}); // judged below, once the daemon is up
    await withDaemon({ name, listen, config }, async (daemon) => {
      const answer = await early;
      expect.soft(outcome(answer), 'the early PUT').toMatchObject({ status: 200, state: 'started', pid: expect.any(Number) });
      const agreement = await agreementAfterSettling(daemon, 10_000);
      expect.soft(agreement.problems, 'after a deploy during restore').toEqual([]);
      expect.soft(spawnedFor(daemon, model.modelId), 'native processes spawned for the model by the restarted daemon').toHaveLength(1);
      expect.soft(agreement.children, 'live native children').toEqual([answer.body?.pid]);
      expect
        .soft(
          agreement.list.map((d) => d.pid),
          'the map serves the process the PUT answered with',
        )
        .toEqual([answer.body?.pid]);
      const stopped = await stopWithin(daemon, 5000);
      expect
        .soft(stopped, 'SIGTERM exits 0 within 5 s and leaves no native process')
        .toMatchObject({ exited: true, exitCode: 0, leftRunning: [] });
    });
  }, 60_000);
});

/**
 * Waits until the undeploy is under way: the deployment is `stopping`, or already out of the map
 * (a daemon may drop it before the stop ends). The stub ignoring SIGTERM keeps the stop open
 * 1.5 s, so a deploy sent now lands inside it. What was seen goes into the test's messages.
 */
async function untilStopping(daemon: RunningDaemon, modelId: string, timeoutMs = 3000): Promise<string> {
  let seen = 'no answer';
  const stopping = async () => {
    const answer = await call(daemon.listen, 'GET', deployPath(modelId));
    seen = answer.status === 200 ? `state ${answer.body.state}` : `status ${answer.status}`;
    return answer.body?.state === 'stopping' || answer.status === 404;
  };
  return (await pollUntil(stopping, { timeoutMs, intervalMs: 20 })) ? seen : `${seen} after ${timeoutMs} ms`;
}

/** Retries a connection every few ms until the daemon listens, then deploys once. */
async function putOnceListening(listen: string, modelId: string): Promise<Answer> {
  const deployed = async () => {
    try {
      return await call(listen, 'PUT', deployPath(modelId), { wait_for: 'started', timeout_ms: 30_000 }, 45_000);
    } catch (error) {
      if ((error as { cause?: { code?: string } }).cause?.code !== 'ECONNREFUSED') throw error;
      return undefined;
    }
  };
  return waitUntil(`the daemon at ${listen} to accept a connection`, deployed, { timeoutMs: 30_000, intervalMs: 5 });
}
