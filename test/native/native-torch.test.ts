import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, uniqueId } from '../support/es.js';
import { startDaemon, waitForStatus, type RunningDaemon } from '../support/daemon.js';
import { maxDifference, torchReference, torchSetup, type TorchReference } from '../support/torch.js';

// native-torch serves real TorchScript models through the real daemon: every answer is compared
// with what Python's torch computed from the same file (scripts/make-torch-models.py).

async function upload(daemon: RunningDaemon, path: string): Promise<string> {
  const modelId = uniqueId('torch');
  const result = await daemon.cli(['upload', path, '--model-id', modelId]);
  expect(result.exitCode, result.stderr).toBe(0);
  return modelId;
}

async function inferApi(daemon: RunningDaemon, modelId: string, tokens: number[][]): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://${daemon.listen}/deployments/${modelId}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ tokens }),
  });
  return { status: res.status, body: await res.json() };
}

const status = async (daemon: RunningDaemon, modelId: string) => JSON.parse((await daemon.cli(['status', modelId, '--json'])).stdout);

describe('native-torch behind feeder serve', () => {
  let daemon: RunningDaemon;
  let minilm: TorchReference;
  let classifier: TorchReference;
  let minilmId: string;
  let classifierId: string;
  beforeAll(async () => {
    const { binary, fixtures } = torchSetup();
    daemon = await startDaemon({ config: { deploy: { command: binary, args: ['--threads', '1'] } } });
    [minilm, classifier] = await Promise.all([torchReference('minilm'), torchReference('classifier')]);
    [minilmId, classifierId] = await Promise.all([
      upload(daemon, join(fixtures, minilm.model)),
      upload(daemon, join(fixtures, classifier.model)),
    ]);
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  it('loads all-MiniLM-L6-v2 and answers `feeder infer` as torch does in Python, within 1e-5', async () => {
    const deployed = await daemon.cli(['deploy', minilmId, '--json']);
    expect(deployed.exitCode, deployed.stderr).toBe(0);
    expect(JSON.parse(deployed.stdout)).toMatchObject({ state: 'started', bytes_streamed: minilm.bytes });
    const single = minilm.cases.filter((c) => c.tokens.length === 1);
    expect(single.length).toBeGreaterThanOrEqual(3);
    for (const { tokens, output } of single) {
      const answer = await daemon.cli(['infer', minilmId, '--tokens', tokens[0]!.join(','), '--json']);
      expect(answer.exitCode, answer.stderr).toBe(0);
      const inference = JSON.parse(answer.stdout).result.inference;
      expect(inference).toHaveLength(1);
      expect(inference[0]).toHaveLength(384);
      expect(maxDifference(inference, output)).toBeLessThan(1e-5);
    }
    // The answers differ from one sentence to the next: a constant output would not pass above,
    // but say so plainly.
    expect(maxDifference(single[0]!.output, single[1]!.output)).toBeGreaterThan(0.1);
  });

  it('answers a batch of several sequences with one row per sequence', async () => {
    const batch = minilm.cases.find((c) => c.tokens.length > 1)!;
    const { status: code, body } = await inferApi(daemon, minilmId, batch.tokens);
    expect(code).toBe(200);
    expect(body.type).toBe('result');
    expect(maxDifference(body.result.inference, batch.output)).toBeLessThan(1e-5);
    expect(body.time_ms).toBeGreaterThan(0);
  });

  it('serves the small classifier too, as torch does', async () => {
    const deployed = await daemon.cli(['deploy', classifierId]);
    expect(deployed.exitCode, deployed.stderr).toBe(0);
    for (const { tokens, output } of classifier.cases) {
      const { body } = await inferApi(daemon, classifierId, tokens);
      expect(maxDifference(body.result.inference, output), JSON.stringify(body)).toBeLessThan(1e-5);
    }
  });

  it('serves a dynamically quantized model as torch does, with the warning libtorch prints in a JSON log line at WARN', async () => {
    const quantized = await torchReference('classifier-quantized');
    const modelId = await upload(daemon, join(torchSetup().fixtures, quantized.model));
    const deployed = await daemon.cli(['deploy', modelId]);
    expect(deployed.exitCode, deployed.stderr).toBe(0);
    for (const { tokens, output } of quantized.cases) {
      const { body } = await inferApi(daemon, modelId, tokens);
      expect(maxDifference(body.result.inference, output), JSON.stringify(body)).toBeLessThan(1e-5);
    }
    const lines = () => daemon.logs.filter((l) => l.event?.action === 'native-log' && l.feeder?.model_id === modelId);
    const warning = await daemon.waitForLog((l) => lines().includes(l) && /torch\.quantize_per_tensor/.test(l.message));
    expect(warning).toMatchObject({ 'log.level': 'warn', native: { level: 'WARN', timestamp: expect.any(Number) } });
    // A line that was not JSON reaches the daemon's log without the process's own timestamp.
    expect(lines().filter((l) => typeof l.native?.timestamp !== 'number')).toEqual([]);
  });

  it('answers an input the model cannot take with an error naming the reason, and keeps serving', async () => {
    const before = await status(daemon, classifierId);
    // Token 9000 is outside the classifier's 8192-word embedding: its forward() throws.
    const outOfRange = await daemon.cli(['infer', classifierId, '--tokens', '1,9000']);
    expect(outOfRange.exitCode).toBe(1);
    expect(outOfRange.stderr).toMatch(/the native process refused the request: forward\(\) failed: .*index out of range/s);
    // Rows of different lengths cannot form the [batch, seq] tensor.
    const ragged = await inferApi(daemon, classifierId, [[1, 2, 3], [4]]);
    expect(ragged.body.type).toBe('error');
    expect(ragged.body.error.error).toMatch(/tokens\[1\] has 1 elements, tokens\[0\] has 3/);
    // More positions than MiniLM has (512).
    const tooLong = await inferApi(daemon, minilmId, [Array.from({ length: 600 }, () => 1000)]);
    expect(tooLong.body.type).toBe('error');
    expect(tooLong.body.error.error).toMatch(/forward\(\) failed/);

    const after = await status(daemon, classifierId);
    expect(after).toMatchObject({ state: 'started', pid: before.pid, restarts: before.restarts });
    const { tokens, output } = classifier.cases[0]!;
    const { body } = await inferApi(daemon, classifierId, tokens);
    expect(maxDifference(body.result.inference, output)).toBeLessThan(1e-5);
  });

  it('is restarted when it is killed in the middle of a request, and then answers as before', async () => {
    const before = await status(daemon, minilmId);
    // A batch long enough to keep forward() busy for a second or so on one thread (12 × 512
    // tokens, under the control API's 64 KiB body limit).
    const slow = inferApi(
      daemon,
      minilmId,
      Array.from({ length: 12 }, () => Array.from({ length: 512 }, (_, i) => 1000 + i)),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    process.kill(before.pid, 'SIGKILL');
    const cut = await slow;
    expect(cut.status).toBeGreaterThanOrEqual(500);
    expect(JSON.stringify(cut.body)).toMatch(/SIGKILL/);

    const after = await waitForStatus(daemon, minilmId, (s) => s.state === 'started' && s.pid !== before.pid, 60_000);
    expect(after.restarts).toBe(before.restarts + 1);
    const { tokens, output } = minilm.cases[0]!;
    const { body } = await inferApi(daemon, minilmId, tokens);
    expect(maxDifference(body.result.inference, output)).toBeLessThan(1e-5);
  });
});

describe('models native-torch cannot load', () => {
  let daemon: RunningDaemon;
  beforeAll(async () => {
    // The default restart budget, with a backoff long enough that a restart would show in the time taken.
    daemon = await startDaemon({
      config: { deploy: { command: torchSetup().binary }, daemon: { maxRestarts: 3, restartBackoffMs: 2000 } },
    });
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  /** Exit 8 says the bytes are no model libtorch can load: the deployment fails after one attempt, never restarted. */
  async function expectRefused(path: string): Promise<string> {
    const modelId = await upload(daemon, path);
    const deployed = await daemon.cli(['deploy', modelId]);
    expect(deployed.exitCode).toBe(1);
    const failed = await waitForStatus(daemon, modelId, (s) => s.state === 'failed');
    expect(failed.reason).toMatch(/exited with code 8: it cannot load model '[^']+', which no restart cures/);
    expect(failed.reason).toMatch(/the model is not a TorchScript archive libtorch can load/);
    expect(failed.reason).not.toMatch(/gave up after/);
    expect(failed.restarts).toBe(0);
    const ofModel = (action: string) => daemon.logs.filter((l) => l.event?.action === action && l.feeder?.model_id === modelId);
    expect(ofModel('native-spawn')).toHaveLength(1);
    expect(ofModel('native-restart')).toEqual([]);
    expect(ofModel('deployment-state').map((l) => l.feeder.state)).not.toContain('started');
    return failed.reason;
  }

  it('fails a truncated TorchScript file with the reason, and never reports it started', async () => {
    const whole = await readFile(join(torchSetup().fixtures, 'classifier.pt'));
    const path = join(await tempDir(), 'truncated.pt');
    await writeFile(path, whole.subarray(0, Math.floor(whole.length / 2)));
    const reason = await expectRefused(path);
    expect(reason).toMatch(/central directory|zip archive/);
  });

  it('fails a file that is not TorchScript at all with the reason', async () => {
    const path = join(await tempDir(), 'random.bin');
    await writeFile(path, randomBytes(512 * 1024));
    await expectRefused(path);
  });

  it('fails a state dict saved with torch.save, a zip archive but no TorchScript module, with the reason', async () => {
    const reason = await expectRefused(join(torchSetup().fixtures, 'classifier-state-dict.pt'));
    expect(reason).toMatch(
      /libtorch can load: it is a file of torch\.save \(a state dict or a pickled module\), not TorchScript: save the module with torch\.jit\.save\(torch\.jit\.trace\(model, example_inputs\)\).*; libtorch says: .*constants\.pkl/,
    );
  });

  it('fails a zip archive of other files with the reason', async () => {
    await expectRefused(join(torchSetup().fixtures, 'not-torchscript.zip'));
  });
});
