import { ConcurrentModificationError } from '../errors.js';
import type { Es } from '../es/es.js';
import type { Logger } from '../log/logger.js';
import type { NlpInfo } from '../model/assets.js';
import { collectGarbage } from '../model/garbage.js';
import { updateMeta, type ModelMeta, type VersionedMeta } from '../model/meta.js';
import { dropIfAbandoned } from './abandon.js';
import type { UploadPlan } from './plan.js';
import { refOf } from './plan.js';

export interface UploadResult {
  chunkCount: number;
  /** Chunks sent in this run; a resumed upload skips those already stored intact. */
  chunksSent: number;
  totalLength: number;
  sha256: string;
  /** The tokenizer and task config stored with this generation; a generation without them has none. */
  nlp?: NlpInfo;
}

/** Makes the uploaded generation the model's current one, in one conditional write, then tidies up. */
export async function commitUpload(es: Es, plan: UploadPlan, result: UploadResult, logger: Logger): Promise<VersionedMeta> {
  const { meta } = plan.versioned;
  const now = new Date().toISOString();
  const garbage = plan.isReplacement ? [...meta.garbage, refOf(meta)] : meta.garbage;
  const ready: ModelMeta = {
    ...meta,
    state: 'ready',
    generation: plan.target.generation,
    chunks_index: plan.target.chunks_index,
    chunk_size: plan.target.chunk_size,
    encoding: plan.target.encoding ?? 'base64',
    source: plan.target.source,
    chunk_count: result.chunkCount,
    total_length: result.totalLength,
    sha256: result.sha256,
    ready_at: now,
    pending: null,
    garbage,
  };
  // A replacement brings its own tokenizer and task config, or none: never the replaced one's.
  if (result.nlp) ready.nlp = result.nlp;
  else delete ready.nlp;
  delete ready.with_assets;
  let committed: VersionedMeta;
  try {
    committed = await updateMeta(es, plan.versioned, ready);
  } catch (error) {
    if (error instanceof ConcurrentModificationError) await dropIfAbandoned(es, plan, logger);
    throw error;
  }
  // The upload is done once committed: tidying up after it may fail, or lose to another collector, and
  // leaves what it could not remove listed for the next one.
  return collectGarbage(es, committed, logger).catch((error: unknown) => {
    logger.warn(
      { err: error, feeder: { model_id: meta.model_id } },
      `model '${meta.model_id}' is ready; its replaced generations are removed later`,
    );
    return committed;
  });
}
