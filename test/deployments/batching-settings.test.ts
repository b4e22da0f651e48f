import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DeploymentStatus } from '../../src/api/wire-types.js';
import { waitForStatus, withDaemon, type RunningDaemon } from '../support/daemon.js';
import { storedModel } from '../support/deploy.js';
import { tempDir, uniqueId } from '../support/es.js';
import { TestFleet } from '../support/fleet.js';
import { deploymentList } from '../support/races.js';
import { waitUntil } from '../support/wait.js';

async function infer(daemon: RunningDaemon, modelId: string, token: number) {
  const response = await fetch(`http://${daemon.listen}/deployments/${modelId}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ tokens: [[token]] }),
  });
  return (await response.json()) as Record<string, any>;
}

/** The deployment of `modelId` the member runs itself, as its own list shows it. */
async function localStatus(daemon: RunningDaemon, modelId: string): Promise<DeploymentStatus | undefined> {
  return (await deploymentList(daemon.listen)).find((d) => d.model_id === modelId);
}

/** Polls the member's own deployment of `modelId` until `until` holds. */
async function waitForLocal(daemon: RunningDaemon, modelId: string, until: (s: DeploymentStatus) => boolean, timeoutMs = 30_000) {
  let last: DeploymentStatus | undefined;
  const matched = async () => {
    last = await localStatus(daemon, modelId);
    return last && until(last) ? last : undefined;
  };
  return waitUntil(`${daemon.name}'s deployment of ${modelId} to match`, matched, { timeoutMs, lastSeen: () => JSON.stringify(last) });
}

describe('batching settings through the daemon', () => {
  it('takes them from the config, from a deploy and from a repeated deploy, shows them, and refuses what no frame can be', async () => {
    const { modelId } = await storedModel(50_000);
    await withDaemon({ config: { deploy: { maxBatchSize: 8 } } }, async (daemon) => {
      const url = `http://${daemon.listen}/deployments/${modelId}`;
      const put = (body: unknown) =>
        fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const deployed = await daemon.cli(['deploy', modelId, '--json']);
      expect(deployed.exitCode, deployed.stderr).toBe(0);
      expect(JSON.parse(deployed.stdout)).toMatchObject({ max_batch_size: 8, max_queue_delay_ms: 0 });

      const again = await daemon.cli(['deploy', modelId, '--max-batch-size', '64', '--max-queue-delay', '2ms', '--json']);
      expect(again.exitCode, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ state: 'started', max_batch_size: 64, max_queue_delay_ms: 2 });
      const text = await daemon.cli(['status', modelId]);
      expect(text.stdout).toContain('batches of up to 64 rows, queue delay up to 2 ms');

      for (const bad of [{ max_batch_size: 0 }, { max_batch_size: 1025 }, { max_queue_delay_ms: -1 }, { max_queue_delay_ms: 'soon' }]) {
        const refused = await put(bad);
        expect(refused.status, JSON.stringify(bad)).toBe(400);
        expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/max_batch_size|max_queue_delay_ms/);
      }
      const answer = await fetch(`${url}/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ tokens: [[1, 2]] }),
      });
      expect(answer.status).toBe(200);
      const metrics = await fetch(`http://${daemon.listen}/metrics`).then((r) => r.text());
      expect(metrics).toContain(`feeder_inference_batch_size_count{model_id="${modelId}"} 1`);
      expect(metrics).toContain(`feeder_inference_queue_delay_seconds_count{model_id="${modelId}"} 1`);
    });
  });

  it('refuses a config whose batching no frame can carry', async () => {
    await withDaemon({ config: { deploy: { maxBatchSize: 2000 } } }, async () => {}).then(
      () => expect.unreachable('the daemon started'),
      (error: Error) => expect(error.message).toMatch(/deploy\.maxBatchSize must be a whole number from 1/),
    );
  });

  it('answers every request queued for a process a rollover replaces, from that process, before it is stopped', async () => {
    const model = await storedModel(50_000);
    // Two rows a frame, one frame at a time (one worker), two seconds a frame: twenty requests keep
    // the old process busy for twenty seconds, so most are still queued when the rollover comes even
    // on a loaded machine, where the requests take a while to arrive.
    const config = { deploy: { args: ['--answer-delay-ms', '2000'], maxBatchSize: 2 } };
    await withDaemon({ config }, async (daemon) => {
      expect((await daemon.cli(['deploy', model.modelId, '--workers', '1'])).exitCode).toBe(0);
      const tokens = Array.from({ length: 20 }, (_, i) => i * 7);
      const answers = Promise.all(
        tokens.map(async (t) => {
          const res = await fetch(`http://${daemon.listen}/deployments/${model.modelId}/infer`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ tokens: [[t]] }),
          });
          return { status: res.status, body: (await res.json()) as Record<string, any> };
        }),
      );
      await waitForStatus(daemon, model.modelId, (s) => s.number_of_pending_requests >= 16, 10_000);
      const path = join(await tempDir(), 'replacement.pt');
      await writeFile(path, randomBytes(50_000));
      expect((await daemon.cli(['upload', path, '--model-id', model.modelId, '--replace'])).exitCode).toBe(0);
      const rolled = await daemon.cli(['deploy', model.modelId, '--json']);
      expect(rolled.exitCode, rolled.stderr).toBe(0);
      expect(JSON.parse(rolled.stdout)).toMatchObject({ generation: 2 });
      const done = await answers;
      expect(done.map((a) => a.status)).toEqual(tokens.map(() => 200));
      expect(done.map((a) => a.body.result.inference)).toEqual(tokens.map((t) => [[[model.bytes[t]! / 255]]]));
    });
  }, 120_000);

  it('are brought back by a restart of the daemon, with what a deploy of the running deployment changed, and the batcher holds to them', async () => {
    const { modelId, bytes } = await storedModel(50_000);
    // One worker answering each frame after 300 ms: the requests sent meanwhile gather behind it.
    const options = { name: uniqueId('batching'), config: { deploy: { args: ['--answer-delay-ms', '300'] } } };
    await withDaemon(options, async (daemon) => {
      const first = await daemon.cli(['deploy', modelId, '--workers', '1', '--max-batch-size', '4', '--max-queue-delay', '200ms']);
      expect(first.exitCode, first.stderr).toBe(0);
      const again = await daemon.cli(['deploy', modelId, '--max-queue-delay', '50ms', '--json']);
      expect(again.exitCode, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ state: 'started', max_batch_size: 4, max_queue_delay_ms: 50 });
    });
    await withDaemon(options, async (restarted) => {
      const restored = await waitForStatus(restarted, modelId, (s) => s.state === 'started');
      expect(restored).toMatchObject({ workers: 1, max_batch_size: 4, max_queue_delay_ms: 50 });
      expect((await restarted.cli(['status', modelId])).stdout).toContain('batches of up to 4 rows, queue delay up to 50 ms');
      const tokens = Array.from({ length: 12 }, (_, i) => i * 11);
      const answers = await Promise.all(tokens.map((t) => infer(restarted, modelId, t)));
      expect(answers.map((a) => a.result.inference)).toEqual(tokens.map((t) => [[[bytes[t]! / 255]]]));
      // The requests of one frame share its request id.
      const frames = new Map<string, number>();
      for (const { request_id: id } of answers) frames.set(id, (frames.get(id) ?? 0) + 1);
      expect(Math.max(...frames.values())).toBe(4);
    });
  }, 90_000);
});

describe('batching settings on a fleet', () => {
  it('are stored with the fleet deployment: every allocation takes them, a deploy changes them live, a takeover starts with them', async () => {
    const { modelId } = await storedModel(50_000);
    // No rebalancing: the third member gets an allocation only by the takeover.
    const config = { deploy: { maxBatchSize: 8 }, daemon: { rebalance: { maxMovesPerMinute: 0 } } };
    const fleet = new TestFleet(uniqueId('fleet'), null, { config });
    try {
      const d0 = await fleet.add(`${fleet.fleet}-d0`);
      const d1 = await fleet.add(`${fleet.fleet}-d1`);
      const args = ['deploy', modelId, '--allocations', '2'];
      const first = await d0.cli([...args, '--max-batch-size', '4', '--max-queue-delay', '50ms', '--json']);
      expect(first.exitCode, first.stderr).toBe(0);
      expect(JSON.parse(first.stdout)).toMatchObject({ state: 'started', max_batch_size: 4, max_queue_delay_ms: 50 });
      const before = await Promise.all([d0, d1].map((d) => localStatus(d, modelId)));
      for (const s of before) expect(s).toMatchObject({ state: 'started', max_batch_size: 4, max_queue_delay_ms: 50 });

      // What a deploy no longer names goes back to each holder's config, as workers do.
      const second = await d1.cli([...args, '--max-queue-delay', '20ms']);
      expect(second.exitCode, second.stderr).toBe(0);
      expect(second.stdout).toContain("batches of up to each daemon's deploy.maxBatchSize rows, queue delay up to 20 ms");
      for (const [i, d] of [d0, d1].entries()) {
        const changed = await waitForLocal(d, modelId, (s) => s.max_queue_delay_ms === 20);
        expect(changed).toMatchObject({ state: 'started', max_batch_size: 8, pid: before[i]!.pid });
      }

      const d2 = await fleet.add(`${fleet.fleet}-d2`);
      await d1.stop();
      fleet.forget(d1);
      const taken = await waitForLocal(d2, modelId, (s) => s.state === 'started', 60_000);
      expect(taken).toMatchObject({ max_batch_size: 8, max_queue_delay_ms: 20 });
    } finally {
      await fleet.stop();
    }
  }, 120_000);
});
