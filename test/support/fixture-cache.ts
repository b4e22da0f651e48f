import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { torchSetup } from './torch.js';
import { waitUntil } from './wait.js';

// Fixture models that take a Python script minutes to make are built once and kept in the system's
// temporary directory under a digest of what makes them: every test file that needs them, later runs
// and CI's second pass read the same directory instead of making them again.

async function cacheKey(inputs: string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const file of inputs) hash.update(await readFile(file));
  hash.update(torchSetup().python);
  return hash.digest('hex').slice(0, 16);
}

/** The directory `make` fills, named `name` and a digest of the files `inputs`, made unless it is there already. */
export async function builtOnce(name: string, inputs: string[], make: (dir: string) => Promise<void>): Promise<string> {
  const dir = join(tmpdir(), `feeder-${name}-${await cacheKey(inputs)}`);
  const lock = `${dir}.lock`;
  // Another test file may be building it: the one that makes the lock builds, the others wait.
  while (!existsSync(dir)) {
    const owner = await mkdir(lock).then(
      () => true,
      () => false,
    );
    if (owner) {
      try {
        await buildInto(dir, make);
      } finally {
        await rm(lock, { recursive: true, force: true });
      }
    } else {
      await waitUntil(`the ${name} fixtures built by another test file`, () => existsSync(dir) || !existsSync(lock), {
        timeoutMs: 300_000,
        intervalMs: 500,
      });
    }
  }
  return dir;
}

/** Half-made fixtures are never seen under the final name: a build that dies leaves only `.partial`. */
async function buildInto(dir: string, make: (dir: string) => Promise<void>): Promise<void> {
  const partial = `${dir}.partial`;
  await rm(partial, { recursive: true, force: true });
  await make(partial);
  await rename(partial, dir);
}
