import { execa } from 'execa';
import { join } from 'node:path';
import { expect } from 'vitest';
import { minilmDirectory } from '../../bench/support/nlp-reference.js';
import { packageRoot } from '../../src/config/paths.js';
import type { Es } from '../../src/es/es.js';
import { ASSETS_INDEX } from '../../src/model/layout.js';
import { feeder } from './cli.js';
import { builtOnce } from './fixture-cache.js';
import { torchSetup } from './torch.js';

// What the `feeder import` tests (test/upload/import*.test.ts) import: the real all-MiniLM-L6-v2
// directory, and one small model per task family that test/fixtures/nlp/make-nlp-models.py builds
// with transformers (fixed seed), built once for both files and both CI passes.

const SCRIPT = join(packageRoot(), 'test', 'fixtures', 'nlp', 'make-nlp-models.py');

export interface ImportModels {
  /** One Hugging Face directory per task family, and minilm-reference.json. */
  models: string;
  minilmDir: string;
}

export async function importModels(): Promise<ImportModels> {
  const { python } = torchSetup();
  const minilmDir = await minilmDirectory(python);
  const models = await builtOnce('nlp-import', [SCRIPT], async (out) => {
    await execa(python, [SCRIPT, out, minilmDir]);
  });
  return { models, minilmDir };
}

export const importDir = (dir: string, modelId: string, ...more: string[]) => feeder(['import', dir, '--model-id', modelId, ...more]);

/** `feeder models show --json` of a model that must exist. */
export async function showModel(modelId: string): Promise<Record<string, any>> {
  const shown = await feeder(['models', 'show', modelId, '--json']);
  expect(shown.exitCode, shown.stderr).toBe(0);
  return JSON.parse(shown.stdout) as Record<string, any>;
}

/** The ids of the asset documents (tokenizer, task config) stored for `modelId`, sorted. */
export async function assetIds(es: Es, modelId: string): Promise<string[]> {
  await es.client.indices.refresh({ index: ASSETS_INDEX, ignore_unavailable: true });
  const found = await es.client.search({ index: ASSETS_INDEX, query: { term: { model_id: modelId } }, ignore_unavailable: true });
  return found.hits.hits.map((hit) => hit._id!).sort();
}
