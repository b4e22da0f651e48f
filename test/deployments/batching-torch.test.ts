import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NativeProcess } from '../../src/native/native-process.js';
import type { ResponseFrame } from '../../src/native/protocol.js';
import { inferenceQueue, loadedNative } from '../support/loaded-native.js';
import { maxDifference, torchReference, torchSetup, type TorchReference } from '../support/torch.js';

const inference = (answer: ResponseFrame) => (answer.type === 'result' ? answer.result.inference : answer);

describe('batching with native-torch and all-MiniLM-L6-v2', () => {
  let minilm: TorchReference;
  let native: NativeProcess;
  beforeAll(async () => {
    minilm = await torchReference('minilm');
    const model = await readFile(join(torchSetup().fixtures, minilm.model));
    native = await loadedNative(model, ['--threads', '1'], torchSetup().binary);
  }, 120_000);
  afterAll(async () => {
    await native?.stop();
  });

  it('answers each sentence batched as it answers it alone (within 1e-5), and as torch does', async () => {
    const { tokens, output } = minilm.cases[0]!;
    const sentence = tokens[0]!;
    // Sentences of the same length (raw tokens are merged only so), each with another word in the middle.
    const sentences = [sentence, ...[2000, 3000, 4000, 5000, 6000, 7000, 8000].map((word) => sentence.map((t, i) => (i === 3 ? word : t)))];
    const { queue } = inferenceQueue();
    const alone: unknown[] = [];
    for (const row of sentences) alone.push(inference(await queue.run(native, { tokens: [row] })));
    const batched = await Promise.all(sentences.map((row) => queue.run(native, { tokens: [row] })));
    // All but the first waited behind it, and went as one forward().
    expect(new Set(batched.slice(1).map((a) => a.request_id)).size).toBe(1);
    batched.forEach((answer, i) => expect(maxDifference(inference(answer), alone[i])).toBeLessThan(1e-5));
    expect(maxDifference(inference(batched[0]!), output)).toBeLessThan(1e-5);
  });
});
