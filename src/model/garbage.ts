import { ConcurrentModificationError } from '../errors.js';
import type { Es } from '../es/es.js';
import { logEvent, type Logger } from '../log/logger.js';
import { pinnedGenerations } from '../coordination/desired-deployments.js';
import { deleteGeneration } from './generations.js';
import { DEPLOYMENTS_INDEX } from './layout.js';
import { getMeta, updateMeta, type GenerationRef, type VersionedMeta } from './meta.js';

/**
 * Deletes the chunks of replaced or abandoned generations. One that a deployment is loading or
 * serving is pinned: deleting it would cut a running load short with a missing chunk, so it stays
 * listed in `garbage` until no deployment uses it. So does one whose delete failed. Whoever runs
 * next (an upload, a delete, a daemon that unpinned it, `undeploy --daemon`) tries again.
 */
export async function collectGarbage(es: Es, versioned: VersionedMeta, logger: Logger): Promise<VersionedMeta> {
  let current = versioned;
  // Several collect at once (an upload, the daemon, `undeploy --daemon`): one that loses the meta
  // document's conditional write reads it again and tries again; removing a removed generation is a no-op.
  for (let attempt = 1; ; attempt += 1) {
    const left = await removeUnpinned(es, current, logger);
    if (left.length === current.meta.garbage.length) return current;
    try {
      return await updateMeta(es, current, { ...current.meta, garbage: left });
    } catch (error) {
      if (!(error instanceof ConcurrentModificationError) || attempt === 3) throw error;
      const again = await getMeta(es, current.meta.model_id);
      if (!again) return current;
      current = again;
    }
  }
}

/** Removes the generations nothing pins; returns those left in `garbage`. */
async function removeUnpinned(es: Es, { meta }: VersionedMeta, logger: Logger): Promise<GenerationRef[]> {
  if (meta.garbage.length === 0) return [];
  const pinned = await pinnedGenerations(es, meta.model_id);
  const left: GenerationRef[] = [];
  for (const ref of meta.garbage) {
    if (pinned.has(ref.generation)) {
      logKept(logger, meta.model_id, ref);
      left.push(ref);
    } else if (!(await removeGeneration(es, meta.model_id, ref, logger))) {
      left.push(ref);
    }
  }
  return left;
}

/** The same, for a caller that holds only the model id; null when the model no longer exists. */
export async function collectModelGarbage(es: Es, modelId: string, logger: Logger): Promise<VersionedMeta | null> {
  const versioned = await getMeta(es, modelId);
  return versioned && collectGarbage(es, versioned, logger);
}

async function removeGeneration(es: Es, modelId: string, ref: GenerationRef, logger: Logger): Promise<boolean> {
  try {
    await deleteGeneration(es, modelId, ref);
    return true;
  } catch (error) {
    logger.warn(
      { err: error, feeder: { model_id: modelId, generation: ref.generation } },
      'could not remove an old generation; the next upload or delete will try again',
    );
    return false;
  }
}

function logKept(logger: Logger, modelId: string, ref: GenerationRef): void {
  logEvent(
    logger,
    { action: 'generation-kept', outcome: 'success', modelId, generation: ref.generation, index: ref.chunks_index },
    `kept generation ${ref.generation} of model '${modelId}': a deployment is loading or serving it (pinned in ${DEPLOYMENTS_INDEX}); its chunks are removed once no deployment uses it`,
  );
}
