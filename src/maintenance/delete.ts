import { ModelStateError } from '../errors.js';
import type { Es } from '../es/es.js';
import type { Logger } from '../log/logger.js';
import { logEvent } from '../log/logger.js';
import { deleteGeneration } from '../model/generations.js';
import {
  deleteMeta,
  requireMeta,
  updateMeta,
  type GenerationRef,
  type ModelMeta,
  type ModelState,
  type VersionedMeta,
} from '../model/meta.js';
import { validateModelId } from '../model/model-id.js';

export interface DeleteOptions {
  /** Refuses the delete when it returns a reason (the daemon: "the model is deployed"). */
  refuse?: (meta: ModelMeta) => Promise<string | null>;
  /** Cancels the request in flight (Ctrl-C); running the delete again finishes what it started. */
  signal?: AbortSignal;
}

/**
 * Deletes a model and every chunk of every generation it ever had. The meta document is marked
 * `deleting` first, so nothing can deploy or resume it meanwhile, and removed last, so an interrupted
 * delete is finished by running it again.
 */
export async function deleteModel(es: Es, modelId: string, logger: Logger, options: DeleteOptions = {}): Promise<void> {
  validateModelId(modelId);
  const started = performance.now();
  const { signal } = options;
  let versioned = await requireMeta(es, modelId, signal);
  const stateBefore = versioned.meta.state;
  if (stateBefore !== 'deleting') versioned = await updateMeta(es, versioned, { ...versioned.meta, state: 'deleting' }, signal);
  // The mark is written before the check, as a deploy writes its desired-state document before it
  // reads the meta document: of a delete and a deploy at the same moment, one sees the other.
  const reason = await options.refuse?.(versioned.meta);
  if (reason) throw await refusal(es, versioned, stateBefore, reason, signal);
  for (const ref of generationsOf(versioned.meta)) await deleteGeneration(es, modelId, ref, signal);
  await deleteMeta(es, versioned, signal);
  logEvent(
    logger,
    { action: 'model-delete', outcome: 'success', modelId, durationMs: performance.now() - started },
    `model '${modelId}' deleted`,
  );
}

/** Takes the mark back, so that the refused delete leaves the model as it was. */
async function refusal(
  es: Es,
  marked: VersionedMeta,
  stateBefore: ModelState,
  reason: string,
  signal: AbortSignal | undefined,
): Promise<ModelStateError> {
  const modelId = marked.meta.model_id;
  if (stateBefore === 'deleting') return new ModelStateError(`model '${modelId}' cannot be deleted: ${reason}`);
  try {
    await updateMeta(es, marked, { ...marked.meta, state: stateBefore }, signal);
    return new ModelStateError(`model '${modelId}' cannot be deleted: ${reason}`);
  } catch (error) {
    return new ModelStateError(
      `model '${modelId}' cannot be deleted: ${reason}; it stays marked 'deleting' (${(error as Error).message}), so run 'feeder models delete ${modelId}' again once that is done`,
      { cause: error },
    );
  }
}

function generationsOf(meta: ModelMeta): GenerationRef[] {
  const refs: GenerationRef[] = [meta, ...meta.garbage, ...(meta.pending ? [meta.pending] : [])];
  const seen = new Set<string>();
  return refs.filter((ref) => {
    const key = `${ref.chunks_index}/${ref.generation}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
