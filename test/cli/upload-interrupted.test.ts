import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { getMeta } from '../../src/model/meta.js';
import { CLI, feeder } from '../support/cli.js';
import { esUrl, newEs, randomModelFile, tempDir, uniqueId } from '../support/es.js';
import { waitUntil } from '../support/wait.js';

const KiB = 1024;

/** Waits until `count` chunks of the model are stored, by asking Elasticsearch. */
async function waitForStoredChunks(modelId: string, count: number): Promise<void> {
  const es = newEs();
  const storedNow = async () => {
    const meta = await getMeta(es, modelId);
    if (!meta) return 0;
    const index = meta.meta.pending?.chunks_index ?? meta.meta.chunks_index;
    // The upload may have just created the index: its shard answers 503 until it has started.
    return es.client.indices
      .refresh({ index, ignore_unavailable: true })
      .then(() => es.client.count({ index, query: { term: { model_id: modelId } }, ignore_unavailable: true }))
      .then(
        (r) => r.count,
        (error: { meta?: { statusCode?: number } }) => {
          if (error.meta?.statusCode === 503) return 0;
          throw error;
        },
      );
  };
  await waitUntil(`${count} stored chunks of ${modelId}`, async () => (await storedNow()) >= count, { timeoutMs: 20_000 });
}

/** Starts an upload from a pipe, feeds it `head`, and kills it with SIGKILL once that part is stored. */
async function killUploadHalfWay(modelId: string, head: Buffer, extra: string[] = []): Promise<void> {
  // Small bulk bodies, so what was fed is sent at once rather than held for a full 16 MiB body.
  const config = join(await tempDir(), 'feeder.json');
  await writeFile(config, JSON.stringify({ upload: { bulkBytes: 64 * KiB } }));
  const child = execa('node', [CLI, 'upload', '-', '--model-id', modelId, '--chunk-size', '64kb', ...extra], {
    env: { ES_URL: esUrl(), FEEDER_CONFIG: config },
    reject: false,
  });
  child.stdin.write(head);
  await waitForStoredChunks(modelId, Math.floor(head.length / (64 * KiB)) - 1);
  child.kill('SIGKILL');
  await child;
}

describe('an upload killed half-way', () => {
  it('stays uploading, is never reported ready, and --resume completes it sending only what is missing', async () => {
    const modelId = uniqueId('killed');
    const bytes = randomBytes(40 * 64 * KiB + 99);
    await killUploadHalfWay(modelId, bytes.subarray(0, 20 * 64 * KiB));

    const shown = await feeder(['models', 'show', modelId, '--json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({ state: 'uploading', chunk_count: null, sha256: null });
    const list = await feeder(['models', 'list']);
    expect(list.stdout).toMatch(new RegExp(`${modelId}\\s+uploading`));
    const verify = await feeder(['models', 'verify', modelId]);
    expect(verify.exitCode).toBe(1);
    expect(verify.stdout).toMatch(/not ready \(state uploading\)/);
    const again = await feeder(['upload', '-', '--model-id', modelId], { input: bytes });
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toMatch(/unfinished upload; pass --resume to finish it/);

    const resumed = await feeder(['upload', '-', '--model-id', modelId, '--resume', '--json'], { input: bytes });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ state: 'ready', chunk_count: 41, total_length: bytes.length });
    const summary = resumed.stderr
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .find((l) => l.event?.action === 'upload');
    // 19 or more chunks were stored before the kill; the eos chunk and the rest are sent now.
    expect(summary.feeder.chunks_sent).toBeLessThanOrEqual(41 - 19);
    expect((await feeder(['models', 'verify', modelId])).exitCode).toBe(0);
  });

  it('is removed completely by delete', async () => {
    const modelId = uniqueId('killed-delete');
    await killUploadHalfWay(modelId, randomBytes(12 * 64 * KiB));
    const { meta } = (await getMeta(newEs(), modelId))!;
    const removed = await feeder(['models', 'delete', modelId]);
    expect(removed.exitCode, removed.stderr).toBe(0);
    expect(await getMeta(newEs(), modelId)).toBeNull();
    expect(await newEs().client.indices.exists({ index: meta.chunks_index })).toBe(false);
  });

  it('during --replace leaves the ready model intact, and --resume then completes the replacement', async () => {
    const modelId = uniqueId('killed-replace');
    const first = await randomModelFile(300 * KiB);
    expect((await feeder(['upload', first.path, '--model-id', modelId, '--chunk-size', '64kb'])).exitCode).toBe(0);
    const second = randomBytes(30 * 64 * KiB);
    await killUploadHalfWay(modelId, second.subarray(0, 10 * 64 * KiB), ['--replace']);

    const during = JSON.parse((await feeder(['models', 'show', modelId, '--json'])).stdout);
    expect(during).toMatchObject({ state: 'ready', generation: 1, pending: { generation: 2 } });
    expect((await feeder(['models', 'verify', modelId])).exitCode).toBe(0);

    const resumed = await feeder(['upload', '-', '--model-id', modelId, '--resume', '--json'], { input: second });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({
      state: 'ready',
      generation: 2,
      total_length: second.length,
      pending: null,
      garbage: [],
    });
    expect((await feeder(['models', 'verify', modelId])).exitCode).toBe(0);
  });

  it('resumed with different bytes re-sends the chunks whose checksum differs', async () => {
    const modelId = uniqueId('resume-changed');
    const bytes = randomBytes(16 * 64 * KiB);
    await killUploadHalfWay(modelId, bytes.subarray(0, 8 * 64 * KiB));
    const changed = Buffer.from(bytes);
    changed[5] = changed[5]! ^ 0xff; // chunk 0 now differs from what is stored
    const resumed = await feeder(['upload', '-', '--model-id', modelId, '--resume', '--json'], { input: changed });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    const meta = JSON.parse(resumed.stdout);
    expect(meta.sha256).toBe(createHash('sha256').update(changed).digest('hex'));
    expect((await feeder(['models', 'verify', modelId])).exitCode).toBe(0);
  });
});

describe('two uploads of the same id at once', () => {
  it('exactly one wins, the other gets a clear error, and the stored chunks are all one upload', async () => {
    const modelId = uniqueId('race');
    const a = await randomModelFile(2 * 1024 * KiB, 'a.pt');
    const b = await randomModelFile(2 * 1024 * KiB, 'b.pt');
    const results = await Promise.all([
      feeder(['upload', a.path, '--model-id', modelId, '--chunk-size', '64kb']),
      feeder(['upload', b.path, '--model-id', modelId, '--chunk-size', '64kb']),
    ]);
    expect(results.map((r) => r.exitCode).sort()).toEqual([0, 1]);
    const loser = results.find((r) => r.exitCode === 1)!;
    expect(loser.stderr).toMatch(new RegExp(`model '${modelId}' already exists`));
    const winner = results[0].exitCode === 0 ? a : b;
    const verify = await feeder(['models', 'verify', modelId, '--json']);
    expect(JSON.parse(verify.stdout)).toMatchObject({
      ok: true,
      chunks: 32,
      sha256: createHash('sha256').update(winner.bytes).digest('hex'),
    });
  });
});
