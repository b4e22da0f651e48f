import { randomFillSync } from 'node:crypto';
import { open, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function makeTempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'feeder-bench-'));
}

/** A file of `bytes` random (incompressible) bytes, written in 8 MiB blocks. */
export async function writeRandomFile(dir: string, bytes: number): Promise<string> {
  const path = join(dir, `model-${bytes}.bin`);
  const block = Buffer.allocUnsafe(8 * 1024 * 1024);
  const file = await open(path, 'w');
  try {
    for (let left = bytes; left > 0; left -= block.length) {
      const piece = block.subarray(0, Math.min(left, block.length));
      randomFillSync(piece);
      await file.write(piece);
    }
    // On disk before anything is timed, so its write-back does not compete with Elasticsearch.
    await file.sync();
  } finally {
    await file.close();
  }
  return path;
}
