import { createHash } from 'node:crypto';
import { CHUNK_SIZE_MAX, CHUNK_SIZE_MIN, type FeederConfig } from '../config/config.js';
import { formatBytes } from '../config/units.js';
import { InvalidArgumentError, IntegrityError, SourceError } from '../errors.js';
import type { Es } from '../es/es.js';
import { hasStatus } from '../es/translate.js';
import { logEvent, type Logger } from '../log/logger.js';
import { BufferPool } from '../chunks/buffer-pool.js';
import { checksumOf } from '../chunks/check-chunk.js';
import { codecFor, storedEncoding, type ChunkEncoding } from '../chunks/codec/index.js';
import { writeAssets, type ModelAssets, type NlpInfo } from '../model/assets.js';
import { deleteByIds, refresh, storedChunks, type StoredChunkSummary } from '../model/generations.js';
import { chunkDocId, isOwnChunksIndex } from '../model/layout.js';
import type { ModelMeta } from '../model/meta.js';
import { validateModelId } from '../model/model-id.js';
import { installTemplates } from '../model/templates.js';
import { BulkWriter } from './bulk-writer.js';
import { DocWriter } from './doc-writer.js';
import { cutIntoChunks, type ChunkToWrite } from './chunker.js';
import { commitUpload, type UploadResult } from './commit.js';
import { planUpload, type UploadPlan } from './plan.js';
import { openSource, sourceError, type ModelSource } from './source.js';

export interface UploadOptions {
  modelId: string;
  /** A file path, or `-` for stdin. */
  path: string;
  replace?: boolean;
  resume?: boolean;
  description?: string;
  tags?: string[];
  /** `--encoding`: overrides `upload.encoding`; a resume in another encoding than it started with is refused. */
  encoding?: ChunkEncoding;
  signal?: AbortSignal;
  /** Source bytes known to be stored so far, and the total when known. */
  onProgress?: (done: number, total: number | null) => void;
  stdin?: NodeJS.ReadStream;
  /** A tokenizer and task config stored with the generation, written before it is committed. */
  assets?: { files: ModelAssets; summary: Omit<NlpInfo, 'assets'> };
  /** Told which generation this upload writes, once the meta document records it: what a failed import removes. */
  onPlanned?: (plan: UploadPlan) => void;
}

export interface UploadContext {
  es: Es;
  config: FeederConfig;
  logger: Logger;
}

/** `feeder upload`: file → chunks → CBOR or base64 documents → Elasticsearch, the meta document marked ready last. */
export async function uploadModel(ctx: UploadContext, options: UploadOptions): Promise<ModelMeta> {
  const modelId = validateModelId(options.modelId);
  const chunkSize = validateChunkSize(ctx.config.upload.chunkSize);
  if (options.replace && options.resume) throw new InvalidArgumentError('--replace and --resume cannot be used together');
  const source = await openSource(options.path, options.stdin);
  const started = performance.now();
  await installTemplates(ctx.es);
  const plan = await planUpload(ctx.es, {
    modelId,
    source: { name: source.name, size: source.size },
    chunkSize,
    replace: options.replace ?? false,
    resume: options.resume ?? false,
    dedicatedIndexThreshold: ctx.config.upload.dedicatedIndexThreshold,
    encoding: options.encoding ?? ctx.config.upload.encoding,
    encodingExplicit: options.encoding !== undefined,
    withAssets: options.assets !== undefined,
    ...(options.description !== undefined ? { description: options.description } : {}),
    ...(options.tags !== undefined ? { tags: options.tags } : {}),
  });
  options.onPlanned?.(plan);
  logEvent(
    ctx.logger,
    {
      action: 'upload-start',
      outcome: 'success',
      modelId,
      generation: plan.target.generation,
      index: plan.target.chunks_index,
      encoding: plan.target.encoding,
      resuming: plan.resuming,
    },
    `uploading model '${modelId}' into ${plan.target.chunks_index} as ${plan.target.encoding} documents`,
  );
  try {
    const result = await writeChunks(ctx, plan, source, options);
    if (options.assets) {
      const digests = await writeAssets(ctx.es, modelId, plan.target.generation, options.assets.files);
      result.nlp = { ...options.assets.summary, assets: digests };
    }
    const committed = await commitUpload(ctx.es, plan, result, ctx.logger);
    logEvent(
      ctx.logger,
      {
        action: 'upload',
        outcome: 'success',
        modelId,
        bytes: result.totalLength,
        chunks: result.chunkCount,
        chunks_sent: result.chunksSent,
        durationMs: performance.now() - started,
      },
      `model '${modelId}' is ready: ${formatBytes(result.totalLength)} in ${result.chunkCount} chunks`,
    );
    return committed.meta;
  } catch (error) {
    logEvent(
      ctx.logger,
      { action: 'upload', outcome: 'failure', modelId, durationMs: performance.now() - started, error: (error as Error).message },
      `upload of model '${modelId}' failed; it stays unfinished: 'feeder upload --resume' finishes it, 'feeder models delete' removes it`,
    );
    throw error;
  }
}

export function validateChunkSize(chunkSize: number): number {
  if (chunkSize < CHUNK_SIZE_MIN || chunkSize > CHUNK_SIZE_MAX) {
    // A base64 chunk of 64 MiB is 85.3 MiB, just under Elasticsearch's default http.max_content_length of 100mb.
    throw new InvalidArgumentError(
      `--chunk-size must be between ${formatBytes(CHUNK_SIZE_MIN)} and ${formatBytes(CHUNK_SIZE_MAX)}; got ${formatBytes(chunkSize)} (${chunkSize} bytes)`,
    );
  }
  return chunkSize;
}

async function writeChunks(ctx: UploadContext, plan: UploadPlan, source: ModelSource, options: UploadOptions): Promise<UploadResult> {
  const { target } = plan;
  const modelId = plan.versioned.meta.model_id;
  await ensureChunksIndex(ctx.es, modelId, target);
  const stored = plan.resuming ? await storedSummaries(ctx.es, modelId, target) : new Map<number, StoredChunkSummary>();
  let done = 0;
  const progress = (bytes: number) => options.onProgress?.((done += bytes), source.size);
  const codec = codecFor(storedEncoding(modelId, target.encoding));
  const { upload } = ctx.config;
  // Chunks (the one being read, the one held back, the one being encoded) and the documents in flight are recycled.
  const chunkPool = new BufferPool(3);
  const docsInFlight =
    codec.encoding === 'cbor'
      ? upload.documentConcurrency
      : upload.concurrency * Math.ceil(upload.bulkBytes / codec.maxDocumentSize(target.chunk_size));
  const docPool = new BufferPool(docsInFlight + 2);
  const common = { pool: docPool, index: target.chunks_index, onIndexed: progress, ...(options.signal ? { signal: options.signal } : {}) };
  // `_bulk` takes JSON bodies only: CBOR documents go one request each.
  const writer =
    codec.encoding === 'cbor'
      ? new DocWriter(ctx.es, {
          ...common,
          codec,
          concurrency: upload.documentConcurrency,
          // As much as base64's bulk bodies may have in flight.
          maxBytesInFlight: 2 * upload.concurrency * upload.bulkBytes,
        })
      : new BulkWriter(ctx.es, { ...common, bulkBytes: upload.bulkBytes, concurrency: upload.concurrency });
  const hash = createHash('sha256');
  let totalLength = 0;
  let chunkCount = 0;
  let chunksSent = 0;
  // Small reads: each read allocates its own buffer, which dies young.
  const readSize = Math.min(target.chunk_size, 1024 * 1024);
  for await (const chunk of readChecked(source, readSize, target.chunk_size, chunkPool)) {
    options.signal?.throwIfAborted();
    hash.update(chunk.bytes);
    totalLength += chunk.bytes.length;
    chunkCount += 1;
    const crc = checksumOf(chunk.bytes);
    if (isAlreadyStored(stored.get(chunk.docNum), chunk, crc)) {
      progress(chunk.bytes.length);
      chunkPool.give(chunk.bytes);
      continue;
    }
    chunksSent += 1;
    const doc = codec.encode(
      { modelId, generation: target.generation, docNum: chunk.docNum, bytes: chunk.bytes, last: chunk.last, totalLength: source.size, crc },
      docPool,
    );
    chunkPool.give(chunk.bytes);
    await writer.add(chunkDocId(modelId, target.generation, chunk.docNum), doc, chunk.bytes.length);
  }
  await writer.flush();
  if (chunkCount === 0) throw new SourceError('the model stream on stdin was empty');
  await dropChunksBeyond(ctx.es, target.chunks_index, stored, chunkCount);
  await checkStoredCount(ctx.es, modelId, target, chunkCount);
  return { chunkCount, chunksSent, totalLength, sha256: hash.digest('hex') };
}

async function* readChecked(source: ModelSource, readSize: number, chunkSize: number, pool: BufferPool): AsyncGenerator<ChunkToWrite> {
  try {
    yield* cutIntoChunks(source.open(readSize), chunkSize, pool);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code && !(error instanceof IntegrityError)) throw sourceError(source.name, error as NodeJS.ErrnoException);
    throw error;
  }
}

function isAlreadyStored(stored: StoredChunkSummary | undefined, chunk: ChunkToWrite, crc: number): boolean {
  return stored !== undefined && stored.crc32 === crc && stored.length === chunk.bytes.length && stored.eos === chunk.last;
}

async function ensureChunksIndex(es: Es, modelId: string, target: UploadPlan['target']): Promise<void> {
  const index = target.chunks_index;
  if (!isOwnChunksIndex(index, modelId, target.generation)) return;
  try {
    await es.call(`creating index ${index}`, (c) => c.indices.create({ index }));
  } catch (error) {
    if (!(hasStatus(error, 400) && error.type === 'resource_already_exists_exception')) throw error;
  }
}

async function storedSummaries(es: Es, modelId: string, target: UploadPlan['target']): Promise<Map<number, StoredChunkSummary>> {
  const stored = new Map<number, StoredChunkSummary>();
  for await (const chunk of storedChunks(es, modelId, target)) stored.set(chunk.docNum, chunk);
  return stored;
}

/** A resumed upload of a shorter file must not leave the old tail behind. */
async function dropChunksBeyond(es: Es, index: string, stored: Map<number, StoredChunkSummary>, chunkCount: number): Promise<void> {
  const stale = [...stored.values()].filter((c) => c.docNum >= chunkCount).map((c) => c.id);
  if (stale.length > 0) await deleteByIds(es, index, stale);
}

/** The meta document is marked ready only when every chunk is searchable where it belongs. */
async function checkStoredCount(es: Es, modelId: string, target: UploadPlan['target'], chunkCount: number): Promise<void> {
  await refresh(es, target.chunks_index);
  const { count } = await es.call(`counting the chunks of model '${modelId}'`, (c) =>
    c.count({
      index: target.chunks_index,
      query: { bool: { filter: [{ term: { model_id: modelId } }, { term: { generation: target.generation } }] } },
    }),
  );
  if (count !== chunkCount) {
    throw new IntegrityError(
      `model '${modelId}': ${chunkCount} chunks were sent but ${count} are stored; run the upload again with --resume`,
    );
  }
}
