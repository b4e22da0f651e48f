import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const run = promisify(execFile);
const RELATIVE_IMPORT = /(?:from\s*|import\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g;

/** Which feeder was measured: `git describe --always --dirty`, and a hash of the compiled code the child runs. */
export interface BuildStamp {
  code: string | null;
  /** sha256 (shortened) of every compiled module the deploy child imports, directly or not. */
  deploy_code_sha256: string;
}

/**
 * The child process loads the compiled feeder afresh on every run, so a rebuild during a long
 * benchmark changes what is measured: compare a stamp taken at the start with one taken at the end.
 */
export async function buildStamp(childScript: string): Promise<BuildStamp> {
  const code = await run('git', ['describe', '--always', '--dirty'], { cwd: REPO }).then(
    (r) => r.stdout.trim(),
    () => null,
  );
  return { code, deploy_code_sha256: await importClosureHash(childScript) };
}

/** Follows relative imports from `entry` and hashes the files found, in a stable order. */
async function importClosureHash(entry: string): Promise<string> {
  const files = new Map<string, Buffer>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    const text = await readFile(file);
    files.set(file, text);
    for (const match of text.toString('utf8').matchAll(RELATIVE_IMPORT)) queue.push(resolve(dirname(file), match[1]!));
  }
  const hash = createHash('sha256');
  for (const file of [...files.keys()].sort()) hash.update(relative(REPO, file)).update(files.get(file)!);
  return hash.digest('hex').slice(0, 16);
}
