import { createHash } from 'node:crypto';
import { ElasticsearchError, IntegrityError } from '../errors.js';
import { abortable, type Es } from '../es/es.js';
import { hasStatus } from '../es/translate.js';
import { ASSETS_INDEX, assetDocId } from './layout.js';

/** The files stored beside a model's chunks, one document each, in the same generation. */
export const ASSET_KINDS = ['tokenizer', 'task_config'] as const;
export type AssetKind = (typeof ASSET_KINDS)[number];

export interface AssetDigest {
  sha256: string;
  length: number;
}

/** What the meta document says of a generation stored with its tokenizer and task config. */
export interface NlpInfo {
  task: string;
  labels: string[] | null;
  tokenizer_family: string;
  max_sequence_length: number;
  assets: Record<AssetKind, AssetDigest>;
}

export type ModelAssets = Record<AssetKind, Buffer>;

interface AssetDoc {
  model_id: string;
  generation: number;
  kind: AssetKind;
  content: string;
  length: number;
}

export function digestOf(bytes: Buffer): AssetDigest {
  return { sha256: createHash('sha256').update(bytes).digest('hex'), length: bytes.length };
}

/** Writes the generation's assets (overwriting those of an earlier try) and returns their digests. */
export async function writeAssets(
  es: Es,
  modelId: string,
  generation: number,
  assets: ModelAssets,
): Promise<Record<AssetKind, AssetDigest>> {
  const operations = ASSET_KINDS.flatMap((kind) => {
    const doc: AssetDoc = { model_id: modelId, generation, kind, content: assets[kind].toString('base64'), length: assets[kind].length };
    return [{ index: { _index: ASSETS_INDEX, _id: assetDocId(modelId, generation, kind) } }, doc];
  });
  const result = await es.call(`storing the tokenizer and task config of model '${modelId}'`, (c) => c.bulk({ operations, refresh: true }));
  const failed = result.items.find((item) => item.index?.error);
  if (failed) throw new ElasticsearchError(`could not store ${failed.index!._id}: ${failed.index!.error!.reason}`);
  return { tokenizer: digestOf(assets.tokenizer), task_config: digestOf(assets.task_config) };
}

/**
 * Reads the generation's assets and checks each against its digest in the meta document: one that
 * was altered or removed since the upload is named, as a damaged chunk is.
 */
export async function readAssets(es: Es, modelId: string, generation: number, nlp: NlpInfo, signal?: AbortSignal): Promise<ModelAssets> {
  const ids = ASSET_KINDS.map((kind) => assetDocId(modelId, generation, kind));
  const found = await es.call(`reading the tokenizer and task config of model '${modelId}'`, (c) =>
    c.mget<AssetDoc>({ index: ASSETS_INDEX, ids }, abortable(signal)),
  );
  const read = {} as ModelAssets;
  for (const [i, kind] of ASSET_KINDS.entries()) {
    const doc = found.docs[i] as { found?: boolean; _source?: AssetDoc } | undefined;
    const where = `the ${kind} document '${ids[i]}' in ${ASSETS_INDEX} of model '${modelId}'`;
    if (!doc?.found || typeof doc._source?.content !== 'string') {
      throw new IntegrityError(`${where} is missing; the model is damaged: upload it again with --replace`);
    }
    const bytes = Buffer.from(doc._source.content, 'base64');
    const digest = digestOf(bytes);
    const expected = nlp.assets[kind];
    if (digest.sha256 !== expected.sha256 || digest.length !== expected.length) {
      throw new IntegrityError(
        `${where} was altered: its SHA-256 is ${digest.sha256} (${digest.length} bytes), the meta document says ${expected.sha256} (${expected.length} bytes); upload the model again with --replace`,
      );
    }
    read[kind] = bytes;
  }
  return read;
}

/** Removes a generation's assets; a generation without any (a bare tensor model) is a no-op. */
export async function deleteAssets(es: Es, modelId: string, generation: number, signal?: AbortSignal): Promise<void> {
  const operations = ASSET_KINDS.map((kind) => ({ delete: { _index: ASSETS_INDEX, _id: assetDocId(modelId, generation, kind) } }));
  try {
    const result = await es.call(`deleting the tokenizer and task config of model '${modelId}'`, (c) =>
      c.bulk({ operations, refresh: true }, abortable(signal)),
    );
    const failed = result.items.find((item) => item.delete?.error && item.delete.status !== 404);
    if (failed) throw new ElasticsearchError(`could not delete ${failed.delete!._id}: ${failed.delete!.error!.reason}`);
  } catch (error) {
    if (!hasStatus(error, 404)) throw error;
  }
}
