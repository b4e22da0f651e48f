import { createHash } from 'node:crypto';
import type { Es } from '../es/es.js';
import { readChunkResults } from './chunk-reader.js';
import { requireMeta } from './meta.js';
import { validateModelId } from './model-id.js';

export interface VerifyReport {
  modelId: string;
  ok: boolean;
  chunks: number;
  bytes: number;
  sha256: string | null;
  expectedSha256: string | null;
  problems: string[];
}

/** Re-reads every chunk of a model and checks count, lengths, checksums and the whole-file SHA-256. */
export async function verifyModel(es: Es, modelId: string, options: { prefetch: number; signal?: AbortSignal }): Promise<VerifyReport> {
  validateModelId(modelId);
  const { meta } = await requireMeta(es, modelId, options.signal);
  const report: VerifyReport = { modelId, ok: false, chunks: 0, bytes: 0, sha256: null, expectedSha256: meta.sha256, problems: [] };
  if (meta.state !== 'ready') {
    report.problems.push(`the model is not ready (state ${meta.state}): its upload never finished`);
    return report;
  }
  const hash = createHash('sha256');
  try {
    for await (const result of readChunkResults(es, meta, options)) {
      if ('error' in result) {
        report.problems.push(result.error.message);
        continue;
      }
      hash.update(result.bytes);
      report.chunks += 1;
      report.bytes += result.bytes.length;
    }
  } catch (error) {
    report.problems.push((error as Error).message);
    return report;
  }
  report.sha256 = hash.digest('hex');
  if (report.problems.length === 0 && report.sha256 !== meta.sha256) {
    report.problems.push(`the chunks' SHA-256 ${report.sha256} differs from the recorded ${meta.sha256}`);
  }
  report.ok = report.problems.length === 0;
  return report;
}
