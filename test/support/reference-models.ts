import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { minilmDirectory } from '../../bench/support/nlp-reference.js';
import { packageRoot } from '../../src/config/paths.js';
import { torchSetup } from './torch.js';
import { builtOnce } from './fixture-cache.js';

// The models and Python answers of test/fixtures/nlp/make-reference-models.py, built once for every
// test file and later run (test/support/fixture-cache.ts): half a minute of Python each time otherwise.

export interface ReferenceModel {
  name: string;
  family: 'bert' | 'roberta' | 'xlm_roberta';
  task: string;
  docs: string[];
  inference_config: Record<string, Record<string, unknown>>;
  expected: Array<Record<string, unknown>>;
}

export interface Reference {
  models: ReferenceModel[];
  minilm: { sentences: string[]; embeddings: number[][] };
}

const FIXTURES = join(packageRoot(), 'test', 'fixtures', 'nlp');
const INPUTS = ['make-reference-models.py', 'bpe.json', 'unigram.json'].map((file) => join(FIXTURES, file));

/** The directory holding one sub-directory per reference model and reference.json, built if needed. */
export async function referenceModels(): Promise<{ dir: string; reference: Reference }> {
  const dir = await builtOnce('nlp-reference', INPUTS, async (out) => {
    await execa(torchSetup().python, [join(FIXTURES, 'make-reference-models.py'), out, await minilmDirectory(torchSetup().python)]);
  });
  return { dir, reference: JSON.parse(await readFile(join(dir, 'reference.json'), 'utf8')) as Reference };
}

/**
 * Where `actual` departs from `expected`: numbers by more than `tolerance`, anything else unequal,
 * a field of `expected` missing (fields only `actual` has are not judged). `is_truncated: false`
 * also matches its absence, as Elastic writes the field only when true.
 */
export function differences(actual: unknown, expected: unknown, tolerance: number, path = ''): string[] {
  if (typeof expected === 'number') {
    const close = typeof actual === 'number' && Math.abs(actual - expected) <= tolerance;
    return close ? [] : [`${path}: expected ${expected}, got ${JSON.stringify(actual)}`];
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length)
      return [`${path}: expected ${expected.length} items, got ${JSON.stringify(actual)?.slice(0, 200)}`];
    return expected.flatMap((item, i) => differences(actual[i], item, tolerance, `${path}[${i}]`));
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object') return [`${path}: expected an object, got ${JSON.stringify(actual)?.slice(0, 200)}`];
    const got = actual as Record<string, unknown>;
    return Object.entries(expected).flatMap(([key, value]) =>
      key === 'is_truncated' && value === false && got[key] === undefined ? [] : differences(got[key], value, tolerance, `${path}.${key}`),
    );
  }
  return actual === expected ? [] : [`${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`];
}
