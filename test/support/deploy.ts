import type { FeederConfig } from '../../src/config/config.js';
import { feedModel, type FeedOptions } from '../../src/feed/feed-model.js';
import type { ChunkEncoding } from '../../src/chunks/codec/index.js';
import { uploadModel } from '../../src/upload/upload.js';
import { captureLogger, newEs, randomModelFile, testConfig, uniqueId } from './es.js';

/**
 * A model of random bytes, uploaded. Base64 unless asked otherwise: the tests that damage chunks by
 * hand write JSON, which in a CBOR model is a mixed-encoding generation (test/feed/encodings.test.ts).
 */
export async function storedModel(
  size: number,
  chunkSize = 256 * 1024,
  encoding: ChunkEncoding = 'base64',
  esUrl?: string,
): Promise<{ modelId: string; bytes: Buffer }> {
  const { path, bytes } = await randomModelFile(size);
  const modelId = uniqueId('deploy');
  const { logger } = captureLogger();
  const config = testConfig((c) => {
    c.upload.chunkSize = chunkSize;
    if (esUrl) c.elasticsearch.url = esUrl;
  });
  await uploadModel({ es: newEs(esUrl), config, logger }, { modelId, path, encoding });
  return { modelId, bytes };
}

/** Runs the deploy pipeline with the given stub flags; returns the outcome and the log lines. */
export async function deploy(options: FeedOptions, change: (config: FeederConfig) => void = () => {}, esUrl?: string) {
  const { logger, lines } = captureLogger();
  const config = testConfig(change);
  const ctx = { es: newEs(esUrl), config, logger };
  const outcome = await feedModel(ctx, options).then(
    (result) => ({ result, error: null }),
    (error: Error) => ({ result: null, error }),
  );
  return { ...outcome, lines, pids: spawnedPids(lines), nativeMessages: nativeMessages(lines) };
}

export function spawnedPids(lines: Array<Record<string, unknown>>): number[] {
  return lines.filter((l) => (l.event as { action?: string })?.action === 'native-spawn').map((l) => (l.feeder as { pid: number }).pid);
}

export function nativeMessages(lines: Array<Record<string, unknown>>): string[] {
  return lines.filter((l) => (l.event as { action?: string })?.action === 'native-log').map((l) => String(l.msg));
}
