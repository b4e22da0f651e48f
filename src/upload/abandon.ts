import type { Es } from '../es/es.js';
import type { Logger } from '../log/logger.js';
import { deleteModel } from '../maintenance/delete.js';
import { collectGarbage } from '../model/garbage.js';
import { deleteGeneration } from '../model/generations.js';
import { getMeta, updateMeta, type ModelMeta } from '../model/meta.js';
import { refOf, type UploadPlan } from './plan.js';

/**
 * Removes what one failed upload wrote, and nothing another writer wrote meanwhile: the model is
 * deleted only while its meta document still names this upload's unfinished generation as its own;
 * a replacement beside a ready model goes to `garbage`, the ready one serving on; a generation that
 * another writer already set aside is theirs to collect.
 */
export async function abandonUpload(es: Es, plan: UploadPlan, logger: Logger): Promise<void> {
  const modelId = plan.versioned.meta.model_id;
  const gen = plan.target.generation;
  const now = await getMeta(es, modelId);
  if (!now) return;
  if (now.meta.pending?.generation === gen) {
    const dropped = await updateMeta(es, now, { ...now.meta, pending: null, garbage: [...now.meta.garbage, refOf(now.meta.pending)] });
    await collectGarbage(es, dropped, logger);
    return;
  }
  if (isOwnUnfinished(now.meta, gen)) {
    // Conditional on the document read while marking it deleted: a writer that took the model since is left alone.
    const refuse = async (marked: ModelMeta) => (isOwnUnfinished(marked, gen) ? null : 'another upload took it over');
    await deleteModel(es, modelId, logger, { refuse });
    return;
  }
  await dropIfUnreferenced(es, plan, now.meta, logger);
}

const isOwnUnfinished = (meta: ModelMeta, gen: number) => meta.generation === gen && meta.pending === null && meta.state !== 'ready';

/** Someone else changed the model while this upload ran: if nothing refers to our chunks, remove them. */
export async function dropIfAbandoned(es: Es, plan: UploadPlan, logger: Logger): Promise<void> {
  const now = await getMeta(es, plan.versioned.meta.model_id);
  await dropIfUnreferenced(es, plan, now?.meta ?? null, logger);
}

/** Removes this upload's chunks unless `meta` (the model as read now; null: gone) still refers to them. */
async function dropIfUnreferenced(es: Es, plan: UploadPlan, meta: ModelMeta | null, logger: Logger): Promise<void> {
  const gen = plan.target.generation;
  const referenced =
    meta && (meta.generation === gen || meta.pending?.generation === gen || meta.garbage.some((g) => g.generation === gen));
  if (referenced) return;
  await deleteGeneration(es, plan.versioned.meta.model_id, plan.target).catch((error: unknown) =>
    logger.warn({ err: error }, 'could not remove the chunks of an abandoned upload'),
  );
}
