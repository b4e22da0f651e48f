import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { benchElasticsearch } from './es-node.js';
import { feederDelete, feederUpload } from './feeder-cli.js';
import { startFeederServe, type FeederServe } from './feeder-serve.js';
import { makeTempDir, writeRandomFile } from './files.js';
import { prepareTorch, readReference, type TorchReference, type TorchSetup } from './torch-models.js';

/** What the MiniLM benchmarks stand on: native-torch and the fixture, a bench node, the model and a random file of its size stored. */
export interface MiniLMBench {
  torch: TorchSetup;
  reference: TorchReference;
  modelFile: string;
  esUrl: string;
  dir: string;
  /** all-MiniLM-L6-v2, stored. */
  torchId: string;
  /** Random bytes of the same size, stored, for the stub. */
  stubId: string;
}

/** Prepares it all; `cleanup` gets the steps that undo it, to run in reverse. */
export async function prepareMiniLMBench(prefix: string, cleanup: Array<() => Promise<unknown>>): Promise<MiniLMBench> {
  const torch = await prepareTorch();
  const reference = await readReference(torch.fixtures, 'minilm');
  const modelFile = join(torch.fixtures, reference.model);
  const node = await benchElasticsearch();
  cleanup.push(() => node.stop());
  const dir = await makeTempDir();
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const torchId = `${prefix}-${process.pid}`;
  const stubId = `${prefix}-stub-${process.pid}`;
  cleanup.push(
    () => feederDelete(node.url, torchId),
    () => feederDelete(node.url, stubId),
  );
  await feederUpload(node.url, modelFile, torchId, '1mb', join(dir, 'upload.rss'));
  await feederUpload(node.url, await writeRandomFile(dir, reference.bytes), stubId, '1mb', join(dir, 'upload.rss'));
  return { torch, reference, modelFile, esUrl: node.url, dir, torchId, stubId };
}

/** A daemon of its own for one of the models, stopped by `cleanup`. */
export async function serveBench(
  bench: MiniLMBench,
  name: string,
  config: Record<string, unknown>,
  cleanup: Array<() => Promise<unknown>>,
): Promise<FeederServe> {
  const server = await startFeederServe({ esUrl: bench.esUrl, dir: bench.dir, name, config });
  cleanup.push(() => server.stop());
  return server;
}

/** Runs the cleanup steps in reverse, each failure said and passed over. */
export async function runCleanup(cleanup: Array<() => Promise<unknown>>): Promise<void> {
  for (const step of cleanup.reverse())
    await step().catch((error: unknown) => console.error(`bench: cleanup failed: ${(error as Error).message}`));
}
