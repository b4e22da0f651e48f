import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/config/paths.js';
import { storedModel } from '../support/deploy.js';
import { startDaemon, type RunningDaemon } from '../support/daemon.js';

/** What the stub answers for token `t`: the model byte at `t mod size`, over 255 (computed with BigInt: t may pass 2^53). */
const valueOf = (bytes: Buffer, t: bigint) => bytes[Number(t % BigInt(bytes.length))]! / 255;

describe('inference through the daemon, with the whole range of token ids', () => {
  let daemon: RunningDaemon;
  let model: { modelId: string; bytes: Buffer };
  const post = (path: string, body: unknown) =>
    fetch(`http://${daemon.listen}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  beforeAll(async () => {
    // A size that no power of two divides, so that 2^32, 2^53 - 1 and 2^64 - 1 land on different bytes.
    model = await storedModel(100_003);
    daemon = await startDaemon();
    const deployed = await daemon.cli(['deploy', model.modelId]);
    expect(deployed.exitCode, deployed.stderr).toBe(0);
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  it('answers token ids of 2^32 and above given as JSON numbers (they once reached the process as float64, refused)', async () => {
    const tokens = [4294967296, 2 ** 53 - 1, 3];
    const answer = await post(`/deployments/${model.modelId}/infer`, { tokens: [tokens] });
    const body = (await answer.json()) as Record<string, any>;
    expect(answer.status, JSON.stringify(body)).toBe(200);
    expect(body.type, JSON.stringify(body)).toBe('result');
    expect(body.result.inference).toEqual([tokens.map((t) => [valueOf(model.bytes, BigInt(t))])]);
  });

  it('answers token ids up to 2^64 - 1 given as decimal strings, through the API', async () => {
    const tokens = ['9007199254740993', '18446744073709551615', '4294967296', 5];
    const answer = await post(`/deployments/${model.modelId}/infer`, { tokens: [tokens] });
    const body = (await answer.json()) as Record<string, any>;
    expect(answer.status, JSON.stringify(body)).toBe(200);
    expect(body.type, JSON.stringify(body)).toBe('result');
    expect(body.result.inference).toEqual([tokens.map((t) => [valueOf(model.bytes, BigInt(t))])]);
  });

  it('answers them through the CLI, where --tokens takes any id up to 2^64 - 1 exactly', async () => {
    const tokens = ['4294967296', '9007199254740993', '18446744073709551615'];
    const answer = await daemon.cli(['infer', model.modelId, '--tokens', tokens.join(','), '--json']);
    expect(answer.exitCode, answer.stderr).toBe(0);
    expect(JSON.parse(answer.stdout).result.inference).toEqual([tokens.map((t) => [valueOf(model.bytes, BigInt(t))])]);
  });

  it('refuses a JSON number above 2^53 - 1, which JSON cannot carry exactly, and says to send it as a string', async () => {
    const answer = await post(`/deployments/${model.modelId}/infer`, { tokens: [[1, 2 ** 53]] });
    const body = (await answer.json()) as Record<string, any>;
    expect(answer.status).toBe(400);
    expect(body.error.message).toMatch(/tokens\[0\]\[1\].*2\^53.*string/);
  });

  it('refuses an id above 2^64 - 1, and one that is no whole number', async () => {
    for (const bad of ['18446744073709551616', '-1', '1.5', 'x']) {
      const answer = await post(`/deployments/${model.modelId}/infer`, { tokens: [[bad]] });
      expect(answer.status, bad).toBe(400);
      expect(((await answer.json()) as Record<string, any>).error.message, bad).toMatch(/tokens\[0\]\[0\]/);
      const cli = await daemon.cli(['infer', model.modelId, '--tokens', bad]);
      expect(cli.exitCode, bad).toBe(2);
      expect(cli.stderr, bad).toMatch(/--tokens/);
    }
  });
});

describe('arg_1..arg_3 and control requests through the daemon', () => {
  let daemon: RunningDaemon;
  let model: { modelId: string; bytes: Buffer };
  const post = async (path: string, body: unknown) => {
    const answer = await fetch(`http://${daemon.listen}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: answer.status, body: (await answer.json()) as Record<string, any> };
  };
  beforeAll(async () => {
    model = await storedModel(50_021);
    daemon = await startDaemon();
    const deployed = await daemon.cli(['deploy', model.modelId]);
    expect(deployed.exitCode, deployed.stderr).toBe(0);
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  it('passes arg_1..arg_3 to the process, which sees them (the stub answers each beside the model byte)', async () => {
    const tokens = [
      [1, 2, 3],
      [4, 5, 6],
    ];
    const body = {
      tokens,
      arg_1: [
        [1, 1, 1],
        [1, 1, 0],
      ],
      arg_3: [
        [7, 8, '18446744073709551615'],
        [0, 0, 0],
      ],
    };
    const answer = await post(`/deployments/${model.modelId}/infer`, body);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.result.inference).toEqual(
      tokens.map((row, b) => row.map((t, i) => [valueOf(model.bytes, BigInt(t)), body.arg_1[b]![i], Number(body.arg_3[b]![i])])),
    );
  });

  it('passes them from the CLI: --arg-N once per row, like --tokens', async () => {
    const cli = await daemon.cli([
      'infer',
      model.modelId,
      '--tokens',
      '10,11',
      '--tokens',
      '12,13',
      '--arg-2',
      '0,1',
      '--arg-2',
      '1,0',
      '--json',
    ]);
    expect(cli.exitCode, cli.stderr).toBe(0);
    expect(JSON.parse(cli.stdout).result.inference).toEqual([
      [
        [valueOf(model.bytes, 10n), 0],
        [valueOf(model.bytes, 11n), 1],
      ],
      [
        [valueOf(model.bytes, 12n), 1],
        [valueOf(model.bytes, 13n), 0],
      ],
    ]);
  });

  it('refuses an argument whose shape is not that of tokens, naming it and the row', async () => {
    const rows = await post(`/deployments/${model.modelId}/infer`, {
      tokens: [[1, 2]],
      arg_1: [
        [1, 1],
        [1, 1],
      ],
    });
    expect(rows.status).toBe(400);
    expect(rows.body.error.message).toMatch(/arg_1 must have the shape of tokens: 1 rows; it has 2/);
    const length = await post(`/deployments/${model.modelId}/infer`, {
      tokens: [
        [1, 2],
        [3, 4],
      ],
      arg_2: [[1, 1], [1]],
    });
    expect(length.status).toBe(400);
    expect(length.body.error.message).toMatch(/arg_2\[1\] has 1 ids where tokens\[1\] has 2/);
    const value = await post(`/deployments/${model.modelId}/infer`, { tokens: [[1]], arg_3: [[-1]] });
    expect(value.status).toBe(400);
    expect(value.body.error.message).toMatch(/arg_3\[0\]\[0\] must be a whole number/);
    const cli = await daemon.cli(['infer', model.modelId, '--tokens', '1,2', '--arg-1', '1']);
    expect(cli.exitCode).toBe(2);
    expect(cli.stderr).toMatch(/arg_1\[0\] has 1 ids where tokens\[0\] has 2.*FEEDER_ERR_INVALID_ARGUMENT/);
  });

  it('answers control 1 with the process stats and control 0 with an ack, through the API and the CLI', async () => {
    const before = JSON.parse((await daemon.cli(['status', model.modelId, '--json'])).stdout);
    const stats = await post(`/deployments/${model.modelId}/control`, { control: 1 });
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({ type: 'stats', stats: { memory_rss: expect.any(Number), memory_max_rss: expect.any(Number) } });
    expect(stats.body.stats.memory_rss).toBeGreaterThan(model.bytes.length);
    expect((await post(`/deployments/${model.modelId}/control`, { control: 0 })).body).toMatchObject({ type: 'ack' });
    const cli = await daemon.cli(['control', model.modelId, 'stats']);
    expect(cli.exitCode, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/^memory_rss [\d.]+ [KMG]iB, memory_max_rss [\d.]+ [KMG]iB$/);
    const ack = await daemon.cli(['control', model.modelId, 'clear-cache', '--json']);
    expect(ack.exitCode, ack.stderr).toBe(0);
    expect(JSON.parse(ack.stdout)).toMatchObject({ type: 'ack', request_id: expect.any(String) });
    const status = JSON.parse((await daemon.cli(['status', model.modelId, '--json'])).stdout);
    expect(status.inference_count, 'control requests are no inferences').toBe(before.inference_count);
  });

  it('refuses a control code other than 0 and 1, and control on a model not deployed', async () => {
    const bad = await post(`/deployments/${model.modelId}/control`, { control: 2 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/control must be 0 \(clear the cache\) or 1 \(process stats\)/);
    const missing = await post('/deployments/nobody-here/control', { control: 1 });
    expect(missing.status).toBe(404);
    const cli = await daemon.cli(['control', model.modelId, 'reboot']);
    expect(cli.exitCode).toBe(2);
    expect(cli.stderr).toMatch(/Invalid values/);
  });
});

describe('a native process named by a bare program name, which may answer out of request order', () => {
  let daemon: RunningDaemon;
  let model: { modelId: string; bytes: Buffer };
  beforeAll(async () => {
    model = await storedModel(10_007);
    const script = join(packageRoot(), 'test', 'fixtures', 'native', 'js-native.mjs');
    daemon = await startDaemon({ config: { deploy: { command: 'node', args: [script, '--reverse'] } } });
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  it('is deployed from deploy.command "node", found on PATH, and each answer goes to its own request', async () => {
    const deployed = await daemon.cli(['deploy', model.modelId]);
    expect(deployed.exitCode, deployed.stderr).toBe(0);
    // Sent at once: the daemon sends those that wait behind the first as one batch, which the
    // process answers as a whole. Frames answered out of order: test/deployments/batching.test.ts.
    const tokens = Array.from({ length: 40 }, (_, i) => 1000 + i);
    const answers = await Promise.all(
      tokens.map(async (t) => {
        const answer = await fetch(`http://${daemon.listen}/deployments/${model.modelId}/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ tokens: [[t]] }),
        });
        return ((await answer.json()) as Record<string, any>).result?.inference;
      }),
    );
    expect(answers).toEqual(tokens.map((t) => [[[t]]]));
    const status = JSON.parse((await daemon.cli(['status', model.modelId, '--json'])).stdout);
    expect(status).toMatchObject({ state: 'started', restarts: 0, inference_count: tokens.length, error_count: 0 });
  });
});
