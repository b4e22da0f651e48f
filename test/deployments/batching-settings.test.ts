import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitForStatus, withDaemon } from '../support/daemon.js';
import { storedModel } from '../support/deploy.js';
import { tempDir } from '../support/es.js';

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
});
