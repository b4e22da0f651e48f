import { overwriteDefinition } from '../support/damage.js';
import { writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { CHUNKS_INDEX_PATTERN } from '../../src/model/layout.js';
import { getMeta } from '../../src/model/meta.js';
import { childrenOf, waitForStatus, type RunningDaemon, withDaemon } from '../support/daemon.js';
import { storedModel } from '../support/deploy.js';
import { newEs, tempDir } from '../support/es.js';
import { pollUntil } from '../support/wait.js';

const KiB = 1024;
const MiB = 1024 * KiB;

const valuesFor = (bytes: Buffer, tokens: number[]) => [tokens.map((t) => [bytes[t % bytes.length]! / 255])];

async function status(daemon: RunningDaemon, modelId: string): Promise<Record<string, any>> {
  return fetch(`http://${daemon.listen}/deployments/${modelId}`).then((r) => r.json() as Promise<Record<string, any>>);
}

async function infer(daemon: RunningDaemon, modelId: string, tokens: number[]) {
  const response = await fetch(`http://${daemon.listen}/deployments/${modelId}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ tokens: [tokens] }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

/** A replacement of `modelId` with new random bytes, uploaded through the CLI. */
async function replaceModel(daemon: RunningDaemon, modelId: string, size: number): Promise<Buffer> {
  const bytes = randomBytes(size);
  const path = join(await tempDir(), 'replacement.pt');
  await writeFile(path, bytes);
  const result = await daemon.cli(['upload', path, '--model-id', modelId, '--replace', '--chunk-size', '256kb']);
  expect(result.exitCode, result.stderr).toBe(0);
  return bytes;
}

async function chunksOfGeneration(modelId: string, generation: number): Promise<number> {
  const es = newEs().client;
  await es.indices.refresh({ index: CHUNKS_INDEX_PATTERN, expand_wildcards: 'all' });
  const { count } = await es.count({
    index: CHUNKS_INDEX_PATTERN,
    expand_wildcards: 'all',
    query: { bool: { filter: [{ term: { model_id: modelId } }, { term: { generation } }] } },
  });
  return count;
}

/** Token positions at which the two models differ, so an answer tells which one was served. */
function tellingTokens(a: Buffer, b: Buffer, count = 4): number[] {
  const tokens: number[] = [];
  for (let t = 0; tokens.length < count && t < Math.min(a.length, b.length); t += 997) if (a[t] !== b[t]) tokens.push(t);
  return tokens;
}

describe('restarts are counted within daemon.restartWindowMs', () => {
  it('a deployment that crashes now and then, slower than the window, is restarted every time', async () => {
    const { modelId } = await storedModel(300_000);
    // One restart allowed per 1.5 s: the budget a crash spends must come back once the window has
    // passed. A short window, as each crash waits it out: three of them in every run of the suite.
    await withDaemon({ config: { daemon: { maxRestarts: 1, restartWindowMs: 1500, restartBackoffMs: 50 } } }, async (daemon) => {
      expect((await daemon.cli(['deploy', modelId])).exitCode).toBe(0);
      for (let crash = 1; crash <= 3; crash += 1) {
        const before = await status(daemon, modelId);
        process.kill(before.pid, 'SIGKILL');
        const after = await waitForStatus(daemon, modelId, (s) => s.pid !== before.pid && s.state !== 'starting');
        expect(after, `crash ${crash}`).toMatchObject({ state: 'started', reason: null });
        expect(after.restarts).toBeLessThanOrEqual(1);
        await sleep(1700);
      }
      expect((await status(daemon, modelId)).restarts).toBe(0);
    });
  });

  it('a process that keeps dying while serving, past the budget, fails the deployment and the daemon stays up', async () => {
    const { modelId } = await storedModel(300_000);
    await withDaemon({ config: { daemon: { maxRestarts: 1, restartWindowMs: 60_000, restartBackoffMs: 50 } } }, async (daemon) => {
      expect((await daemon.cli(['deploy', modelId])).exitCode).toBe(0);
      const first = await status(daemon, modelId);
      process.kill(first.pid, 'SIGKILL');
      const restarted = await waitForStatus(daemon, modelId, (s) => s.state === 'started' && s.pid !== first.pid);
      process.kill(restarted.pid, 'SIGKILL');
      const failed = await waitForStatus(daemon, modelId, (s) => s.state === 'failed');
      expect(failed.reason).toMatch(/gave up after 1 restarts: the native process \(pid \d+\) was killed by SIGKILL while serving/);
      expect(daemon.child.exitCode, daemon.output().slice(-2000)).toBeNull();
      expect((await fetch(`http://${daemon.listen}/healthz`)).status).toBe(200);
    });
  });

  it('a crash loop within the window still fails the deployment', async () => {
    const { modelId } = await storedModel(1 * MiB);
    const options = {
      config: {
        deploy: { args: ['--crash-after-bytes', '300000'] },
        daemon: { maxRestarts: 2, restartWindowMs: 60_000, restartBackoffMs: 50 },
      },
    };
    await withDaemon(options, async (daemon) => {
      const result = await daemon.cli(['deploy', modelId, '--json']);
      expect(JSON.parse(result.stdout)).toMatchObject({ state: 'failed', restarts: 2 });
      expect(await childrenOf(daemon.child.pid!)).toEqual([]);
    });
  });
});

describe('a model the native process cannot load', () => {
  it('fails the deployment at its first exit 8, without spending the restart budget', async () => {
    const { modelId } = await storedModel(300_000);
    // The stub stands in for a runtime that refuses the bytes: native-torch's exit code for it.
    const options = {
      config: {
        deploy: { args: ['--exit-after-bytes', '300000', '--exit-code', '8'] },
        daemon: { maxRestarts: 3, restartWindowMs: 60_000, restartBackoffMs: 50 },
      },
    };
    await withDaemon(options, async (daemon) => {
      const result = await daemon.cli(['deploy', modelId, '--json']);
      expect(JSON.parse(result.stdout)).toMatchObject({ state: 'failed', restarts: 0 });
      const failed = await status(daemon, modelId);
      expect(failed.reason).toMatch(
        /^the native process \(pid \d+\) exited with code 8: it cannot load model '[^']+', which no restart cures; its last errors: simulated exit with code 8/,
      );
      const spawns = daemon.logs.filter((l) => l.event?.action === 'native-spawn' && l.feeder?.model_id === modelId);
      expect(spawns).toHaveLength(1);
    });
  });
});

describe('a generation that a deployment loads or serves is pinned', () => {
  it('upload --replace during a deploy does not remove the chunks being streamed; they go once the rollover leaves them', async () => {
    const model = await storedModel(2 * MiB);
    await withDaemon({ config: { deploy: { args: ['--read-rate', String(MiB)] } } }, async (daemon) => {
      const quick = await daemon.cli(['deploy', model.modelId, '--wait-for', 'starting']);
      expect(quick.exitCode, quick.stderr).toBe(0);
      await waitForStatus(daemon, model.modelId, (s) => s.bytes_streamed > 0, 10_000);
      const replacement = await replaceModel(daemon, model.modelId, 2 * MiB);

      const served = await waitForStatus(daemon, model.modelId, (s) => s.state !== 'starting', 20_000);
      expect(served, JSON.stringify(served)).toMatchObject({ state: 'started', generation: 1, restarts: 0 });
      const tokens = tellingTokens(model.bytes, replacement);
      expect((await infer(daemon, model.modelId, tokens)).body.result.inference).toEqual(valuesFor(model.bytes, tokens));
      expect(await chunksOfGeneration(model.modelId, 1)).toBe(8);
      expect((await getMeta(newEs(), model.modelId))!.meta.garbage.map((g) => g.generation)).toEqual([1]);

      const rolled = await daemon.cli(['deploy', model.modelId, '--json', '--timeout', '30s']);
      expect(rolled.exitCode, rolled.stderr).toBe(0);
      expect(JSON.parse(rolled.stdout)).toMatchObject({ state: 'started', generation: 2, rollover: null });
      expect((await infer(daemon, model.modelId, tokens)).body.result.inference).toEqual(valuesFor(replacement, tokens));
      // The collection deletes the chunks first and then takes the generation off the meta document's
      // garbage list: the two are read once both should have happened, not between them.
      const garbage = async () => (await getMeta(newEs(), model.modelId))!.meta.garbage;
      await pollUntil(async () => (await chunksOfGeneration(model.modelId, 1)) === 0 && (await garbage()).length === 0, {
        timeoutMs: 10_000,
        intervalMs: 200,
      });
      expect(await chunksOfGeneration(model.modelId, 1)).toBe(0);
      expect(await garbage()).toEqual([]);
    });
  });
});

describe('zero-downtime rollover', () => {
  it('switches inference from the old bytes to the new at one point, with no failed request, then stops the old process', async () => {
    const model = await storedModel(1 * MiB);
    await withDaemon({}, async (daemon) => {
      expect((await daemon.cli(['deploy', model.modelId])).exitCode).toBe(0);
      const oldPid = (await status(daemon, model.modelId)).pid;
      const replacement = await replaceModel(daemon, model.modelId, 1 * MiB);
      const tokens = tellingTokens(model.bytes, replacement);
      const [before, after] = [JSON.stringify(valuesFor(model.bytes, tokens)), JSON.stringify(valuesFor(replacement, tokens))];

      let rolling = true;
      const loop = async () => {
        const seen: string[] = [];
        while (rolling) {
          const answer = await infer(daemon, model.modelId, tokens);
          seen.push(
            answer.status === 200 ? JSON.stringify(answer.body.result?.inference) : `HTTP ${answer.status} ${JSON.stringify(answer.body)}`,
          );
        }
        return seen;
      };
      const loops = [loop(), loop()];
      await sleep(200);
      const rolled = await daemon.cli(['deploy', model.modelId, '--json']);
      await sleep(300);
      rolling = false;
      const answers = await Promise.all(loops);

      expect(rolled.exitCode, rolled.stderr).toBe(0);
      expect(JSON.parse(rolled.stdout)).toMatchObject({ state: 'started', generation: 2, rollover: null });
      for (const seen of answers) {
        expect(
          seen.filter((a) => a !== before && a !== after),
          'failed or wrong answers',
        ).toEqual([]);
        const switchedAt = seen.indexOf(after);
        expect(switchedAt).toBeGreaterThan(0);
        expect(
          seen.slice(switchedAt).every((a) => a === after),
          'answers switch once and for all',
        ).toBe(true);
      }
      const children = await childrenOf(daemon.child.pid!);
      expect(children).not.toContain(oldPid);
      expect(children).toEqual([(await status(daemon, model.modelId)).pid]);
    });
  });

  it('keeps the old process serving when the new generation fails to load, and says why', async () => {
    const model = await storedModel(1 * MiB);
    await withDaemon({}, async (daemon) => {
      expect((await daemon.cli(['deploy', model.modelId])).exitCode).toBe(0);
      const { pid } = await status(daemon, model.modelId);
      await replaceModel(daemon, model.modelId, 1 * MiB);
      await overwriteDefinition(model.modelId, 2, 1, Buffer.alloc(256 * KiB, 7));

      const rolled = await daemon.cli(['deploy', model.modelId, '--json']);
      expect(rolled.exitCode).toBe(1);
      const answer = JSON.parse(rolled.stdout);
      expect(answer).toMatchObject({ state: 'started', generation: 1, pid, rollover: { generation: 2, state: 'failed' } });
      expect(answer.rollover.reason).toMatch(/chunk 1 of model .* fails its CRC32 check/);
      const text = await daemon.cli(['deploy', model.modelId]);
      expect(text.stderr).toMatch(/rollover of model '.*' to generation 2 failed: .*CRC32.*; generation 1 keeps serving/);
      const tokens = [0, 5, 999];
      expect((await infer(daemon, model.modelId, tokens)).body.result.inference).toEqual(valuesFor(model.bytes, tokens));
      expect(await childrenOf(daemon.child.pid!)).toEqual([pid]);
    });
  });
});

describe('the inference path is bounded', () => {
  it('answers 429 FEEDER_ERR_QUEUE_FULL beyond deploy.queueCapacity, and counts pending, rejected and answered requests', async () => {
    const { modelId } = await storedModel(300_000);
    await withDaemon({ config: { deploy: { args: ['--answer-delay-ms', '200'], queueCapacity: 2 } } }, async (daemon) => {
      expect((await daemon.cli(['deploy', modelId])).exitCode).toBe(0);
      const burst = Array.from({ length: 6 }, () => infer(daemon, modelId, [1, 2]));
      await sleep(50);
      expect((await status(daemon, modelId)).number_of_pending_requests).toBe(2);
      const answers = await Promise.all(burst);
      const rejected = answers.filter((a) => a.status === 429);
      expect(answers.filter((a) => a.status === 200)).toHaveLength(2);
      expect(rejected).toHaveLength(4);
      expect(rejected[0]!.body.error).toMatchObject({
        code: 'FEEDER_ERR_QUEUE_FULL',
        message: expect.stringContaining('deploy.queueCapacity'),
      });
      expect(await status(daemon, modelId)).toMatchObject({
        inference_count: 2,
        rejected_execution_count: 4,
        number_of_pending_requests: 0,
        timeout_count: 0,
        error_count: 0,
      });
      const metrics = await fetch(`http://${daemon.listen}/metrics`).then((r) => r.text());
      expect(metrics).toContain(`feeder_inference_requests_total{model_id="${modelId}",outcome="rejected"} 4`);
      expect(metrics).toContain(`feeder_inference_pending_requests{model_id="${modelId}"} 0`);
    });
  });

  it('answers a request that an undeploy cut short with 409 FEEDER_ERR_ABORTED, not as a failure of the process', async () => {
    const { modelId } = await storedModel(300_000);
    // The answer waits far longer than an undeploy takes, even on a loaded machine (a CLI run alone
    // took over 1.5 s under CI's load): the request can only end by being cut short.
    await withDaemon({ config: { deploy: { args: ['--answer-delay-ms', '20000'] } } }, async (daemon) => {
      expect((await daemon.cli(['deploy', modelId])).exitCode).toBe(0);
      const inFlight = infer(daemon, modelId, [1]);
      await waitForStatus(daemon, modelId, (s) => s.number_of_pending_requests === 1, 10_000);
      expect((await daemon.cli(['undeploy', modelId])).exitCode).toBe(0);
      const answer = await inFlight;
      expect(answer.status, JSON.stringify(answer.body)).toBe(409);
      expect(answer.body.error).toMatchObject({
        code: 'FEEDER_ERR_ABORTED',
        message: expect.stringContaining('was stopped before it answered'),
      });
    });
  });

  it('times a request out after daemon.inferenceTimeoutMs, counts it, and keeps serving', async () => {
    const model = await storedModel(300_000);
    await withDaemon(
      { config: { deploy: { args: ['--answer-delay-ms', '600'] }, daemon: { inferenceTimeoutMs: 300 } } },
      async (daemon) => {
        expect((await daemon.cli(['deploy', model.modelId])).exitCode).toBe(0);
        const slow = await infer(daemon, model.modelId, [3]);
        expect(slow.status).toBe(504);
        expect(slow.body.error.code).toBe('FEEDER_ERR_TIMEOUT');
        expect(await status(daemon, model.modelId)).toMatchObject({ state: 'started', timeout_count: 1 });
        // The late answer to the timed-out request must not be taken for an answer to this one.
        await sleep(700);
        const metrics = await fetch(`http://${daemon.listen}/metrics`).then((r) => r.text());
        expect(metrics).toContain(`feeder_inference_requests_total{model_id="${model.modelId}",outcome="timeout"} 1`);
        expect((await status(daemon, model.modelId)).state).toBe('started');
      },
    );
  });
});
