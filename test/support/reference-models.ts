import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { minilmDirectory } from '../../bench/support/nlp-reference.js';
import { packageRoot } from '../../src/config/paths.js';
import { torchSetup } from './torch.js';
import { waitUntil } from './wait.js';

// The models and Python answers of test/fixtures/nlp/make-reference-models.py, built once and kept in
// the system's temporary directory under a digest of what makes them: every test file (and every
// later run) that needs them reads the same directory instead of spending half a minute of Python.

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
const INPUTS = ['make-reference-models.py', 'bpe.json', 'unigram.json'];

async function cacheKey(): Promise<string> {
  const hash = createHash('sha256');
  for (const file of INPUTS) hash.update(await readFile(join(FIXTURES, file)));
  hash.update(torchSetup().python);
  return hash.digest('hex').slice(0, 16);
}

/** The directory holding one sub-directory per reference model and reference.json, built if needed. */
export async function referenceModels(): Promise<{ dir: string; reference: Reference }> {
  const dir = join(tmpdir(), `feeder-nlp-reference-${await cacheKey()}`);
  const lock = `${dir}.lock`;
  // Another test file may be building it: the one that makes the lock builds, the others wait.
  while (!existsSync(dir)) {
    const owner = await mkdir(lock).then(
      () => true,
      () => false,
    );
    if (owner) {
      try {
        await build(dir);
      } finally {
        await rm(lock, { recursive: true, force: true });
      }
    } else {
      await waitUntil('the reference models built by another test file', () => existsSync(dir) || !existsSync(lock), {
        timeoutMs: 300_000,
        intervalMs: 500,
      });
    }
  }
  return { dir, reference: JSON.parse(await readFile(join(dir, 'reference.json'), 'utf8')) as Reference };
}

async function build(dir: string): Promise<void> {
  const partial = `${dir}.partial`;
  await rm(partial, { recursive: true, force: true });
  await execa(torchSetup().python, [join(FIXTURES, 'make-reference-models.py'), partial, await minilmDirectory(torchSetup().python)]);
  await rename(partial, dir);
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
