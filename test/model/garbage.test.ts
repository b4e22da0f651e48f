import { describe, expect, it } from 'vitest';
import { deleteModel } from '../../src/maintenance/delete.js';
import { collectGarbage } from '../../src/model/garbage.js';
import { pinGenerations, recordDeployed, recordUndeployed } from '../../src/coordination/desired-deployments.js';
import { storedChunks } from '../../src/model/generations.js';
import { SHARED_CHUNKS_INDEX } from '../../src/model/layout.js';
import { requireMeta, type GenerationRef } from '../../src/model/meta.js';
import { feeder } from '../support/cli.js';
import { storedModel } from '../support/deploy.js';
import { captureLogger, newEs, randomModelFile, uniqueId } from '../support/es.js';

async function countChunks(modelId: string, ref: GenerationRef): Promise<number> {
  let count = 0;
  for await (const _ of storedChunks(newEs(), modelId, ref)) count += 1;
  return count;
}

describe('garbage collection of replaced generations', () => {
  it('keeps a generation a deployment pins through upload --replace, and removes it once the pin has moved on', async () => {
    const es = newEs();
    const { logger, lines } = captureLogger();
    const { modelId } = await storedModel(600_000);
    const daemon = uniqueId('some-daemon');
    const first: GenerationRef = { generation: 1, chunks_index: SHARED_CHUNKS_INDEX };
    await recordDeployed(es, daemon, modelId, 1);
    try {
      const replaced = await feeder([
        'upload',
        (await randomModelFile(300_000)).path,
        '--model-id',
        modelId,
        '--replace',
        '--chunk-size',
        '256kb',
      ]);
      expect(replaced.exitCode, replaced.stderr).toBe(0);
      const { meta } = await requireMeta(es, modelId);
      expect(meta.generation).toBe(2);
      expect(meta.garbage).toEqual([first]);
      expect(await countChunks(modelId, first)).toBe(3);
      expect(replaced.stderr).toContain(`kept generation 1 of model '${modelId}'`);

      await pinGenerations(es, daemon, modelId, [2]);
      const collected = await collectGarbage(es, await requireMeta(es, modelId), logger);

      expect(collected.meta.garbage).toEqual([]);
      expect((await requireMeta(es, modelId)).meta.garbage).toEqual([]);
      expect(await countChunks(modelId, first)).toBe(0);
      expect(await countChunks(modelId, { generation: 2, chunks_index: SHARED_CHUNKS_INDEX })).toBe(2);
      expect(lines.some((l) => String(l.message).includes('kept generation'))).toBe(false);
    } finally {
      await recordUndeployed(es, daemon, modelId);
      await deleteModel(es, modelId, logger);
    }
  });
});
