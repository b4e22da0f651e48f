import { crc32 } from 'node:zlib';
import { decode, encode } from 'cborg';
import { describe, expect, it } from 'vitest';
import { IntegrityError, InvalidArgumentError } from '../../src/errors.js';
import { deleteModel } from '../../src/maintenance/delete.js';
import { chunkDocId, META_INDEX, SHARED_CHUNKS_INDEX } from '../../src/model/layout.js';
import { getMeta } from '../../src/model/meta.js';
import { verifyModel } from '../../src/maintenance/verify.js';
import type { ChunkEncoding } from '../../src/chunks/codec/index.js';
import { uploadModel } from '../../src/upload/upload.js';
import { deploy, storedModel } from '../support/deploy.js';
import { isAlive } from '../support/processes.js';
import { captureLogger, esUrl, newEs, randomModelFile, testConfig, uniqueId } from '../support/es.js';

const KiB = 1024;
const CHUNK = 128 * KiB;
/** CBOR as another tool writes it (cborg, a general encoder), as a Buffer. */
const cbor = { encode: (value: unknown) => Buffer.from(encode(value)), decode: (raw: Buffer) => decode(raw) as unknown };
/** The self-described CBOR tag (55799) in front of an item, as some encoders write it. */
const selfDescribed = (item: Buffer) => Buffer.concat([Buffer.from([0xd9, 0xd9, 0xf7]), item]);

/** A request as any other HTTP client sends it: no feeder code between the test and the node. */
async function http(method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}) {
  const response = await fetch(`${esUrl()}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  return { status: response.status, type: response.headers.get('content-type') ?? '', body: Buffer.from(await response.arrayBuffer()) };
}

/** Puts a chunk document's source as given, then refreshes, as another tool would. */
async function putChunk(modelId: string, docNum: number, body: Buffer | string, contentType: string, index = SHARED_CHUNKS_INDEX) {
  const put = await http('PUT', `/${index}/_doc/${chunkDocId(modelId, 1, docNum)}?refresh=true`, body, { 'content-type': contentType });
  expect(put.status, put.body.toString()).toBeLessThan(300);
}

/** Answers of the stub, which answers token t with model[t] / 255: every byte where it belongs. */
async function expectServes(modelId: string, bytes: Buffer) {
  const outcome = await deploy({ modelId });
  expect(outcome.error).toBeNull();
  const { native, loaded } = outcome.result!;
  try {
    expect(loaded.bytes).toBe(bytes.length);
    const tokens = [0, 1, CHUNK - 1, CHUNK, 2 * CHUNK + 7, bytes.length - 1];
    const answer = (await native.request({ tokens: [tokens] })) as { result: { inference: number[][][] } };
    expect(answer.result.inference[0]!.map((v) => v[0])).toEqual(tokens.map((t) => bytes[t % bytes.length]! / 255));
  } finally {
    await native.stop();
  }
}

/** A failed deploy leaves no process and the stored model exactly as it was. */
async function expectRefused(modelId: string): Promise<Error> {
  const metaBefore = (await getMeta(newEs(), modelId))!.meta;
  const outcome = await deploy({ modelId });
  expect(outcome.result).toBeNull();
  for (const pid of outcome.pids) expect(isAlive(pid), `native process ${pid} still running`).toBe(false);
  expect(outcome.nativeMessages.some((m) => m.startsWith('model loaded'))).toBe(false);
  expect((await getMeta(newEs(), modelId))?.meta).toEqual(metaBefore);
  return outcome.error!;
}

describe('chunk encodings, end to end against the real node and the real stub', () => {
  it('a CBOR chunk travels as raw bytes: a chunk GET is the chunk plus a small constant, a base64 one is a third larger', async () => {
    const { path, bytes } = await randomModelFile(2 * CHUNK + 99);
    const ids = { cbor: uniqueId('enc-cbor'), base64: uniqueId('enc-b64') };
    for (const encoding of ['cbor', 'base64'] as const) {
      await uploadModel(
        { es: newEs(), config: testConfig((c) => (c.upload.chunkSize = CHUNK)), logger: captureLogger().logger },
        { modelId: ids[encoding], path, encoding },
      );
      expect((await getMeta(newEs(), ids[encoding]))!.meta.encoding).toBe(encoding);
    }
    const chunk = bytes.subarray(CHUNK, 2 * CHUNK);
    const asCbor = await http('GET', `/${SHARED_CHUNKS_INDEX}/_source/${chunkDocId(ids.cbor, 1, 1)}`, undefined, {
      accept: 'application/cbor',
    });
    expect(asCbor.type).toMatch(/application\/cbor/);
    expect(asCbor.body.length - CHUNK).toBeGreaterThan(0);
    expect(asCbor.body.length - CHUNK).toBeLessThan(200);
    expect(asCbor.body.indexOf(chunk)).toBeGreaterThan(0);
    const asJson = await http('GET', `/${SHARED_CHUNKS_INDEX}/_source/${chunkDocId(ids.base64, 1, 1)}`);
    expect(asJson.body.length / CHUNK).toBeGreaterThan(4 / 3);
    await expectServes(ids.cbor, bytes);
    await expectServes(ids.base64, bytes);
  });

  it('each generation keeps its encoding through replace; a resume goes on in the one it started with', async () => {
    const { path, bytes } = await randomModelFile(3 * CHUNK + 5);
    const modelId = uniqueId('enc-gen');
    const ctx = () => ({ es: newEs(), config: testConfig((c) => (c.upload.chunkSize = CHUNK)), logger: captureLogger().logger });
    await uploadModel(ctx(), { modelId, path, encoding: 'cbor' });
    const other = await randomModelFile(2 * CHUNK + 1);
    await uploadModel(ctx(), { modelId, path: other.path, encoding: 'base64', replace: true });
    expect((await getMeta(newEs(), modelId))!.meta).toMatchObject({ encoding: 'base64', generation: 2 });
    await expectServes(modelId, other.bytes);

    // An upload cut short after its first chunk, in CBOR, then resumed.
    const controller = new AbortController();
    const cut = uploadModel(ctx(), {
      modelId,
      path,
      encoding: 'cbor',
      replace: true,
      signal: controller.signal,
      onProgress: (done) => done > 0 && controller.abort(),
    });
    await expect(cut).rejects.toThrow();
    const pending = (await getMeta(newEs(), modelId))!.meta;
    expect(pending).toMatchObject({ encoding: 'base64', pending: { encoding: 'cbor' } });
    await expect(uploadModel(ctx(), { modelId, path, resume: true, encoding: 'base64' })).rejects.toThrow(
      new InvalidArgumentError(
        `the unfinished upload of model '${modelId}' was started with --encoding cbor; resume it with --encoding cbor (or without --encoding), or start over with --replace --encoding base64`,
      ),
    );
    const resumed = await uploadModel(ctx(), { modelId, path, resume: true });
    expect(resumed).toMatchObject({ encoding: 'cbor', generation: 3, state: 'ready' });
    await expectServes(modelId, bytes);
    expect((await verifyModel(newEs(), modelId, { prefetch: 2 })).ok).toBe(true);
    await deleteModel(newEs(), modelId, captureLogger().logger);
    const left = await newEs().client.count({ index: '.feeder-chunks-*', query: { term: { model_id: modelId } } });
    expect(left.count).toBe(0);
  });

  it('a meta document written before encodings existed (no encoding field) is deployed as base64', async () => {
    const model = await storedModel(3 * CHUNK, CHUNK, 'base64');
    const { encoding, ...older } = (await getMeta(newEs(), model.modelId))!.meta;
    expect(encoding).toBe('base64');
    await newEs().client.index({ index: META_INDEX, id: model.modelId, document: older, refresh: true });
    expect((await getMeta(newEs(), model.modelId))!.meta.encoding).toBeUndefined();
    await expectServes(model.modelId, model.bytes);
  });
});

describe('chunk documents written by other tools decode intact', () => {
  it('base64: Python json.dumps, a pretty-printer, another key order, escapes, a null field', async () => {
    const model = await storedModel(6 * CHUNK + 3, CHUNK, 'base64');
    const fields = (n: number) => {
      const bytes = model.bytes.subarray(n * CHUNK, Math.min(model.bytes.length, (n + 1) * CHUNK));
      return {
        model_id: model.modelId,
        generation: 1,
        doc_num: n,
        definition_length: bytes.length,
        crc32: crc32(bytes),
        eos: n === 6,
        b64: bytes.toString('base64'),
      };
    };
    const writers: Array<(n: number) => string> = [
      // json.dumps(doc): ", " and ": " separators
      (n) => {
        const { b64, ...f } = fields(n);
        return `{${Object.entries({ ...f, definition: b64 })
          .map(([k, v]) => `"${k}": ${JSON.stringify(v)}`)
          .join(', ')}}`;
      },
      (n) => {
        const { b64, ...f } = fields(n);
        return JSON.stringify({ ...f, definition: b64 }, null, 4);
      },
      (n) => {
        const { b64, ...f } = fields(n);
        return JSON.stringify({ definition: b64, ...f });
      },
      // PHP's json_encode escapes every '/', and \u escapes elsewhere: the slow way
      (n) => {
        const { b64, ...f } = fields(n);
        return JSON.stringify({ ...f, definition: b64 })
          .replaceAll('/', '\\/')
          .replace('"model_id"', '"\\u006dodel_id"');
      },
      (n) => {
        const { b64, ...f } = fields(n);
        // The chunk index maps strictly, so another tool's document has our fields only; here with an
        // explicit null where a field is optional, and an integer written as 1.0e0-style float.
        return `{"total_definition_length":null,"model_id":${JSON.stringify(f.model_id)},"generation":1.0,"doc_num":${n},"definition_length":${f.definition_length},"crc32":${f.crc32},"eos":${f.eos},"definition":"${b64}"}`;
      },
    ];
    for (const [n, write] of writers.entries()) await putChunk(model.modelId, n, write(n), 'application/json');
    await expectServes(model.modelId, model.bytes);
    expect((await verifyModel(newEs(), model.modelId, { prefetch: 2 })).problems).toEqual([]);
  });

  it('cbor: another key order, integers in their widest form, a self-described tag, a null field', async () => {
    const model = await storedModel(4 * CHUNK + 3, CHUNK, 'cbor');
    const chunk = (n: number) => model.bytes.subarray(n * CHUNK, Math.min(model.bytes.length, (n + 1) * CHUNK));
    const base = (n: number) => ({ model_id: model.modelId, generation: 1, doc_num: n, eos: n === 4 });
    await putChunk(
      model.modelId,
      0,
      cbor.encode({ definition: chunk(0), crc32: crc32(chunk(0)), ...base(0), definition_length: chunk(0).length }),
      'application/cbor',
    );
    const wide = (value: number) => Buffer.concat([Buffer.from([0x1b, 0, 0, 0, 0]), Buffer.from(Uint32Array.of(value).buffer).reverse()]);
    await putChunk(
      model.modelId,
      1,
      Buffer.concat([
        Buffer.from([0xa3]),
        cbor.encode('definition_length'),
        wide(chunk(1).length),
        cbor.encode('crc32'),
        wide(crc32(chunk(1))),
        cbor.encode('definition'),
        cbor.encode(chunk(1)),
      ]),
      'application/cbor',
    );
    await putChunk(
      model.modelId,
      2,
      selfDescribed(cbor.encode({ ...base(2), definition_length: chunk(2).length, crc32: crc32(chunk(2)), definition: chunk(2) })),
      'application/cbor',
    );
    await putChunk(
      model.modelId,
      3,
      cbor.encode({
        total_definition_length: null,
        ...base(3),
        definition: chunk(3),
        definition_length: chunk(3).length,
        crc32: crc32(chunk(3)),
      }),
      'application/cbor',
    );
    await expectServes(model.modelId, model.bytes);
    expect((await verifyModel(newEs(), model.modelId, { prefetch: 2 })).problems).toEqual([]);
  });
});

describe('bad CBOR input: a clear error naming the chunk, nothing loaded, nothing lost', () => {
  async function damagedCbor(doc: (bytes: Buffer) => Buffer | string, contentType = 'application/cbor'): Promise<Error> {
    const model = await storedModel(4 * CHUNK, CHUNK, 'cbor');
    await putChunk(model.modelId, 2, doc(model.bytes.subarray(2 * CHUNK, 3 * CHUNK)), contentType);
    const error = await expectRefused(model.modelId);
    expect(error, error.message).toBeInstanceOf(IntegrityError);
    expect(error.message).toContain(`chunk 2 of model '${model.modelId}' (document '${chunkDocId(model.modelId, 1, 2)}'`);
    const report = await verifyModel(newEs(), model.modelId, { prefetch: 2 });
    expect(report.ok).toBe(false);
    return error;
  }
  const fields = (bytes: Buffer) => ({ definition_length: bytes.length, crc32: crc32(bytes) });

  it('a missing definition', async () => {
    const error = await damagedCbor((bytes) => cbor.encode(fields(bytes)));
    expect(error.message).toMatch(/is not a valid chunk document \(no "definition" field\); upload the model again with --replace/);
  });

  it('a mistyped definition', async () => {
    const error = await damagedCbor((bytes) => cbor.encode({ ...fields(bytes), definition: 42 }));
    expect(error.message).toMatch(/"definition" is an unsigned integer, not a byte string/);
  });

  it('a JSON document in a CBOR generation (mixed encodings)', async () => {
    const error = await damagedCbor(
      (bytes) => JSON.stringify({ ...fields(bytes), definition: bytes.toString('base64') }),
      'application/json',
    );
    expect(error.message).toMatch(/"definition" is a text string, not a byte string: .*a mixed-encoding generation/);
  });

  it('a wrong length', async () => {
    const error = await damagedCbor((bytes) => cbor.encode({ ...fields(bytes), definition: bytes.subarray(0, 100) }));
    expect(error.message).toMatch(/has 100 bytes \(its document says 131072, the model's meta document implies 131072\)/);
  });

  it('a wrong CRC', async () => {
    const error = await damagedCbor((bytes) => cbor.encode({ ...fields(bytes), crc32: (crc32(bytes) + 1) >>> 0, definition: bytes }));
    expect(error.message).toMatch(/fails its CRC32 check; the stored model is damaged/);
  });

  it('a truncated byte string never reaches a reader: the node refuses it when it is written', async () => {
    const whole = cbor.encode({ definition: Buffer.alloc(1000, 7), definition_length: 1000, crc32: 1 });
    const put = await http('PUT', `/${SHARED_CHUNKS_INDEX}/_doc/${uniqueId('truncated')}`, whole.subarray(0, 500), {
      'content-type': 'application/cbor',
    });
    expect(put.status).toBe(400);
    // A body cut in transit is the decoder's to name: test/chunks/codec/cbor.test.ts ("ends inside").
  });

  it('a meta document naming an unknown encoding: refused before anything is spawned', async () => {
    for (const encoding of ['zstd', 7] as const) {
      const model = await storedModel(2 * CHUNK, CHUNK, 'cbor');
      await newEs().client.update({
        index: META_INDEX,
        id: model.modelId,
        doc: { encoding: encoding as unknown as ChunkEncoding },
        refresh: true,
      });
      const error = await expectRefused(model.modelId);
      expect(error.message).toBe(
        `model '${model.modelId}' is stored with chunk encoding ${JSON.stringify(encoding)}, which this feeder does not know (it reads base64 and cbor); upgrade feeder, or upload the model again with --replace`,
      );
      const report = await verifyModel(newEs(), model.modelId, { prefetch: 2 });
      expect(report.problems).toEqual([error.message]);
    }
  });
});
