import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { storedModel } from '../support/deploy.js';
import { isAlive } from '../support/processes.js';
import { newEs, tempDir, uniqueId } from '../support/es.js';
import { childrenOf, startDaemon, waitForStatus, type RunningDaemon, withDaemon } from '../support/daemon.js';
import { waitUntil } from '../support/wait.js';
import { META_INDEX } from '../../src/model/layout.js';

const valuesFor = (bytes: Buffer, tokens: number[]) => [tokens.map((t) => [bytes[t % bytes.length]! / 255])];

describe('feeder serve, driven by the CLI', () => {
  let daemon: RunningDaemon;
  let model: { modelId: string; bytes: Buffer };
  beforeAll(async () => {
    model = await storedModel(2 * 1024 * 1024 + 3);
    daemon = await startDaemon();
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  it('deploys a model and answers inferences that match the model file bytes; a repeated deploy is not an error', async () => {
    const first = await daemon.cli(['deploy', model.modelId, '--json']);
    expect(first.exitCode, first.stderr).toBe(0);
    const status = JSON.parse(first.stdout);
    expect(status).toMatchObject({
      model_id: model.modelId,
      state: 'started',
      bytes_streamed: model.bytes.length,
      total_bytes: model.bytes.length,
      restarts: 0,
    });
    const again = await daemon.cli(['deploy', model.modelId, '--json']);
    expect(again.exitCode).toBe(0);
    expect(JSON.parse(again.stdout).pid).toBe(status.pid);

    const tokens = [0, 1, 1000, model.bytes.length - 1];
    const answer = await daemon.cli(['infer', model.modelId, '--tokens', tokens.join(','), '--json']);
    expect(answer.exitCode, answer.stderr).toBe(0);
    expect(JSON.parse(answer.stdout).result.inference).toEqual(valuesFor(model.bytes, tokens));

    const after = JSON.parse((await daemon.cli(['status', model.modelId, '--json'])).stdout);
    expect(after).toMatchObject({ inference_count: 1, inference_latency_ms: { mean: expect.any(Number) } });
    const metrics = await fetch(`http://${daemon.listen}/metrics`).then((r) => r.text());
    expect(metrics).toContain('feeder_deployments{state="started"} 1');
    expect(metrics).toContain(`feeder_inference_requests_total{model_id="${model.modelId}",outcome="success"} 1`);
    expect(metrics).toContain(`feeder_stream_bytes_total{model_id="${model.modelId}"} ${model.bytes.length}`);
    expect(metrics).toMatch(/feeder_inference_latency_seconds_bucket\{le="\+Inf",model_id="[^"]+"\} 1/);
    expect(await fetch(`http://${daemon.listen}/healthz`).then((r) => r.json())).toEqual({ status: 'ok', deployments: 1 });
  });

  it('logs each deployment step as an ECS event, and the native process lines with model id and pid', async () => {
    const actions = new Set(daemon.logs.map((l) => l.event?.action));
    for (const action of ['daemon-start', 'native-spawn', 'model-load', 'deployment-state', 'native-log'])
      expect(actions).toContain(action);
    const load = daemon.logs.find((l) => l.event?.action === 'model-load')!;
    expect(load).toMatchObject({
      'ecs.version': expect.any(String),
      event: { outcome: 'success', duration: expect.any(Number) },
      feeder: { model_id: model.modelId, bytes: model.bytes.length },
    });
    const nativeLine = daemon.logs.find((l) => l.event?.action === 'native-log')!;
    expect(nativeLine).toMatchObject({ feeder: { model_id: model.modelId }, process: { pid: expect.any(Number) } });
  });

  it('restarts a native process killed with SIGKILL, visible in the logs and in status', async () => {
    const before = JSON.parse((await daemon.cli(['status', model.modelId, '--json'])).stdout);
    process.kill(before.pid, 'SIGKILL');
    const after = await waitForStatus(daemon, model.modelId, (s) => s.state === 'started' && s.pid !== before.pid);
    expect(after.restarts).toBe(before.restarts + 1);
    await daemon.waitForLog((l) => l.event?.action === 'native-restart' && l.feeder?.model_id === model.modelId);
    const exit = await daemon.waitForLog((l) => l.event?.action === 'native-exit');
    expect(exit.message).toMatch(/was killed by SIGKILL/);
    const answer = await daemon.cli(['infer', model.modelId, '--tokens', '5', '--json']);
    expect(JSON.parse(answer.stdout).result.inference).toEqual(valuesFor(model.bytes, [5]));
  });

  it('refuses to delete a deployed model, and undeploy stops its process', async () => {
    const refused = await daemon.cli(['models', 'delete', model.modelId]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain(
      `cannot be deleted: it is deployed on daemon '${daemon.name}'; run 'feeder undeploy ${model.modelId}' first`,
    );
    const { pid } = JSON.parse((await daemon.cli(['status', model.modelId, '--json'])).stdout);
    const undeployed = await daemon.cli(['undeploy', model.modelId]);
    expect(undeployed.exitCode, undeployed.stderr).toBe(0);
    expect(isAlive(pid)).toBe(false);
    expect((await daemon.cli(['status', model.modelId])).exitCode).toBe(1);
    expect((await daemon.cli(['models', 'delete', model.modelId])).exitCode).toBe(0);
  });

  it('refuses to deploy a model that is still uploading, or that does not exist', async () => {
    const { modelId } = await storedModel(1000);
    await newEs().client.update({ index: META_INDEX, id: modelId, doc: { state: 'uploading' }, refresh: true });
    const uploading = await daemon.cli(['deploy', modelId]);
    expect(uploading.exitCode).toBe(1);
    expect(uploading.stderr).toContain(`model '${modelId}' cannot be deployed: it is still uploading`);
    const missing = await daemon.cli(['deploy', 'no-such-model']);
    expect(missing.stderr).toContain("model 'no-such-model' does not exist");
  });
});

describe('a native process that keeps dying', () => {
  it('is restarted up to the configured count, then the deployment is failed with its last error lines', async () => {
    const { modelId } = await storedModel(1024 * 1024);
    const options = {
      config: { deploy: { args: ['--crash-after-bytes', '300000'] }, daemon: { maxRestarts: 2, restartBackoffMs: 50 } },
    };
    await withDaemon(options, async (daemon) => {
      const result = await daemon.cli(['deploy', modelId, '--json']);
      expect(result.exitCode).toBe(1);
      expect(result.stdout, `${result.stderr}\n${daemon.output().slice(-4000)}`).not.toBe('');
      const status = JSON.parse(result.stdout);
      expect(status).toMatchObject({ state: 'failed', restarts: 2 });
      expect(status.reason).toMatch(/gave up after 2 restarts: the native process \(pid \d+\) was killed by SIGABRT while receiving model/);
      expect(status.reason).toMatch(/simulated crash after 300000 bytes/);
      expect(await childrenOf(daemon.child.pid!)).toEqual([]);
      const restarts = daemon.logs.filter((l) => l.event?.action === 'native-restart');
      expect(restarts).toHaveLength(2);
    });
  });
});

describe('daemon restarts and shutdown', () => {
  it('brings back its deployments after a restart, and SIGTERM exits 0 within 10 s leaving no child', async () => {
    const { modelId, bytes } = await storedModel(500_000);
    const name = uniqueId('daemon');
    const first = await startDaemon({ name });
    expect((await first.cli(['deploy', modelId])).exitCode).toBe(0);
    const { pid } = JSON.parse((await first.cli(['status', modelId, '--json'])).stdout);
    const stopped = await first.stop();
    expect(stopped.exitCode).toBe(0);
    expect(stopped.ms).toBeLessThan(10_000);
    expect(isAlive(pid)).toBe(false);

    await withDaemon({ name }, async (second) => {
      // Once the daemon is stopped, undeploy works offline: no desired state outlives the test.
      onTestFinished(async () => void (await second.cli(['undeploy', modelId]).catch(() => {})));
      const back = await waitForStatus(second, modelId, (s) => s.state === 'started');
      expect(back.pid).not.toBe(pid);
      const answer = await second.cli(['infer', modelId, '--tokens', '42', '--json']);
      expect(JSON.parse(answer.stdout).result.inference).toEqual(valuesFor(bytes, [42]));
      const children = await childrenOf(second.child.pid!);
      expect(children.length).toBe(1);
      expect((await second.stop()).exitCode).toBe(0);
      for (const child of children) expect(isAlive(child)).toBe(false);
    });
  });
});

describe('loading is bounded, and a deploy outlasting the client wait keeps going', () => {
  it('never loads more than daemon.maxConcurrentLoads models at once', async () => {
    const a = await storedModel(1024 * 1024);
    const b = await storedModel(1024 * 1024);
    const options = {
      config: { deploy: { args: ['--read-rate', String(512 * 1024)] }, daemon: { maxConcurrentLoads: 1 } },
    };
    await withDaemon(options, async (daemon) => {
      const quick = await Promise.all([a, b].map((m) => daemon.cli(['deploy', m.modelId, '--wait-for', 'starting', '--json'])));
      expect(quick.map((r) => JSON.parse(r.stdout).state)).toEqual(['starting', 'starting']);
      let sawQueued = false;
      const allStarted = async () => {
        const { deployments: all } = (await fetch(`http://${daemon.listen}/deployments`).then((r) => r.json())) as {
          deployments: Array<{ state: string; phase: string | null }>;
        };
        expect(all.filter((s) => s.phase === 'loading').length).toBeLessThanOrEqual(1);
        sawQueued ||= all.some((s) => s.phase === 'queued');
        return all.every((s) => s.state === 'started');
      };
      await waitUntil('both deployments to start', allStarted, { timeoutMs: 60_000, intervalMs: 50 });
      expect(sawQueued).toBe(true);
    });
  });

  it('answers 202 with the state so far when the wait runs out, and the deployment still starts', async () => {
    const { modelId } = await storedModel(2 * 1024 * 1024);
    await withDaemon({ config: { deploy: { args: ['--read-rate', String(1024 * 1024)] } } }, async (daemon) => {
      const result = await daemon.cli(['deploy', modelId, '--timeout', '500ms']);
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toMatch(/starting .*still starting after 0.5 s; the daemon keeps going/);
      await waitForStatus(daemon, modelId, (s) => s.state === 'started');
    });
  });
});

describe('the control API on a Unix socket', () => {
  it('creates the socket with mode 0600 and serves the CLI through it', async () => {
    const path = join(await tempDir(), 'feeder.sock');
    await withDaemon({ listen: `unix:${path}` }, async (daemon) => {
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      const status = await daemon.cli(['status']);
      expect(status.exitCode, status.stderr).toBe(0);
      expect(status.stdout).toBe('no deployments');
    });
  });
});
