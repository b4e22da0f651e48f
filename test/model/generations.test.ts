import { afterAll, describe, expect, it } from 'vitest';
import { chunkDocId } from '../../src/model/layout.js';
import { createMeta, getMeta, type ModelMeta } from '../../src/model/meta.js';
import { installTemplates } from '../../src/model/templates.js';
import { feeder } from '../support/cli.js';
import { newEs, uniqueId } from '../support/es.js';

const es = newEs();
const created: string[] = [];
afterAll(async () => {
  await es.client.indices.delete({ index: created, ignore_unavailable: true });
});

function chunkDoc(modelId: string, docNum: number, eos: boolean) {
  return {
    model_id: modelId,
    generation: 1,
    doc_num: docNum,
    definition: Buffer.from('chunk').toString('base64'),
    definition_length: 5,
    crc32: 0,
    eos,
  };
}

/** A ready meta document whose chunks live in `index`, as another tool or a hand-made fix could leave it. */
function metaIn(modelId: string, index: string): ModelMeta {
  const now = new Date().toISOString();
  return {
    model_id: modelId,
    state: 'ready',
    generation: 1,
    chunks_index: index,
    chunk_size: 5,
    chunk_count: 2,
    total_length: 10,
    sha256: null,
    encoding: 'base64',
    source: { name: 'hand-made', size: 10 },
    created_at: now,
    updated_at: now,
    ready_at: now,
    pending: null,
    garbage: [],
  };
}

describe('deleting the chunks of a generation', () => {
  it("removes only the model's own chunks from an index that is not its dedicated one, leaving the index and other documents", async () => {
    await installTemplates(es);
    const modelId = uniqueId('foreign');
    const index = `.feeder-chunks-foreign-${uniqueId('x')}`;
    created.push(index);
    const operations = [
      { index: { _index: index, _id: chunkDocId(modelId, 1, 0) } },
      chunkDoc(modelId, 0, false),
      { index: { _index: index, _id: chunkDocId(modelId, 1, 1) } },
      chunkDoc(modelId, 1, true),
      { index: { _index: index, _id: 'someone-elses-document' } },
      chunkDoc('someone-else', 0, true),
    ];
    const bulk = await es.client.bulk({ operations, refresh: true });
    expect(bulk.errors).toBe(false);
    await createMeta(es, metaIn(modelId, index));

    const deleted = await feeder(['models', 'delete', modelId]);
    expect(deleted.exitCode, deleted.stderr).toBe(0);

    expect(await es.client.indices.exists({ index })).toBe(true);
    expect(await es.client.exists({ index, id: 'someone-elses-document' })).toBe(true);
    expect(await es.client.exists({ index, id: chunkDocId(modelId, 1, 0) })).toBe(false);
    expect(await es.client.exists({ index, id: chunkDocId(modelId, 1, 1) })).toBe(false);
    expect(await getMeta(es, modelId)).toBeNull();
  });
});
