import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { chunkDocId, dedicatedChunksIndex, META_INDEX, SHARED_CHUNKS_INDEX } from '../../src/model/layout.js';
import { feeder } from '../support/cli.js';
import { newEs, randomModelFile, uniqueId } from '../support/es.js';

const KiB = 1024;
const CHUNK = 64 * KiB;
// Eight chunks: seven whole ones and a short last one, so a wrong total shows in the last chunk.
const SIZE = 7 * CHUNK + 1000;

// Base64: these tests write chunk documents as another tool would, as JSON (a CBOR model's own
// damage cases are in test/feed/encodings.test.ts).
async function uploaded(): Promise<{ modelId: string; bytes: Buffer }> {
  const { path, bytes } = await randomModelFile(SIZE);
  const modelId = uniqueId('verify');
  const upload = await feeder(['upload', path, '--model-id', modelId, '--chunk-size', '64kb', '--encoding', 'base64']);
  expect(upload.exitCode, upload.stderr).toBe(0);
  return { modelId, bytes };
}

/** Rewrites fields of chunk `docNum` of generation 1, as damage or another writer would. */
async function editChunk(modelId: string, docNum: number, doc: Record<string, unknown>): Promise<void> {
  await newEs().client.update({ index: SHARED_CHUNKS_INDEX, id: chunkDocId(modelId, 1, docNum), doc, refresh: true });
}

/** A chunk document as another tool would write it, with the real client. */
async function writeForeignChunk(id: string, fields: { modelId: string; docNum: number; bytes: Buffer; eos?: boolean }): Promise<void> {
  await newEs().client.index({
    index: SHARED_CHUNKS_INDEX,
    id,
    refresh: true,
    document: {
      model_id: fields.modelId,
      generation: 1,
      doc_num: fields.docNum,
      definition: fields.bytes.toString('base64'),
      definition_length: fields.bytes.length,
      total_definition_length: SIZE,
      crc32: crc32(fields.bytes),
      eos: fields.eos ?? false,
    },
  });
}

async function storedIds(modelId: string): Promise<string[]> {
  const es = newEs().client;
  await es.indices.refresh({ index: SHARED_CHUNKS_INDEX });
  const found = await es.search({ index: SHARED_CHUNKS_INDEX, size: 100, query: { term: { model_id: modelId } }, _source: false });
  return found.hits.hits.map((hit) => hit._id!).sort();
}

describe('models verify and chunk documents the model does not own', () => {
  it('a document beyond the last chunk and a second copy of a chunk: intact (exit 0), with a warning naming both ids and how to remove them', async () => {
    const { modelId, bytes } = await uploaded();
    const beyond = chunkDocId(modelId, 1, 8);
    const copy = `${chunkDocId(modelId, 1, 2)}-copy`;
    await writeForeignChunk(beyond, { modelId, docNum: 8, bytes: Buffer.alloc(500, 1) });
    await writeForeignChunk(copy, { modelId, docNum: 2, bytes: bytes.subarray(2 * CHUNK, 3 * CHUNK) });

    const text = await feeder(['models', 'verify', modelId]);
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`model '${modelId}' is intact: 8 chunks`));
    expect(text.stdout).toMatch(/warning: 2 stray chunk documents .* another tool has written to this model/);
    expect(text.stdout).toContain(`'${beyond}' (doc_num 8, beyond the last chunk, 7)`);
    expect(text.stdout).toContain(`'${copy}' (doc_num 2, not the id of chunk 2, which is '${chunkDocId(modelId, 1, 2)}')`);
    expect(text.stdout).toContain(`feeder models verify ${modelId} --remove-strays`);

    const json = await feeder(['models', 'verify', modelId, '--json']);
    expect(json.exitCode).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report).toMatchObject({ ok: true, chunks: 8, bytes: SIZE, problems: [] });
    expect(report.strays.map((s: { id: string }) => s.id).sort()).toEqual([beyond, copy].sort());
    expect(report.warnings).toHaveLength(1);
  });

  it('--remove-strays deletes exactly the stray documents, by id, and says which', async () => {
    const { modelId } = await uploaded();
    const ours = await storedIds(modelId);
    const beyond = [8, 9].map((n) => chunkDocId(modelId, 1, n));
    for (const [i, id] of beyond.entries()) await writeForeignChunk(id, { modelId, docNum: 8 + i, bytes: Buffer.alloc(10, i) });

    const removed = await feeder(['models', 'verify', modelId, '--remove-strays']);
    expect(removed.exitCode, removed.stderr).toBe(0);
    expect(removed.stdout).toContain(`removed 2 stray chunk documents: '${beyond[0]}', '${beyond[1]}'`);
    expect(await storedIds(modelId)).toEqual(ours);

    const again = await feeder(['models', 'verify', modelId, '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ ok: true, strays: [], warnings: [] });
  });

  it('a model read from stdin (an index of its own, no total on its chunks): a stray there is found and removed too', async () => {
    const modelId = uniqueId('verify-stdin');
    const upload = await feeder(['upload', '-', '--model-id', modelId, '--chunk-size', '64kb', '--encoding', 'base64'], {
      input: (await randomModelFile(3 * CHUNK + 7)).bytes,
    });
    expect(upload.exitCode, upload.stderr).toBe(0);
    const clean = JSON.parse((await feeder(['models', 'verify', modelId, '--json'])).stdout);
    expect(clean).toMatchObject({ ok: true, chunks: 4, warnings: [], strays: [] });
    const index = dedicatedChunksIndex(modelId, 1);
    const stray = chunkDocId(modelId, 1, 4);
    const bytes = Buffer.alloc(100, 5);
    await newEs().client.index({
      index,
      id: stray,
      refresh: true,
      document: {
        model_id: modelId,
        generation: 1,
        doc_num: 4,
        definition: bytes.toString('base64'),
        definition_length: 100,
        crc32: crc32(bytes),
        eos: true,
      },
    });
    const removed = await feeder(['models', 'verify', modelId, '--remove-strays', '--json']);
    expect(removed.exitCode, removed.stderr).toBe(0);
    expect(JSON.parse(removed.stdout)).toMatchObject({ ok: true, chunks: 4, strays: [{ id: stray, index, doc_num: 4 }], removed: [stray] });
    expect(JSON.parse((await feeder(['models', 'verify', modelId, '--json'])).stdout)).toMatchObject({ ok: true, strays: [] });
  });

  it('--remove-strays on a damaged model removes nothing and says why', async () => {
    const { modelId } = await uploaded();
    const beyond = chunkDocId(modelId, 1, 8);
    await writeForeignChunk(beyond, { modelId, docNum: 8, bytes: Buffer.alloc(10) });
    await editChunk(modelId, 4, { definition: Buffer.alloc(CHUNK, 9).toString('base64') });

    const result = await feeder(['models', 'verify', modelId, '--remove-strays']);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toMatch(/chunk 4 of model .* fails its CRC32 check/);
    expect(result.stdout).toContain(
      `the stray documents were not removed: the model is damaged, so which documents belong to it is not certain`,
    );
    expect(await storedIds(modelId)).toContain(beyond);
  });
});

describe('models verify when the meta document and the chunks disagree', () => {
  const edit = (modelId: string, doc: Record<string, unknown>) =>
    newEs().client.update({ index: META_INDEX, id: modelId, doc, refresh: true });

  it('a total_length off by 5: says that the meta document and the chunks disagree, and that it believes the chunks', async () => {
    const { modelId } = await uploaded();
    await edit(modelId, { total_length: SIZE - 5 });
    const result = await feeder(['models', 'verify', modelId]);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toContain(
      `the meta document and the chunks disagree: the meta document says ${SIZE - 5} bytes in 8 chunks, the chunks hold ${SIZE} bytes in 8 chunks (the total each of them records); ` +
        `every chunk passes its CRC32 and their SHA-256 is the one the meta document records, so verify believes the chunks`,
    );
    expect(result.stdout).toMatch(/upload the model again with --replace/);
    expect(result.stdout).not.toMatch(/chunk 7 .* has/);
  });

  it('a chunk_count one short: the last chunk is the model, not a stray', async () => {
    const { modelId } = await uploaded();
    await edit(modelId, { chunk_count: 7 });
    const result = await feeder(['models', 'verify', modelId, '--json']);
    expect(result.exitCode).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report.strays).toEqual([]);
    expect(report.problems).toEqual([
      expect.stringContaining(`the meta document says ${SIZE} bytes in 7 chunks, the chunks hold ${SIZE} bytes in 8 chunks`),
    ]);
    expect(report).toMatchObject({ chunks: 8, bytes: SIZE });
  });

  it('a sha256 of other bytes with the right lengths: the meta document disagrees, and verify says it cannot tell which is right', async () => {
    const { modelId } = await uploaded();
    await edit(modelId, { sha256: 'a'.repeat(64) });
    const result = await feeder(['models', 'verify', modelId]);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toMatch(/the chunks' SHA-256 [0-9a-f]{64} differs from the recorded a{64}/);
  });

  it('one chunk shorter than the others, with its own length and CRC32 made to match: that chunk is damaged, the meta document is not blamed', async () => {
    const { modelId } = await uploaded();
    const short = Buffer.alloc(1000, 3);
    await editChunk(modelId, 3, { definition: short.toString('base64'), definition_length: 1000, crc32: crc32(short) });
    const result = await feeder(['models', 'verify', modelId]);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toMatch(
      /chunk 3 of model .* has 1000 bytes, as its document says, but the other chunks and the model's meta document imply 65536; the stored model is damaged/,
    );
    expect(result.stdout).not.toMatch(/disagree/);
    // Every chunk, the short one too, records the model's true total: the shortfall is not theirs.
    expect(result.stdout).not.toMatch(/total_definition_length/);
  });

  it('one chunk short and another recording a total of its own: the total warning names that other chunk alone', async () => {
    const { modelId } = await uploaded();
    const short = Buffer.alloc(1000, 3);
    await editChunk(modelId, 3, { definition: short.toString('base64'), definition_length: 1000, crc32: crc32(short) });
    await editChunk(modelId, 5, { total_definition_length: SIZE + 1 });
    const report = JSON.parse((await feeder(['models', 'verify', modelId, '--json'])).stdout);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.stringMatching(/^chunk 3 of model .* has 1000 bytes/)]);
    expect(report.warnings).toEqual([
      expect.stringMatching(new RegExp(`^chunk 5 records a total_definition_length that is not the ${SIZE} bytes`)),
    ]);
  });
});
