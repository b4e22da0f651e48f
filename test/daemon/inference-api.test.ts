import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
