import { ElasticsearchError } from '../errors.js';
import { abortable, type Es } from '../es/es.js';
import { hasStatus } from '../es/translate.js';
import { deleteAssets } from './assets.js';
import { isOwnChunksIndex } from './layout.js';
import type { GenerationRef } from './meta.js';

export interface StoredChunkSummary {
  docNum: number;
  id: string;
  crc32: number;
  length: number;
  /** `total_definition_length`: the model's size as the upload knew it (null from stdin). */
  totalLength: number | null;
  eos: boolean;
}

const PAGE = 5000;

/**
 * Every chunk document of one generation that is actually stored, found by a search on its
 * `model_id` and `generation` (the meta document may not know how many an interrupted upload wrote).
 */
export async function* storedChunks(es: Es, modelId: string, ref: GenerationRef, signal?: AbortSignal): AsyncGenerator<StoredChunkSummary> {
  await refresh(es, ref.chunks_index, signal);
  let after: number[] | undefined;
  for (;;) {
    const page = await es.call(`listing the chunks of model '${modelId}'`, (c) =>
      c.search<{ doc_num: number; crc32: number; definition_length: number; total_definition_length?: number; eos: boolean }>(
        {
          index: ref.chunks_index,
          size: PAGE,
          query: { bool: { filter: [{ term: { model_id: modelId } }, { term: { generation: ref.generation } }] } },
          sort: [{ doc_num: 'asc' }],
          _source: ['doc_num', 'crc32', 'definition_length', 'total_definition_length', 'eos'],
          ignore_unavailable: true,
          allow_no_indices: true,
          ...(after ? { search_after: after } : {}),
        },
        abortable(signal),
      ),
    );
    const hits = page.hits.hits;
    for (const hit of hits) {
      const s = hit._source!;
      yield {
        docNum: s.doc_num,
        id: hit._id!,
        crc32: s.crc32,
        length: s.definition_length,
        totalLength: s.total_definition_length ?? null,
        eos: s.eos,
      };
    }
    if (hits.length < PAGE) return;
    after = hits[hits.length - 1]!.sort as number[];
  }
}

/**
 * Removes one generation: its tokenizer and task config, and its chunks (an index delete for its own
 * dedicated index, id-based deletes anywhere else).
 */
export async function deleteGeneration(es: Es, modelId: string, ref: GenerationRef, signal?: AbortSignal): Promise<void> {
  await deleteAssets(es, modelId, ref.generation, signal);
  await deleteChunks(es, modelId, ref, signal);
}

async function deleteChunks(es: Es, modelId: string, ref: GenerationRef, signal?: AbortSignal): Promise<void> {
  if (isOwnChunksIndex(ref.chunks_index, modelId, ref.generation)) {
    await es.call(`deleting index ${ref.chunks_index}`, (c) =>
      c.indices.delete({ index: ref.chunks_index }, { ignore: [404], ...abortable(signal) }),
    );
    return;
  }
  let ids: string[] = [];
  for await (const chunk of storedChunks(es, modelId, ref, signal)) {
    ids.push(chunk.id);
    if (ids.length === 1000) {
      await deleteByIds(es, ref.chunks_index, ids, signal);
      ids = [];
    }
  }
  if (ids.length > 0) await deleteByIds(es, ref.chunks_index, ids, signal);
}

export async function deleteByIds(es: Es, index: string, ids: string[], signal?: AbortSignal): Promise<void> {
  const operations = ids.map((id) => ({ delete: { _index: index, _id: id } }));
  const result = await es.call(`deleting ${ids.length} chunk documents`, (c) => c.bulk({ operations, refresh: true }, abortable(signal)));
  const failed = result.items.find((item) => item.delete?.error && item.delete.status !== 404);
  if (failed) {
    throw new ElasticsearchError(`could not delete chunk ${failed.delete!._id}: ${failed.delete!.error!.reason}`);
  }
}

export async function refresh(es: Es, index: string, signal?: AbortSignal): Promise<void> {
  try {
    await es.call(`refreshing ${index}`, (c) => c.indices.refresh({ index, ignore_unavailable: true }, abortable(signal)));
  } catch (error) {
    if (!hasStatus(error, 404)) throw error;
  }
}
