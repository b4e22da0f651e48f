import type { Es } from '../es/es.js';
import { deleteByIds, type StoredChunkSummary } from '../model/generations.js';
import { chunkDocId } from '../model/layout.js';
import type { ModelMeta } from '../model/meta.js';

/**
 * A document of the model's generation that is not one of its chunks: beyond the last chunk, or
 * under an id no chunk has. Feeder never writes one, and no deploy reads one (chunks are read by
 * id): it means another writer has touched the model.
 */
export interface Stray {
  id: string;
  index: string;
  doc_num: number | null;
  reason: string;
}

/** The stored documents of the current generation, sorted into the model's chunks and strays. */
export interface SortedChunks {
  /** How many chunks the model has, as its last chunk (and the meta document) tell. */
  count: number;
  chunks: Map<number, StoredChunkSummary>;
  strays: Stray[];
}

export function sortOutChunks(meta: ModelMeta, stored: readonly StoredChunkSummary[]): SortedChunks {
  const chunks = new Map<number, StoredChunkSummary>();
  const strays: Stray[] = [];
  const stray = (doc: StoredChunkSummary, reason: string) =>
    strays.push({ id: doc.id, index: meta.chunks_index, doc_num: Number.isSafeInteger(doc.docNum) ? doc.docNum : null, reason });
  for (const doc of stored) {
    if (!Number.isSafeInteger(doc.docNum) || doc.docNum < 0) stray(doc, 'no usable doc_num');
    else if (doc.id !== chunkDocId(meta.model_id, meta.generation, doc.docNum)) {
      stray(doc, `not the id of chunk ${doc.docNum}, which is '${chunkDocId(meta.model_id, meta.generation, doc.docNum)}'`);
    } else chunks.set(doc.docNum, doc);
  }
  const count = chunkCountOf(meta, chunks);
  for (const [docNum, doc] of chunks) {
    if (docNum < count) continue;
    stray(doc, `beyond the last chunk, ${count - 1}`);
    chunks.delete(docNum);
  }
  return { count, chunks, strays };
}

/**
 * Where the model ends. The meta document's count when its last chunk carries `eos`; otherwise the
 * one chunk that carries it (the meta document may be what is wrong); otherwise the meta document.
 */
function chunkCountOf(meta: ModelMeta, chunks: Map<number, StoredChunkSummary>): number {
  const recorded = meta.chunk_count !== null && Number.isSafeInteger(meta.chunk_count) && meta.chunk_count > 0 ? meta.chunk_count : null;
  if (recorded !== null && chunks.get(recorded - 1)?.eos === true) return recorded;
  const ends = [...chunks.values()].filter((doc) => doc.eos === true);
  if (ends.length === 1) return ends[0]!.docNum + 1;
  return recorded ?? (chunks.size === 0 ? 0 : Math.max(...chunks.keys()) + 1);
}

/** One warning for all of them: the ids (the first 20 of many), and the way to remove them. */
export function describeStrays(modelId: string, strays: readonly Stray[]): string {
  const shown = strays.slice(0, 20).map((s) => `'${s.id}' (${s.doc_num === null ? '' : `doc_num ${s.doc_num}, `}${s.reason})`);
  if (strays.length > shown.length) shown.push(`and ${strays.length - shown.length} more (--json lists them all)`);
  const many = strays.length === 1 ? 'document' : 'documents';
  return (
    `${strays.length} stray chunk ${many} in ${strays[0]!.index}, not part of the model: ${shown.join(', ')}; another tool has written to this model. ` +
    `The model does not read them; remove them with 'feeder models verify ${modelId} --remove-strays'`
  );
}

/** Deletes exactly these documents, by id (never by query), and returns their ids. */
export async function removeStrays(es: Es, strays: readonly Stray[], signal?: AbortSignal): Promise<string[]> {
  const removed: string[] = [];
  for (const index of new Set(strays.map((s) => s.index))) {
    const ids = strays.filter((s) => s.index === index).map((s) => s.id);
    for (let at = 0; at < ids.length; at += 1000) await deleteByIds(es, index, ids.slice(at, at + 1000), signal);
    removed.push(...ids);
  }
  return removed;
}
