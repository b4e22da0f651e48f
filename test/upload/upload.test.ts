import { overwriteDefinition } from '../support/damage.js';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readChunks } from '../../src/chunks/chunk-reader.js';
import { deleteModel } from '../../src/maintenance/delete.js';
import { CHUNKS_INDEX_PATTERN, chunkDocId, META_INDEX, SHARED_CHUNKS_INDEX } from '../../src/model/layout.js';
import { getMeta, requireMeta, requireReadyMeta } from '../../src/model/meta.js';
import { verifyModel } from '../../src/maintenance/verify.js';
import { uploadModel } from '../../src/upload/upload.js';
import { captureLogger, newEs, randomModelFile, testConfig, uniqueId } from '../support/es.js';

const MiB = 1024 * 1024;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function readBack(modelId: string): Promise<Buffer> {
  const es = newEs();
  const meta = requireReadyMeta((await requireMeta(es, modelId)).meta);
  const parts: Buffer[] = [];
  for await (const chunk of readChunks(es, meta, { prefetch: 2 })) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

async function storedChunkIds(index: string, modelId: string): Promise<string[]> {
  const es = newEs();
  await es.client.indices.refresh({ index, ignore_unavailable: true });
  const result = await es.client.search({
    index,
    size: 1000,
    query: { term: { model_id: modelId } },
    _source: false,
    ignore_unavailable: true,
  });
  return result.hits.hits.map((h) => h._id!).sort();
}

function context(change?: Parameters<typeof testConfig>[0]) {
  const { logger, lines } = captureLogger();
  return { ctx: { es: newEs(), config: testConfig(change), logger }, lines };
}

describe('upload', () => {
  it('stores a file as chunk documents and a ready meta document that read back byte for byte', async () => {
    const modelId = uniqueId('roundtrip');
    const { path, bytes } = await randomModelFile(10 * MiB + 123);
    const { ctx, lines } = context((c) => (c.upload.chunkSize = MiB));
    const meta = await uploadModel(ctx, { modelId, path });

    expect(meta).toMatchObject({
      model_id: modelId,
      state: 'ready',
      chunk_count: 11,
      chunk_size: MiB,
      total_length: bytes.length,
      sha256: sha256(bytes),
      chunks_index: SHARED_CHUNKS_INDEX,
    });
    expect((await readBack(modelId)).equals(bytes)).toBe(true);

    const last = await ctx.es.client.get<Record<string, unknown>>({ index: SHARED_CHUNKS_INDEX, id: chunkDocId(modelId, 1, 10) });
    expect(last._source).toMatchObject({
      model_id: modelId,
      doc_num: 10,
      definition_length: 123,
      total_definition_length: bytes.length,
      eos: true,
    });
    const first = await ctx.es.client.get<Record<string, unknown>>({ index: SHARED_CHUNKS_INDEX, id: chunkDocId(modelId, 1, 0) });
    expect(first._source).toMatchObject({ doc_num: 0, definition_length: MiB, eos: false });

    const done = lines.find((l) => (l.event as { action?: string })?.action === 'upload');
    expect(done).toMatchObject({ event: { outcome: 'success' }, feeder: { model_id: modelId, bytes: bytes.length, chunks: 11 } });
  });

  it('owns hidden indices whose mapping never indexes the base64', async () => {
    const es = newEs();
    const { ctx } = context();
    await uploadModel(ctx, { modelId: uniqueId('layout'), path: (await randomModelFile(1000)).path });
    const settings = await es.client.indices.getSettings({ index: [META_INDEX, SHARED_CHUNKS_INDEX], expand_wildcards: 'all' });
    for (const index of [META_INDEX, SHARED_CHUNKS_INDEX]) expect(settings[index]!.settings!.index!.hidden).toBe('true');
    const mapping = await es.client.indices.getMapping({ index: SHARED_CHUNKS_INDEX });
    expect(mapping[SHARED_CHUNKS_INDEX]!.mappings.properties!.definition).toEqual({ type: 'binary' });
    expect(mapping[SHARED_CHUNKS_INDEX]!.mappings.dynamic).toBe('strict');
    const template = await es.client.indices.getIndexTemplate({ name: 'feeder-chunks' });
    expect(template.index_templates[0]!.index_template.index_patterns).toEqual([CHUNKS_INDEX_PATTERN]);
  });

  it('puts a model above the threshold in an index of its own, which delete removes whole', async () => {
    const modelId = uniqueId('big');
    const { path, bytes } = await randomModelFile(3 * MiB);
    const { ctx, lines } = context((c) => {
      c.upload.dedicatedIndexThreshold = 2 * MiB;
      c.upload.chunkSize = MiB;
    });
    const meta = await uploadModel(ctx, { modelId, path });
    expect(meta.chunks_index).toBe(`.feeder-chunks-m-${modelId}-g1`);
    expect((await readBack(modelId)).equals(bytes)).toBe(true);

    await deleteModel(ctx.es, modelId, ctx.logger);
    expect(await ctx.es.client.indices.exists({ index: meta.chunks_index })).toBe(false);
    expect(await getMeta(ctx.es, modelId)).toBeNull();
    expect(lines.some((l) => (l.event as { action?: string })?.action === 'model-delete')).toBe(true);
  });

  it('replaces a model: the new bytes read back and no chunk of the old generation remains', async () => {
    const modelId = uniqueId('replace');
    const { ctx } = context((c) => (c.upload.chunkSize = MiB));
    await uploadModel(ctx, { modelId, path: (await randomModelFile(3 * MiB)).path });
    const second = await randomModelFile(2 * MiB + 5, 'second.pt');
    const meta = await uploadModel(ctx, { modelId, path: second.path, replace: true });

    expect(meta).toMatchObject({ state: 'ready', generation: 2, sha256: sha256(second.bytes), pending: null, garbage: [] });
    expect((await readBack(modelId)).equals(second.bytes)).toBe(true);
    expect(await storedChunkIds(SHARED_CHUNKS_INDEX, modelId)).toEqual([0, 1, 2].map((n) => chunkDocId(modelId, 2, n)).sort());
  });

  it('deletes every chunk and the meta document of a model in the shared index', async () => {
    const modelId = uniqueId('delete');
    const { ctx } = context((c) => (c.upload.chunkSize = 64 * 1024));
    await uploadModel(ctx, { modelId, path: (await randomModelFile(1 * MiB)).path });
    expect(await storedChunkIds(SHARED_CHUNKS_INDEX, modelId)).toHaveLength(16);
    await deleteModel(ctx.es, modelId, ctx.logger);
    expect(await storedChunkIds(SHARED_CHUNKS_INDEX, modelId)).toEqual([]);
    expect(await getMeta(ctx.es, modelId)).toBeNull();
  });

  it('verify finds a corrupted chunk and a missing chunk, naming each', async () => {
    const modelId = uniqueId('damaged');
    const { ctx } = context((c) => (c.upload.chunkSize = 64 * 1024));
    await uploadModel(ctx, { modelId, path: (await randomModelFile(5 * 64 * 1024)).path });
    expect(await verifyModel(ctx.es, modelId, { prefetch: 2 })).toMatchObject({ ok: true, chunks: 5 });

    await overwriteDefinition(modelId, 1, 1, Buffer.alloc(64 * 1024, 7));
    await ctx.es.client.delete({ index: SHARED_CHUNKS_INDEX, id: chunkDocId(modelId, 1, 3), refresh: true });
    const report = await verifyModel(ctx.es, modelId, { prefetch: 2 });
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([
      expect.stringMatching(/chunk 1 of model .* fails its CRC32 check/),
      expect.stringMatching(new RegExp(`chunk 3 of model .*'${chunkDocId(modelId, 1, 3)}'.* is missing`)),
    ]);
  });
});
