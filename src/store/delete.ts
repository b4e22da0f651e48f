import { ModelStateError } from '../errors.js';
import type { Es } from '../es/es.js';
import type { Logger } from '../log/logger.js';
import { logEvent } from '../log/logger.js';
import { deleteGeneration } from './generations.js';
import { deleteMeta, requireMeta, updateMeta, type GenerationRef, type ModelMeta } from './meta.js';
import { validateModelId } from './model-id.js';

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
  const reason = await options.refuse?.(versioned.meta);
  if (reason) throw new ModelStateError(`model '${modelId}' cannot be deleted: ${reason}`);
  if (versioned.meta.state !== 'deleting') versioned = await updateMeta(es, versioned, { ...versioned.meta, state: 'deleting' }, signal);
  for (const ref of generationsOf(versioned.meta)) await deleteGeneration(es, modelId, ref, signal);
  await deleteMeta(es, versioned, signal);
  logEvent(logger, { action: 'model-delete', outcome: 'success', modelId, durationMs: performance.now() - started }, `model '${modelId}' deleted`);
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
