import { createHash } from 'node:crypto';
import { CHUNK_SIZE_MAX } from '../config/config.js';
import { IntegrityError } from '../errors.js';
import type { Es } from '../es/es.js';
import { metaDisagreement, oddChunkProblems, totalsWarning, type ChunkAccount } from './chunk-account.js';
import { readChunkDocuments } from '../chunks/chunk-reader.js';
import { storedEncoding } from '../chunks/codec/index.js';
import { describeChunk, type ChunkAddress } from '../chunks/chunk-address.js';
import { chunkProblem, DAMAGED } from '../chunks/check-chunk.js';
import { readAssets } from '../model/assets.js';
import { storedChunks, type StoredChunkSummary } from '../model/generations.js';
import { requireMeta, type ModelMeta } from '../model/meta.js';
import { validateModelId } from '../model/model-id.js';
import { describeStrays, removeStrays, sortOutChunks, type SortedChunks, type Stray } from './strays.js';

export interface VerifyReport {
  modelId: string;
  ok: boolean;
  chunks: number;
  bytes: number;
  sha256: string | null;
  expectedSha256: string | null;
  /** Why the model is damaged: a deploy of it fails. */
  problems: string[];
  /** Not damage (a deploy works), but signs that something other than feeder has been at the model. */
  warnings: string[];
  strays: Stray[];
}

export interface VerifyOptions {
  prefetch: number;
  signal?: AbortSignal;
}

/**
 * Re-reads every chunk of a model and checks each against its own document (length, CRC32), then
 * against the other chunks, then all of them against the meta document (count, total, SHA-256), so
 * a damaged chunk is told from a meta document that is wrong. Documents of the generation that are
 * not its chunks are reported as strays.
 */
export async function verifyModel(es: Es, modelId: string, options: VerifyOptions): Promise<VerifyReport> {
  validateModelId(modelId);
  const { meta } = await requireMeta(es, modelId, options.signal);
  const report: VerifyReport = {
    modelId,
    ok: false,
    chunks: 0,
    bytes: 0,
    sha256: null,
    expectedSha256: meta.sha256,
    problems: [],
    warnings: [],
    strays: [],
  };
  if (meta.state !== 'ready') {
    report.problems.push(`the model is not ready (state ${meta.state}): its upload never finished`);
    return report;
  }
  try {
    storedEncoding(meta.model_id, meta.encoding);
  } catch (error) {
    report.problems.push((error as Error).message);
    return report;
  }
  const sorted = sortOutChunks(meta, await listStored(es, meta, options.signal));
  report.strays = sorted.strays;
  if (sorted.strays.length > 0) report.warnings.push(describeStrays(modelId, sorted.strays));
  if (sorted.count === 0) {
    report.problems.push(`no chunk of generation ${meta.generation} is stored in ${meta.chunks_index}; ${DAMAGED}`);
    return report;
  }
  const account = await readAccount(es, meta, sorted, options, report);
  if (report.problems.length === 0) judgeAccount(meta, sorted, account, report);
  await checkAssets(es, meta, report, options.signal);
  report.ok = report.problems.length === 0;
  return report;
}

/** The tokenizer and task config, against their digests in the meta document, as a deploy reads them. */
async function checkAssets(es: Es, meta: ModelMeta, report: VerifyReport, signal?: AbortSignal): Promise<void> {
  if (!meta.nlp) return;
  try {
    await readAssets(es, meta.model_id, meta.generation, meta.nlp, signal);
  } catch (error) {
    if (!(error instanceof IntegrityError)) throw error;
    report.problems.push(error.message);
  }
}

export type StrayRemoval = { removed: string[] } | { kept: string };

/** Strays are removed from an intact model only: in a damaged one, which documents are its own is not certain. */
export async function removeReportedStrays(es: Es, report: VerifyReport, signal?: AbortSignal): Promise<StrayRemoval> {
  if (report.strays.length === 0) return { removed: [] };
  if (!report.ok) return { kept: 'the model is damaged, so which documents belong to it is not certain' };
  return { removed: await removeStrays(es, report.strays, signal) };
}

async function listStored(es: Es, meta: ModelMeta, signal?: AbortSignal): Promise<StoredChunkSummary[]> {
  const stored: StoredChunkSummary[] = [];
  for await (const doc of storedChunks(es, meta.model_id, meta, signal)) stored.push(doc);
  return stored;
}

/** Reads the chunks in order, each judged on its own; what the good ones say is the account. */
async function readAccount(
  es: Es,
  meta: ModelMeta,
  sorted: SortedChunks,
  options: VerifyOptions,
  report: VerifyReport,
): Promise<ChunkAccount> {
  const addresses = Array.from({ length: sorted.count }, (_, docNum) => addressOf(meta, docNum, sorted.chunks.get(docNum)));
  const account: ChunkAccount = { lengths: [], totals: [], bytes: 0, sha256: '' };
  const hash = createHash('sha256');
  for await (const result of readChunkDocuments(es, addresses, options)) {
    if ('error' in result) {
      report.problems.push(result.error.message);
      continue;
    }
    const { doc, address } = result;
    const problem = chunkProblem(doc, address);
    if (problem !== null) {
      report.problems.push(problem);
      continue;
    }
    hash.update(doc.bytes);
    account.lengths.push(doc.length);
    account.totals.push(sorted.chunks.get(address.docNum)?.totalLength ?? null);
    account.bytes += doc.length;
  }
  account.sha256 = hash.digest('hex');
  Object.assign(report, { chunks: account.lengths.length, bytes: account.bytes, sha256: account.sha256 });
  return account;
}

/** Every chunk passed its own checks: now the chunks against each other, and against the meta document. */
function judgeAccount(meta: ModelMeta, sorted: SortedChunks, account: ChunkAccount, report: VerifyReport): void {
  const where = (docNum: number) => describeChunk(addressOf(meta, docNum, sorted.chunks.get(docNum)));
  const odd = oddChunkProblems(meta, account, where);
  report.problems.push(...odd);
  const disagreement = odd.length === 0 ? metaDisagreement(meta, account) : null;
  if (disagreement !== null) report.problems.push(disagreement);
  const totals = totalsWarning(account, odd.length > 0);
  if (totals !== null) report.warnings.push(totals);
}

/**
 * The length a chunk's own document gives sizes its buffer, so each chunk is judged on its own
 * terms, not the meta document's; capped, since a document another tool wrote may claim anything.
 */
function addressOf(meta: ModelMeta, docNum: number, stored: StoredChunkSummary | undefined): ChunkAddress {
  const listed = stored?.length;
  const expectedLength =
    listed !== undefined && Number.isSafeInteger(listed) && listed >= 0 ? Math.min(listed, CHUNK_SIZE_MAX) : meta.chunk_size;
  const encoding = storedEncoding(meta.model_id, meta.encoding);
  return { modelId: meta.model_id, generation: meta.generation, chunks_index: meta.chunks_index, docNum, expectedLength, encoding };
}
