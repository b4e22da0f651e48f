import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { waitForStatus, withDaemon, type RunningDaemon } from '../support/daemon.js';
import { feeder } from '../support/cli.js';
import { storedModel } from '../support/deploy.js';
import { uniqueId } from '../support/es.js';
import { TestFleet } from '../support/fleet.js';
import { waitUntil } from '../support/wait.js';

// Workers and threads per deployment, end to end: from `feeder deploy` through the daemon and its
// desired state into the native process's environment, and back out in status and /metrics.

async function infer(daemon: RunningDaemon, modelId: string, tokens: number[]) {
  const response = await fetch(`http://${daemon.listen}/deployments/${modelId}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ tokens: [tokens] }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

const statusOf = async (daemon: RunningDaemon, modelId: string) => JSON.parse((await daemon.cli(['status', modelId, '--json'])).stdout);

describe('feeder deploy --workers --threads-per-worker', () => {
  it('runs the native process with them, shows them in status and /metrics, and keeps them across a restart of the daemon', async () => {
    const { modelId, bytes } = await storedModel(300_000);
    // Each answer sleeps 600 ms: four workers answer four requests in about the time of one.
    const options = { name: uniqueId('workers'), config: { deploy: { args: ['--answer-delay-ms', '600'] } } };
    await withDaemon(options, async (daemon) => {
      const deployed = await daemon.cli(['deploy', modelId, '--workers', '4', '--threads-per-worker', '1']);
      expect(deployed.exitCode, deployed.stderr).toBe(0);
      expect(deployed.stdout).toMatch(/4 workers × 1 threads/);
      // On a host of fewer than 4 cores, the deploy is warned about, not refused.
      if (availableParallelism() < 4) expect(deployed.stderr).toMatch(/warning: 4 workers × 1 threads = 4 threads on \d+ cores/);
      expect(await statusOf(daemon, modelId)).toMatchObject({ state: 'started', workers: 4, threads_per_worker: 1 });
      const started = performance.now();
      const answers = await Promise.all([1, 2, 3, 4].map((t) => infer(daemon, modelId, [t])));
      expect(performance.now() - started).toBeLessThan(4 * 600 - 400);
      for (const [i, answer] of answers.entries()) expect(answer.body.result.inference).toEqual([[[bytes[i + 1]! / 255]]]);
      const metrics = await fetch(`http://${daemon.listen}/metrics`).then((r) => r.text());
      expect(metrics).toContain(`feeder_deployment_workers{model_id="${modelId}"} 4`);
      expect(metrics).toContain(`feeder_deployment_threads_per_worker{model_id="${modelId}"} 1`);
      const other = await daemon.cli(['deploy', modelId, '--workers', '2']);
      expect(other.exitCode).toBe(1);
      expect(other.stderr).toMatch(/is started with 4 workers × 1 threads; undeploy it first to run it with other settings/);
    });
    await withDaemon(options, async (restarted) => {
      const restored = await waitForStatus(restarted, modelId, (s) => s.state === 'started');
      expect(restored).toMatchObject({ workers: 4, threads_per_worker: 1 });
    });
  });

  it('defaults to one single-threaded worker per core of the host', async () => {
    const { modelId } = await storedModel(100_000);
    await withDaemon({}, async (daemon) => {
      expect((await daemon.cli(['deploy', modelId])).exitCode).toBe(0);
      expect(await statusOf(daemon, modelId)).toMatchObject({
        workers: availableParallelism(),
        threads_per_worker: 1,
        overcommitment: null,
      });
    });
  });

  it.each([
    [['--threads-per-worker', '3'], "--threads-per-worker must be a power of 2 from 1 to 32 (as Elastic's threads_per_allocation); got 3"],
    [
      ['--threads-per-worker', '64'],
      "--threads-per-worker must be a power of 2 from 1 to 32 (as Elastic's threads_per_allocation); got 64",
    ],
    [['--workers', '0'], '--workers must be a whole number from 1 to 256; got 0'],
  ])('refuses %j with a message that names the flag, before asking any daemon', async (flags, message) => {
    const result = await feeder(['deploy', 'any-model', ...flags]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(message);
  });

  it('refuses a bad threads_per_worker on the API with 400, naming the key', async () => {
    await withDaemon({}, async (daemon) => {
      const response = await fetch(`http://${daemon.listen}/deployments/any-model`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ threads_per_worker: 12 }),
      });
      expect(response.status).toBe(400);
      expect(((await response.json()) as any).error.message).toMatch(/^threads_per_worker must be a power of 2 from 1 to 32/);
    });
  });
});

describe('a native process that answers out of order', () => {
  it('gets each answer to its own request through the daemon', async () => {
    const { modelId, bytes } = await storedModel(100_000);
    await withDaemon({ config: { deploy: { args: ['--reorder'] } } }, async (daemon) => {
      expect((await daemon.cli(['deploy', modelId])).exitCode).toBe(0);
      const tokens = [5, 6, 7, 8, 9, 10];
      const answers = await Promise.all(tokens.map((t) => infer(daemon, modelId, [t])));
      for (const [i, answer] of answers.entries()) {
        expect(answer.status).toBe(200);
        expect(answer.body.result.inference).toEqual([[[bytes[tokens[i]!]! / 255]]]);
      }
      expect(await statusOf(daemon, modelId)).toMatchObject({ state: 'started', inference_count: 6, error_count: 0 });
    });
  });
});

describe('workers on a fleet', () => {
  it('are stored with the fleet deployment, and a holder restarts its process when a deploy changes them', async () => {
    const { modelId } = await storedModel(100_000);
    const fleet = new TestFleet(uniqueId('fleet'), null, {});
    try {
      const member = await fleet.add(`${fleet.fleet}-d0`);
      const local = async () => {
        const { deployments } = (await fetch(`http://${member.listen}/deployments`).then((r) => r.json())) as { deployments: any[] };
        return deployments.find((d) => d.model_id === modelId);
      };
      const first = await member.cli(['deploy', modelId, '--allocations', '1', '--workers', '3', '--json']);
      expect(first.exitCode, first.stderr).toBe(0);
      expect(JSON.parse(first.stdout)).toMatchObject({ state: 'started', workers: 3, threads_per_worker: null });
      const before = await local();
      expect(before).toMatchObject({ state: 'started', workers: 3, threads_per_worker: 1 });
      const second = await member.cli(['deploy', modelId, '--allocations', '1', '--workers', '1']);
      expect(second.exitCode, second.stderr).toBe(0);
      expect(second.stdout).toMatch(/1 workers × 1 threads each/);
      const after = await waitUntil(
        'the holder to run 1 worker',
        async () => {
          const s = await local();
          return s?.state === 'started' && s.workers === 1 ? s : undefined;
        },
        { timeoutMs: 30_000 },
      );
      expect(after.pid).not.toBe(before.pid);
      expect((await member.cli(['undeploy', modelId])).exitCode).toBe(0);
    } finally {
      await fleet.stop();
    }
  });
});
