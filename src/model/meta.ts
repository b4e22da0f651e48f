import { ConcurrentModificationError, IntegrityError, ModelExistsError, ModelNotFoundError, ModelStateError } from '../errors.js';
import { abortable, type Es } from '../es/es.js';
import { DEFAULT_RETRY, isBusy, withRetry } from '../es/retry.js';
import { hasStatus } from '../es/translate.js';
import type { ChunkEncoding } from '../chunks/codec/index.js';
import type { NlpInfo } from './assets.js';
import { META_INDEX } from './layout.js';

export type ModelState = 'uploading' | 'ready' | 'deleting';

/** One upload's chunks: the generation number is part of every chunk id. */
export interface GenerationRef {
  generation: number;
  chunks_index: string;
}

export interface PendingGeneration extends GenerationRef {
  chunk_size: number;
  /** How its chunk documents are written; absent in meta documents older than encodings (base64). */
  encoding?: ChunkEncoding;
  started_at: string;
  source: SourceInfo;
  /** Written by an import: its tokenizer and task config come last, which only the import can write. */
  with_assets?: boolean;
}

export interface SourceInfo {
  name: string;
  size: number | null;
}

/** The meta document: `_id` = model id. Chunk fields describe the current generation. */
export interface ModelMeta extends GenerationRef {
  model_id: string;
  state: ModelState;
  chunk_size: number;
  chunk_count: number | null;
  total_length: number | null;
  sha256: string | null;
  /** How the current generation's chunk documents are written (see src/chunks/codec/). */
  encoding: ChunkEncoding;
  description?: string;
  tags?: string[];
  source: SourceInfo;
  created_at: string;
  updated_at: string;
  ready_at: string | null;
  /** A replacement being uploaded while the current generation stays usable. */
  pending: PendingGeneration | null;
  /** Generations replaced or abandoned whose chunks are still to be removed. */
  garbage: GenerationRef[];
  /** The unfinished current generation is an import's (see PendingGeneration): `upload --resume` cannot finish it. */
  with_assets?: boolean;
  /** The current generation's task, labels, tokenizer and their digests; absent for a bare tensor model. */
  nlp?: NlpInfo | null;
}

/** A meta document whose upload committed: its current generation's chunk count, length and digest are known. */
export interface ReadyMeta extends ModelMeta {
  state: 'ready';
  chunk_count: number;
  total_length: number;
  sha256: string;
}

/**
 * Where a meta document read for a deploy (or a read of its chunks) becomes a ReadyMeta: the model
 * is ready, and its figures are set and agree with its chunk size. A ready one without them was
 * damaged by another writer: no upload can mend it in place.
 */
export function requireReadyMeta(meta: ModelMeta): ReadyMeta {
  if (isReadyMeta(meta)) return meta;
  if (meta.state !== 'ready') throw notReadyError(meta);
  const { chunk_count: count, total_length: total, chunk_size: size, sha256 } = meta;
  throw new IntegrityError(
    `the meta document of model '${meta.model_id}' is inconsistent (chunk_count ${count}, chunk_size ${size}, total_length ${total}${sha256 === null ? ', sha256 null' : ''}); upload the model again with --replace`,
  );
}

function isReadyMeta(meta: ModelMeta): meta is ReadyMeta {
  const { chunk_count: count, total_length: total, chunk_size: size } = meta;
  if (meta.state !== 'ready' || count === null || total === null || meta.sha256 === null) return false;
  return count >= 1 && total > (count - 1) * size && total <= count * size;
}

function notReadyError(meta: ModelMeta): ModelStateError {
  const hint =
    meta.state === 'uploading'
      ? "its upload has not finished: run 'feeder upload --resume'"
      : `it is being deleted; run 'feeder models delete ${meta.model_id}' to finish the delete (a delete that was interrupted stays so until then)`;
  return new ModelStateError(`model '${meta.model_id}' cannot be deployed: ${hint}`);
}

/** A meta document with the version it was read at, for optimistic concurrency control. */
export interface VersionedMeta {
  meta: ModelMeta;
  seqNo: number;
  primaryTerm: number;
}

/**
 * The meta document, or null when there is none. A shard still starting (a new or restarted node,
 * an index being created by another upload) answers 503 for a moment: that is retried with backoff.
 */
export async function getMeta(es: Es, modelId: string, signal?: AbortSignal): Promise<VersionedMeta | null> {
  try {
    const read = () =>
      es.call(`reading model '${modelId}'`, (c) => c.get<ModelMeta>({ index: META_INDEX, id: modelId }, abortable(signal)));
    const doc = await withRetry(read, { ...DEFAULT_RETRY, retryOn: isBusy, signal });
    return { meta: doc._source!, seqNo: doc._seq_no!, primaryTerm: doc._primary_term! };
  } catch (error) {
    if (hasStatus(error, 404)) return null;
    throw error;
  }
}

export async function requireMeta(es: Es, modelId: string, signal?: AbortSignal): Promise<VersionedMeta> {
  const found = await getMeta(es, modelId, signal);
  if (!found) throw new ModelNotFoundError(`model '${modelId}' does not exist; 'feeder models list' shows the stored models`);
  return found;
}

/** Creates the meta document; exactly one of several concurrent creators of the same id wins. */
export async function createMeta(es: Es, meta: ModelMeta): Promise<VersionedMeta> {
  try {
    const result = await es.call(`creating model '${meta.model_id}'`, (c) =>
      c.index({ index: META_INDEX, id: meta.model_id, op_type: 'create', document: meta, refresh: true }),
    );
    return { meta, seqNo: result._seq_no!, primaryTerm: result._primary_term! };
  } catch (error) {
    if (hasStatus(error, 409)) {
      throw new ModelExistsError(
        `model '${meta.model_id}' already exists; pass --replace to overwrite it, or --resume to finish an interrupted upload`,
        {
          cause: error,
        },
      );
    }
    throw error;
  }
}

/** Writes `meta` only if nobody changed the document since `previous` was read. */
export async function updateMeta(es: Es, previous: VersionedMeta, meta: ModelMeta, signal?: AbortSignal): Promise<VersionedMeta> {
  const updated = { ...meta, updated_at: new Date().toISOString() };
  try {
    const result = await es.call(`updating model '${meta.model_id}'`, (c) =>
      c.index(
        {
          index: META_INDEX,
          id: meta.model_id,
          document: updated,
          if_seq_no: previous.seqNo,
          if_primary_term: previous.primaryTerm,
          refresh: true,
        },
        abortable(signal),
      ),
    );
    return { meta: updated, seqNo: result._seq_no!, primaryTerm: result._primary_term! };
  } catch (error) {
    if (hasStatus(error, 409)) throw concurrentChange(meta.model_id, error);
    throw error;
  }
}

export async function deleteMeta(es: Es, previous: VersionedMeta, signal?: AbortSignal): Promise<void> {
  const modelId = previous.meta.model_id;
  try {
    await es.call(`deleting model '${modelId}'`, (c) =>
      c.delete(
        { index: META_INDEX, id: modelId, if_seq_no: previous.seqNo, if_primary_term: previous.primaryTerm, refresh: true },
        abortable(signal),
      ),
    );
  } catch (error) {
    if (hasStatus(error, 409)) throw concurrentChange(modelId, error);
    if (!hasStatus(error, 404)) throw error;
  }
}

export async function listMetas(es: Es): Promise<ModelMeta[]> {
  const result = await es.call('listing models', (c) =>
    c.search<ModelMeta>({ index: META_INDEX, size: 10_000, sort: [{ model_id: 'asc' }], ignore_unavailable: true, allow_no_indices: true }),
  );
  return result.hits.hits.map((hit) => hit._source!);
}

function concurrentChange(modelId: string, cause: unknown): ConcurrentModificationError {
  return new ConcurrentModificationError(
    `model '${modelId}' was changed by another command at the same time; this one stopped without changing it further`,
    { cause },
  );
}
