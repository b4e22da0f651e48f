import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { packageRoot } from '../../src/config/paths.js';

/** What native-torch's tests and benchmark need, made by the project's own scripts. */
export interface TorchSetup {
  /** The built native-torch executable. */
  binary: string;
  /** The Python that scripts/install-torch.sh installed, which can `import torch`. */
  python: string;
  /** Where scripts/make-torch-models.py wrote classifier.pt, minilm.pt, their variants and their reference answers. */
  fixtures: string;
}

/** One model the fixture script made, with torch's own answers for a few token sequences. */
export interface TorchReference {
  model: string;
  bytes: number;
  sha256: string;
  cases: Array<{ tokens: number[][]; output: unknown }>;
}

const root = packageRoot();

/**
 * Installs torch (cached after the first time), builds native-torch (incremental), and makes the
 * fixture models unless those of the same fixture script are already there.
 */
export async function prepareTorch(): Promise<TorchSetup> {
  await execa('bash', [join(root, 'scripts/build-torch.sh')], { stdout: 'ignore', stderr: 'inherit' });
  const { stdout: python } = await execa('bash', [join(root, 'scripts/install-torch.sh'), 'path', 'python']);
  const script = join(root, 'scripts/make-torch-models.py');
  const fixtures = join(root, 'build', 'torch-fixtures');
  const stamp = createHash('sha256')
    .update(await readFile(script))
    .update(python)
    .digest('hex');
  const stampFile = join(fixtures, 'stamp');
  const current = existsSync(stampFile) ? await readFile(stampFile, 'utf8') : '';
  if (current !== stamp) {
    await mkdir(fixtures, { recursive: true });
    await execa(python.trim(), [script, '--out', fixtures], { stdout: 'ignore', stderr: 'inherit' });
    await writeFile(stampFile, stamp);
  }
  return { binary: join(root, 'native-torch', 'build', 'native-torch'), python: python.trim(), fixtures };
}

/** The models the fixture script makes with torch's answers; its other files are ones libtorch cannot load. */
export type ReferenceModel = 'classifier' | 'classifier-quantized' | 'minilm';

export async function readReference(fixtures: string, name: ReferenceModel): Promise<TorchReference> {
  return JSON.parse(await readFile(join(fixtures, `${name}.json`), 'utf8')) as TorchReference;
}
