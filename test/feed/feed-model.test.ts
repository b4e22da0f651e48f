import { symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultNativeCommand } from '../../src/config/paths.js';
import {
  AbortedError,
  ChunkMissingError,
  ElasticsearchUnreachableError,
  IntegrityError,
  InvalidArgumentError,
  ModelStateError,
  NativeProcessError,
  StalledError,
  TimeoutError,
} from '../../src/errors.js';
import { CONTROL_PROCESS_STATS } from '../../src/native/protocol.js';
import { ChunkGauge } from '../../src/chunks/chunk-reader.js';
import { chunkDocId, META_INDEX, SHARED_CHUNKS_INDEX } from '../../src/model/layout.js';
import { deleteModel } from '../../src/maintenance/delete.js';
import { getMeta } from '../../src/model/meta.js';
import { deploy, storedModel } from '../support/deploy.js';
import { isAlive } from '../support/processes.js';
import { feedModel } from '../../src/feed/feed-model.js';
import { captureLogger, esUrl, newEs, tempDir, testConfig, uniqueId } from '../support/es.js';
import { TcpRelay } from '../support/tcp-relay.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const stub =
  (...args: string[]) =>
  (c: { deploy: { args: string[] } }) =>
    void (c.deploy.args = args);

/** Every failure must leave no process behind and the stored model as it was. */
async function expectCleanFailure(outcome: Awaited<ReturnType<typeof deploy>>, modelId: string, metaBefore: unknown) {
  expect(outcome.result).toBeNull();
  for (const pid of outcome.pids) expect(isAlive(pid), `native process ${pid} still running`).toBe(false);
  expect((await getMeta(newEs(), modelId))?.meta).toEqual(metaBefore);
}

describe('feedModel streams a stored model into the real native stub', () => {
  let model: { modelId: string; bytes: Buffer };
  beforeAll(async () => {
    model = await storedModel(3 * MiB + 17);
  });

  it('which receives every byte in place, proven by inference answers computed from the bytes', async () => {
    const { result, error, lines } = await deploy({ modelId: model.modelId });
    expect(error).toBeNull();
    const { native, loaded } = result!;
    try {
      expect(loaded.bytes).toBe(model.bytes.length);
      const tokens = [0, 1, 255 * KiB, model.bytes.length - 1, model.bytes.length + 5];
      const answer = await native.request({ tokens: [tokens] });
      expect(answer.type).toBe('result');
      const values = (answer as { result: { inference: number[][][] } }).result.inference[0]!.map((v) => v[0]);
      expect(values).toEqual(tokens.map((t) => model.bytes[t % model.bytes.length]! / 255));
      const stats = await native.request({ control: CONTROL_PROCESS_STATS });
      expect(stats).toMatchObject({ type: 'stats', stats: { memory_rss: expect.any(Number) } });
      expect((stats as { stats: { memory_rss: number } }).stats.memory_rss).toBeGreaterThan(model.bytes.length);
      const bad = await native.request({ tokens: 'nope' as never });
      expect(bad).toMatchObject({ type: 'error', error: { error: expect.stringMatching(/tokens/) } });
    } finally {
      await native.stop();
    }
    expect(isAlive(native.pid)).toBe(false);
    const events = lines.map((l) => (l.event as { action?: string; outcome?: string } | undefined)?.action);
    expect(events).toEqual(expect.arrayContaining(['native-spawn', 'native-log', 'model-load']));
  });

  it('with a u64 header when configured', async () => {
    const { result, error } = await deploy({ modelId: model.modelId }, (c) => {
      c.deploy.header = 'u64';
      c.deploy.args = ['--header', 'u64'];
    });
    expect(error).toBeNull();
    expect(result!.loaded.bytes).toBe(model.bytes.length);
    await result!.native.stop();
  });

  it('whose loaded report may give the SHA-256 in uppercase hex', async () => {
    const { result, error } = await deploy({ modelId: model.modelId }, stub('--upper-sha'));
    expect(error).toBeNull();
    expect(result!.loaded.sha256).toMatch(/^[0-9A-F]{64}$/);
    await result!.native.stop();
  });

  it('given deploy.command as a bare program name, looked up on the PATH the process gets', async () => {
    // A name of its own, in a folder of its own: nothing of that name in the working directory.
    const bin = await tempDir();
    await symlink(defaultNativeCommand(), join(bin, 'feeder-test-native'));
    const { result, error } = await deploy({ modelId: model.modelId }, (c) => {
      c.deploy.command = 'feeder-test-native';
      c.deploy.env = { PATH: `/nonexistent/bin:${bin}:${process.env.PATH}` };
    });
    expect(error).toBeNull();
    expect(result!.loaded.bytes).toBe(model.bytes.length);
    await result!.native.stop();
  });

  it('never holding more than the prefetch window plus one chunk for a slow reader (counted)', async () => {
    const gauge = new ChunkGauge();
    const { result, error } = await deploy({ modelId: model.modelId, gauge }, (c) => {
      c.deploy.prefetch = 2;
      c.deploy.args = ['--read-rate', String(4 * MiB), '--read-block', String(64 * KiB)];
    });
    expect(error).toBeNull();
    await result!.native.stop();
    expect(gauge.peak).toBeLessThanOrEqual(3);
    expect(gauge.peak).toBeGreaterThanOrEqual(2); // the window was really used while the reader lagged
    expect(gauge.live).toBe(0);
  });

  it('with a wide prefetch window, without a listener-leak warning for the requests sharing its signal', async () => {
    const { modelId, bytes } = await storedModel(1 * MiB, 64 * KiB);
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    try {
      // 16 chunks and a window of 14: the first 14 requests start together, more than a signal's
      // default limit of 10 listeners. (Without the reader's own signal this test saw the warning.)
      const { result, error } = await deploy({ modelId }, (c) => {
        c.deploy.prefetch = 14;
        c.deploy.args = ['--read-rate', String(4 * MiB), '--read-block', String(64 * KiB)];
      });
      expect(error).toBeNull();
      expect(result!.loaded.bytes).toBe(bytes.length);
      await result!.native.stop();
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => w.includes('MaxListeners'))).toEqual([]);
  });

  it('reads a chunk written by another tool, with JSON escapes in its base64, the slow way and intact', async () => {
    const { modelId, bytes } = await storedModel(1 * MiB, 256 * KiB);
    const es = newEs();
    const id = chunkDocId(modelId, 1, 1);
    const stored = await es.client.get<Record<string, unknown>>({ index: SHARED_CHUNKS_INDEX, id });
    const json = JSON.stringify(stored._source).replaceAll('/', '\\/');
    expect(json).toContain('\\/');
    const put = await fetch(`${esUrl()}/${SHARED_CHUNKS_INDEX}/_doc/${id}?refresh=true`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: json,
    });
    expect(put.status).toBe(200);
    // Elasticsearch keeps a source as it was sent: the escapes are what a reader gets back.
    expect(await (await fetch(`${esUrl()}/${SHARED_CHUNKS_INDEX}/_source/${id}`)).text()).toContain('\\/');
    const { result, error } = await deploy({ modelId });
    expect(error).toBeNull();
    expect(result!.loaded.bytes).toBe(bytes.length);
    const answer = await result!.native.request({ tokens: [[256 * KiB + 5]] });
    await result!.native.stop();
    expect((answer as { result: { inference: number[][][] } }).result.inference[0]![0]![0]).toBe(bytes[256 * KiB + 5]! / 255);
  });
});

describe('feedModel given the meta document its caller already read', () => {
  it('does not read it again (and reads it once when not given it)', async () => {
    const { modelId, bytes } = await storedModel(512 * KiB);
    const es = newEs();
    const { meta } = (await getMeta(es, modelId))!;
    const metaReads: string[] = [];
    es.client.diagnostic.on('request', (_error, event) => {
      const { method, path } = event!.meta.request.params;
      if (path.startsWith(`/${META_INDEX}/`)) metaReads.push(`${method} ${path}`);
    });
    const ctx = { es, config: testConfig(), logger: captureLogger().logger };
    for (const [given, reads] of [
      [meta, 0],
      [undefined, 1],
    ] as const) {
      metaReads.length = 0;
      const result = await feedModel(ctx, { modelId, ...(given ? { meta: given } : {}) });
      await result.native.stop();
      expect(result.loaded.bytes).toBe(bytes.length);
      expect(result.meta).toEqual(meta);
      expect(metaReads, given ? 'meta given' : 'meta not given').toHaveLength(reads);
    }
  });

  it('refuses a meta document of another model, before anything is spawned', async () => {
    const { modelId } = await storedModel(64 * KiB);
    const { meta } = (await getMeta(newEs(), modelId))!;
    const outcome = await deploy({ modelId: uniqueId('other'), meta }, (c) => (c.deploy.command = '/nonexistent/would-fail-if-spawned'));
    expect(outcome.error).toBeInstanceOf(InvalidArgumentError);
    expect(outcome.error!.message).toMatch(new RegExp(`the meta document given for model 'other-\\w+' is that of model '${modelId}'`));
    expect(outcome.pids).toEqual([]);
  });
});

describe('feedModel fails clearly, stops the native process and leaves the model untouched', () => {
  let model: { modelId: string; bytes: Buffer };
  let metaBefore: unknown;
  beforeAll(async () => {
    model = await storedModel(3 * MiB);
    metaBefore = (await getMeta(newEs(), model.modelId))!.meta;
  });

  it('when the native process exits mid-stream: the error carries its exit code and last ERROR lines', async () => {
    const outcome = await deploy({ modelId: model.modelId }, stub('--exit-after-bytes', String(MiB), '--exit-code', '7'));
    expect(outcome.error).toBeInstanceOf(NativeProcessError);
    expect(outcome.error!.message).toMatch(/exited with code 7 while receiving model/);
    expect(outcome.error!.message).toMatch(/its last errors: .*simulated exit with code 7/);
    expect(outcome.nativeMessages.some((m) => m.startsWith('model loaded'))).toBe(false);
    await expectCleanFailure(outcome, model.modelId, metaBefore);
  });

  it('when the native process crashes mid-stream', async () => {
    const outcome = await deploy({ modelId: model.modelId }, stub('--crash-after-bytes', String(2 * MiB)));
    expect(outcome.error!.message).toMatch(/was killed by SIGABRT while receiving model .*after \d+ of 3145728 model bytes/);
    expect(outcome.error!.message).toMatch(/simulated crash after 2097152 bytes/);
    await expectCleanFailure(outcome, model.modelId, metaBefore);
  });

  it('when the native process hangs: a timeout', async () => {
    const outcome = await deploy({ modelId: model.modelId, timeoutMs: 2000 }, stub('--hang'));
    expect(outcome.error).toBeInstanceOf(TimeoutError);
    expect(outcome.error!.message).toMatch(/did not finish within 2 s .*was stopped/);
    await expectCleanFailure(outcome, model.modelId, metaBefore);
  });

  it('when the native process hangs and ignores SIGTERM: SIGKILL after the grace period, nothing left running', async () => {
    const outcome = await deploy({ modelId: model.modelId, timeoutMs: 1500 }, (c) => {
      c.deploy.args = ['--hang', '--ignore-sigterm'];
      c.daemon.stopGraceMs = 500;
    });
    expect(outcome.error).toBeInstanceOf(TimeoutError);
    expect(outcome.error!.message).toMatch(
      /did not finish within 1\.5 s .*the native process \(pid \d+\) was killed with SIGKILL \(it ignored SIGTERM for 0\.5 s\)/,
    );
    const kill = outcome.lines.find((l) => (l.event as { action?: string } | undefined)?.action === 'native-kill');
    expect(kill?.msg).toMatch(/did not stop within 0\.5 s of SIGTERM; it was killed with SIGKILL/);
    await expectCleanFailure(outcome, model.modelId, metaBefore);
  });

  it('when the native process never reports the model loaded: a timeout', async () => {
    const outcome = await deploy({ modelId: model.modelId, timeoutMs: 3000 }, stub('--hang-after-load'));
    expect(outcome.error).toBeInstanceOf(TimeoutError);
    await expectCleanFailure(outcome, model.modelId, metaBefore);
  });

  it('when the native process reports a wrong SHA-256: an integrity error, which no restart cures', async () => {
    const outcome = await deploy({ modelId: model.modelId }, stub('--wrong-sha'));
    expect(outcome.error).toBeInstanceOf(IntegrityError);
    expect(outcome.error!.message).toMatch(/reports 3145728 bytes with sha256 \w+, but model .* is 3145728 bytes with sha256 \w+/);
    await expectCleanFailure(outcome, model.modelId, metaBefore);
  });

  it('when the native process reports a wrong byte count', async () => {
    const outcome = await deploy({ modelId: model.modelId }, stub('--wrong-bytes'));
    expect(outcome.error).toBeInstanceOf(IntegrityError);
    expect(outcome.error!.message).toMatch(/reports 3145729 bytes/);
    await expectCleanFailure(outcome, model.modelId, metaBefore);
  });

  it('when the native process writes garbage on stdout', async () => {
    const outcome = await deploy({ modelId: model.modelId }, stub('--garbage'));
    expect(outcome.error).toBeInstanceOf(NativeProcessError);
    expect(outcome.error!.message).toMatch(/stdout that (are|is) not (a )?MessagePack/);
    await expectCleanFailure(outcome, model.modelId, metaBefore);
  });

  it('when the native process cannot be started', async () => {
    const outcome = await deploy({ modelId: model.modelId }, (c) => (c.deploy.command = '/nonexistent/native-stub'));
    expect(outcome.error!.message).toMatch(
      /the native process '\/nonexistent\/native-stub' cannot be run \(ENOENT\); build the stub with 'feeder native build-stub'/,
    );
    expect(outcome.pids).toEqual([]);
  });

  it('when deploy.command is a bare name found nowhere on PATH: the error names PATH and what it holds', async () => {
    const outcome = await deploy({ modelId: model.modelId }, (c) => {
      c.deploy.command = 'no-such-native-process';
      c.deploy.env = { PATH: '/nonexistent/bin:/nonexistent/usr/bin' };
    });
    expect(outcome.error).toBeInstanceOf(NativeProcessError);
    expect(outcome.error!.message).toMatch(
      /the native process 'no-such-native-process' is not found on PATH \(\/nonexistent\/bin:\/nonexistent\/usr\/bin\)/,
    );
    expect(outcome.error!.message).toMatch(/deploy\.command/);
    expect(outcome.pids).toEqual([]);
  });

  it('when cancelled', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const outcome = await deploy({ modelId: model.modelId, signal: controller.signal }, stub('--read-rate', String(MiB)));
    expect(outcome.error).toBeInstanceOf(AbortedError);
    await expectCleanFailure(outcome, model.modelId, metaBefore);
  });
});

describe('feedModel refuses damaged or unfinished models before the native process sees a wrong byte', () => {
  async function damaged(damage: (modelId: string) => Promise<void>) {
    const model = await storedModel(1 * MiB, 128 * KiB);
    await damage(model.modelId);
    const metaBefore = (await getMeta(newEs(), model.modelId))!.meta;
    const outcome = await deploy({ modelId: model.modelId });
    await expectCleanFailure(outcome, model.modelId, metaBefore);
    expect(outcome.nativeMessages.some((m) => m.startsWith('model loaded'))).toBe(false);
    return outcome.error!;
  }
  const es = () => newEs().client;

  it('a chunk document missing: the error names it', async () => {
    let id = '';
    const error = await damaged(async (modelId) => {
      id = chunkDocId(modelId, 1, 4);
      await es().delete({ index: SHARED_CHUNKS_INDEX, id, refresh: true });
    });
    expect(error).toBeInstanceOf(ChunkMissingError);
    expect(error.message).toContain(`chunk 4 of model`);
    expect(error.message).toContain(`'${id}'`);
  });

  it('a chunk corrupted', async () => {
    const error = await damaged((modelId) =>
      es()
        .update({
          index: SHARED_CHUNKS_INDEX,
          id: chunkDocId(modelId, 1, 2),
          doc: { definition: Buffer.alloc(128 * KiB, 1).toString('base64') },
          refresh: true,
        })
        .then(() => {}),
    );
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error.message).toMatch(/chunk 2 of model .* fails its CRC32 check/);
  });

  it('a chunk of the wrong length, even with a matching checksum', async () => {
    const short = Buffer.alloc(1000, 3);
    const { crc32 } = await import('node:zlib');
    const error = await damaged((modelId) =>
      es()
        .update({
          index: SHARED_CHUNKS_INDEX,
          id: chunkDocId(modelId, 1, 3),
          doc: { definition: short.toString('base64'), definition_length: 1000, crc32: crc32(short) },
          refresh: true,
        })
        .then(() => {}),
    );
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error.message).toMatch(
      /chunk 3 of model .* has 1000 bytes \(its document says 1000, the model's meta document implies 131072\)/,
    );
  });

  it('a meta document whose total disagrees with the chunks: the chunk or the meta document is wrong, and verify tells which', async () => {
    let id = '';
    const error = await damaged((modelId) => {
      id = modelId;
      return es()
        .update({ index: META_INDEX, id: modelId, doc: { total_length: MiB - 5 }, refresh: true })
        .then(() => {});
    });
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error.message).toMatch(/chunk 7 of model .* has 131072 bytes .*implies 131067/);
    // The chunk is as long as its own document says: a deploy, reading one chunk, cannot tell which side is wrong.
    expect(error.message).toContain(
      `the chunk or the meta document is wrong ('feeder models verify ${id}' tells which); upload the model again with --replace`,
    );
  });

  it('a ready meta document that lost its total_length: damaged, refused before a size header is made of it', async () => {
    let id = '';
    const error = await damaged((modelId) => {
      id = modelId;
      return es()
        .update({ index: META_INDEX, id: modelId, doc: { total_length: null }, refresh: true })
        .then(() => {});
    });
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error.message).toBe(
      `the meta document of model '${id}' is inconsistent (chunk_count 8, chunk_size 131072, total_length null); upload the model again with --replace`,
    );
  });

  it('a model still uploading', async () => {
    const error = await damaged((modelId) =>
      es()
        .update({ index: META_INDEX, id: modelId, doc: { state: 'uploading' }, refresh: true })
        .then(() => {}),
    );
    expect(error).toBeInstanceOf(ModelStateError);
    expect(error.message).toMatch(/cannot be deployed: its upload has not finished/);
  });

  it('a model whose delete was interrupted (state deleting): the error says how to finish it, and that works', async () => {
    let id = '';
    const error = await damaged((modelId) => {
      id = modelId;
      return es()
        .update({ index: META_INDEX, id: modelId, doc: { state: 'deleting' }, refresh: true })
        .then(() => {});
    });
    expect(error).toBeInstanceOf(ModelStateError);
    expect(error.message).toContain(
      `model '${id}' cannot be deployed: it is being deleted; run 'feeder models delete ${id}' to finish the delete`,
    );
    await deleteModel(newEs(), id, captureLogger().logger);
    expect(await getMeta(newEs(), id)).toBeNull();
    const left = await es().count({ index: SHARED_CHUNKS_INDEX, query: { term: { model_id: id } } });
    expect(left.count).toBe(0);
  });

  it('a model too large for the u32 header, refused before anything is spawned', async () => {
    const modelId = uniqueId('huge');
    const five = 5 * 1024 ** 3;
    await es().index({
      index: META_INDEX,
      id: modelId,
      refresh: true,
      document: {
        model_id: modelId,
        state: 'ready',
        generation: 1,
        chunks_index: SHARED_CHUNKS_INDEX,
        chunk_size: 64 * MiB,
        chunk_count: 80,
        total_length: five,
        sha256: 'x',
        encoding: 'base64',
        source: { name: 'x', size: five },
        created_at: new Date().toISOString(),
        updated_at: new Date().toISOString(),
        ready_at: null,
        pending: null,
        garbage: [],
      },
    });
    const outcome = await deploy({ modelId }, (c) => (c.deploy.command = '/nonexistent/would-fail-if-spawned'));
    expect(outcome.error).toBeInstanceOf(InvalidArgumentError);
    expect(outcome.error!.message).toMatch(/a u32 size header carries at most 4294967295 .*set deploy.header to "u64"/);
    expect(outcome.pids).toEqual([]);
  });
});

describe('feedModel when Elasticsearch goes away mid-stream', () => {
  let model: { modelId: string; bytes: Buffer };
  beforeAll(async () => {
    model = await storedModel(4 * MiB);
  });

  it('retries with backoff and resumes at the chunk that failed when it comes back', async () => {
    const relay = await new TcpRelay(new URL(esUrl())).start();
    // A slow reader keeps the stream going long enough to cut the connection in the middle.
    const pending = deploy({ modelId: model.modelId }, stub('--read-rate', String(2 * MiB)), relay.url);
    await new Promise((r) => setTimeout(r, 700));
    await relay.cut();
    await new Promise((r) => setTimeout(r, 800));
    await relay.restore();
    const outcome = await pending;
    await relay.cut();
    expect(outcome.error).toBeNull();
    expect(outcome.result!.loaded.bytes).toBe(model.bytes.length);
    await outcome.result!.native.stop();
    expect(outcome.lines.some((l) => (l.event as { action?: string })?.action === 'chunk-fetch-retry')).toBe(true);
  });

  it('fails clearly when it does not come back, with the native process stopped', async () => {
    const relay = await new TcpRelay(new URL(esUrl())).start();
    const metaBefore = (await getMeta(newEs(), model.modelId))!.meta;
    const pending = deploy({ modelId: model.modelId }, stub('--read-rate', String(2 * MiB)), relay.url);
    await new Promise((r) => setTimeout(r, 700));
    await relay.cut();
    const outcome = await pending;
    expect(outcome.error).toBeInstanceOf(ElasticsearchUnreachableError);
    expect(outcome.error!.message).toMatch(/cannot reach Elasticsearch at http:\/\/127\.0\.0\.1:\d+ while reading chunk \d+ of model/);
    expect(outcome.lines.filter((l) => (l.event as { action?: string })?.action === 'chunk-fetch-retry').length).toBeGreaterThanOrEqual(3);
    await expectCleanFailure(outcome, model.modelId, metaBefore);
  });
});

describe('feedModel when no model byte moves for deploy.stallTimeoutMs', () => {
  // deploy.timeoutMs stays long: a stall is caught well before it.
  const stalling =
    (...args: string[]) =>
    (c: { deploy: { args: string[]; stallTimeoutMs: number; timeoutMs: number } }) => {
      c.deploy.args = args;
      c.deploy.stallTimeoutMs = 1000;
      c.deploy.timeoutMs = 20_000;
    };
  let model: { modelId: string; bytes: Buffer };
  beforeAll(async () => {
    model = await storedModel(4 * MiB, 256 * KiB);
  });

  it('fails as stalled when the native process stops reading, naming the write that waits, with the process stopped', async () => {
    // Chunks of 1 MiB: more than a socket buffer takes from a writer whose reader is gone.
    const { modelId } = await storedModel(3 * MiB, MiB);
    const metaBefore = (await getMeta(newEs(), modelId))!.meta;
    const outcome = await deploy({ modelId }, stalling('--hang'));
    expect(outcome.error).toBeInstanceOf(StalledError);
    expect(outcome.error!.message).toMatch(
      /stalled: the native process \(pid \d+\) is not reading its stdin: the write of chunk 0 has waited 1 s/,
    );
    expect(outcome.error!.message).toMatch(/0 of 3145728 model bytes had reached the native process, which was stopped/);
    await expectCleanFailure(outcome, modelId, metaBefore);
  });

  it('fails as stalled when Elasticsearch stops sending, naming the chunk it waits for', async () => {
    const relay = await new TcpRelay(new URL(esUrl())).start();
    try {
      const metaBefore = (await getMeta(newEs(), model.modelId))!.meta;
      const pauseOnce = (sent: number) => void (sent >= 256 * KiB && relay.pause());
      const outcome = await deploy({ modelId: model.modelId, onProgress: pauseOnce }, stalling('--read-rate', String(2 * MiB)), relay.url);
      expect(outcome.error).toBeInstanceOf(StalledError);
      expect(outcome.error!.message).toMatch(
        /stalled: waiting for Elasticsearch to send chunk (\d+) of model '[^']+' \(document '[^']+-chunk-\1' in [^)]+\), nothing came for 1 s/,
      );
      expect(outcome.error!.message).toMatch(/[1-9]\d* of 4194304 model bytes had reached the native process, which was stopped/);
      await expectCleanFailure(outcome, model.modelId, metaBefore);
    } finally {
      await relay.cut();
    }
  });

  it('loads a slow but moving model that takes longer than the stall timeout', async () => {
    // 2 MiB/s: about 2 s for the model, an eighth of a second per chunk.
    const { result, error } = await deploy({ modelId: model.modelId }, stalling('--read-rate', String(2 * MiB)));
    expect(error).toBeNull();
    expect(result!.loaded.bytes).toBe(model.bytes.length);
    expect(result!.durationMs).toBeGreaterThan(1000);
    await result!.native.stop();
  });

  it('leaves the wait for the loaded report, after the last byte, to deploy.timeoutMs', async () => {
    const outcome = await deploy({ modelId: model.modelId, timeoutMs: 2500 }, stalling('--hang-after-load'));
    expect(outcome.error).toBeInstanceOf(TimeoutError);
    expect(outcome.error).not.toBeInstanceOf(StalledError);
    expect(outcome.error!.message).toMatch(/did not finish within 2\.5 s \(after 4194304 of 4194304 model bytes were sent\)/);
  });
});
