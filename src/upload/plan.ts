import { InvalidArgumentError, ModelExistsError, ModelNotFoundError, ModelStateError } from '../errors.js';
import { storedEncoding, type ChunkEncoding } from '../chunks/codec/index.js';
import type { Es } from '../es/es.js';
import { dedicatedChunksIndex, SHARED_CHUNKS_INDEX } from '../model/layout.js';
import {
  createMeta,
  getMeta,
  updateMeta,
  type ModelMeta,
  type PendingGeneration,
  type SourceInfo,
  type VersionedMeta,
} from '../model/meta.js';

export interface PlanRequest {
  modelId: string;
  source: SourceInfo;
  chunkSize: number;
  replace: boolean;
  resume: boolean;
  dedicatedIndexThreshold: number;
  encoding: ChunkEncoding;
  /** Whether the encoding was asked for (`--encoding`), not a default: a resume in another one is then refused. */
  encodingExplicit?: boolean;
  /** An import, which writes a tokenizer and task config after the chunks. */
  withAssets?: boolean;
  description?: string;
  tags?: string[];
}

/** The generation an upload writes, already recorded in the meta document. */
export interface UploadPlan {
  versioned: VersionedMeta;
  target: PendingGeneration;
  /** Whether the target generation is a replacement (`pending`) beside a ready one. */
  isReplacement: boolean;
  resuming: boolean;
}

/**
 * Records in the meta document which generation this upload writes, before any chunk is written,
 * so that an interrupted upload can be resumed or cleaned up and never mixes with another.
 */
export async function planUpload(es: Es, request: PlanRequest): Promise<UploadPlan> {
  const existing = await getMeta(es, request.modelId);
  if (!existing) {
    if (request.resume) throw new ModelNotFoundError(`nothing to resume: model '${request.modelId}' does not exist`);
    return planFirstUpload(es, request);
  }
  const { meta } = existing;
  if (meta.state === 'deleting') {
    throw new ModelStateError(
      `model '${meta.model_id}' is being deleted; run 'feeder models delete ${meta.model_id}' to finish, then upload again`,
    );
  }
  if (request.resume) return planResume(existing, request);
  if (request.replace) return planReplacement(es, existing, request);
  throw existsError(meta);
}

async function planFirstUpload(es: Es, request: PlanRequest): Promise<UploadPlan> {
  const now = new Date().toISOString();
  const target = newGeneration(request, 1, now);
  const meta: ModelMeta = {
    model_id: request.modelId,
    state: 'uploading',
    generation: target.generation,
    chunks_index: target.chunks_index,
    chunk_size: target.chunk_size,
    chunk_count: null,
    total_length: null,
    sha256: null,
    encoding: target.encoding!,
    source: request.source,
    created_at: now,
    updated_at: now,
    ready_at: null,
    pending: null,
    garbage: [],
    ...(target.with_assets ? { with_assets: true } : {}),
    ...(request.description !== undefined ? { description: request.description } : {}),
    ...(request.tags !== undefined ? { tags: request.tags } : {}),
  };
  return { versioned: await createMeta(es, meta), target, isReplacement: false, resuming: false };
}

/** A resume goes on in the encoding the generation was started in: one generation never mixes two. */
function planResume(existing: VersionedMeta, request: PlanRequest): UploadPlan {
  const { meta } = existing;
  const unfinished = meta.pending ?? (meta.state === 'uploading' ? meta : null);
  if (unfinished?.with_assets && !request.withAssets) throw importResumeError(meta.model_id);
  if (meta.pending) {
    const target = { ...meta.pending, encoding: resumedEncoding(meta.model_id, meta.pending.encoding, request) };
    return { versioned: existing, target, isReplacement: true, resuming: true };
  }
  if (meta.state === 'uploading') {
    const target: PendingGeneration = {
      generation: meta.generation,
      chunks_index: meta.chunks_index,
      chunk_size: meta.chunk_size,
      encoding: resumedEncoding(meta.model_id, meta.encoding, request),
      started_at: meta.created_at,
      source: meta.source,
      ...(meta.with_assets ? { with_assets: true } : {}),
    };
    return { versioned: existing, target, isReplacement: false, resuming: true };
  }
  throw new ModelStateError(
    `model '${meta.model_id}' is complete (state ${meta.state}); there is nothing to resume. Use --replace to upload a new version`,
  );
}

/** A resume would commit the chunks without the tokenizer and task config: a model that looks complete but cannot serve text. */
function importResumeError(modelId: string): ModelStateError {
  return new ModelStateError(
    `the unfinished upload of model '${modelId}' is an import, whose tokenizer and task config 'feeder upload --resume' cannot write; run 'feeder import' (or 'feeder upload --task --tokenizer') again with --replace, or 'feeder models delete ${modelId}'`,
  );
}

function resumedEncoding(modelId: string, stored: unknown, request: PlanRequest): ChunkEncoding {
  const encoding = storedEncoding(modelId, stored);
  if (request.encodingExplicit && request.encoding !== encoding) {
    throw new InvalidArgumentError(
      `the unfinished upload of model '${modelId}' was started with --encoding ${encoding}; resume it with --encoding ${encoding} (or without --encoding), or start over with --replace --encoding ${request.encoding}`,
    );
  }
  return encoding;
}

async function planReplacement(es: Es, existing: VersionedMeta, request: PlanRequest): Promise<UploadPlan> {
  const { meta } = existing;
  const target = newGeneration(request, nextGenerationNumber(meta), new Date().toISOString());
  const garbage = [...meta.garbage];
  if (meta.pending) garbage.push(refOf(meta.pending));
  let updated: ModelMeta;
  if (meta.state === 'ready') {
    // The ready generation stays usable until the replacement is complete.
    updated = { ...meta, pending: target, garbage };
  } else {
    // An unfinished first upload has nothing worth keeping: the new generation takes its place.
    garbage.push(refOf(meta));
    updated = {
      ...meta,
      generation: target.generation,
      chunks_index: target.chunks_index,
      chunk_size: target.chunk_size,
      encoding: target.encoding!,
      source: target.source,
      pending: null,
      garbage,
    };
    if (target.with_assets) updated.with_assets = true;
    else delete updated.with_assets;
  }
  const versioned = await updateMeta(es, existing, updated);
  return { versioned, target, isReplacement: meta.state === 'ready', resuming: false };
}

function newGeneration(request: PlanRequest, generation: number, now: string): PendingGeneration {
  const size = request.source.size;
  // The size of stdin is unknown until the end, so it gets its own index: deleting it stays cheap however large it is.
  const dedicated = size === null || size > request.dedicatedIndexThreshold;
  return {
    generation,
    chunks_index: dedicated ? dedicatedChunksIndex(request.modelId, generation) : SHARED_CHUNKS_INDEX,
    chunk_size: request.chunkSize,
    encoding: request.encoding,
    started_at: now,
    source: request.source,
    ...(request.withAssets ? { with_assets: true } : {}),
  };
}

function nextGenerationNumber(meta: ModelMeta): number {
  const known = [meta.generation, meta.pending?.generation ?? 0, ...meta.garbage.map((g) => g.generation)];
  return Math.max(...known) + 1;
}

export function refOf(ref: { generation: number; chunks_index: string }): { generation: number; chunks_index: string } {
  return { generation: ref.generation, chunks_index: ref.chunks_index };
}

function existsError(meta: ModelMeta): ModelExistsError {
  if (meta.state === 'uploading') {
    return new ModelExistsError(
      `model '${meta.model_id}' already exists as an unfinished upload; pass --resume to finish it, --replace to start over, or delete it`,
    );
  }
  return new ModelExistsError(`model '${meta.model_id}' already exists; pass --replace to overwrite it or choose another model id`);
}
