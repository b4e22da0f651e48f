import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { checksumOf } from '../../src/chunks/check-chunk.js';
import { codecFor, type ChunkEncoding } from '../../src/chunks/codec/index.js';
import { chunkDocId } from '../../src/model/layout.js';
import { cutIntoChunks } from '../../src/upload/chunker.js';

export interface EncodedDoc {
  id: string;
  /** The source, exactly as feeder builds it in the encoding asked for. */
  source: Buffer;
}

const GENERATION = 1;
const NEWLINE = Buffer.from('\n');

/** The chunk documents feeder writes for this file: same chunking, ids and encoding. */
export async function* chunkDocs(
  path: string,
  modelId: string,
  chunkSize: number,
  encoding: ChunkEncoding = 'base64',
): AsyncGenerator<EncodedDoc> {
  const codec = codecFor(encoding);
  const { size } = await stat(path);
  const input = createReadStream(path, { highWaterMark: Math.min(chunkSize, 8 * 1024 * 1024) });
  for await (const chunk of cutIntoChunks(input, chunkSize)) {
    const crc = checksumOf(chunk.bytes);
    const source = codec.encode({
      modelId,
      generation: GENERATION,
      docNum: chunk.docNum,
      bytes: chunk.bytes,
      last: chunk.last,
      totalLength: size,
      crc,
    });
    yield { id: chunkDocId(modelId, GENERATION, chunk.docNum), source };
  }
}

/** `_bulk` bodies cut as BulkWriter cuts them: a body is closed once it holds `bulkBytes` or more. */
export async function bulkBodies(docs: AsyncIterable<EncodedDoc>, bulkBytes: number): Promise<{ bodies: Buffer[]; docCount: number }> {
  const bodies: Buffer[] = [];
  let docCount = 0;
  let parts: Buffer[] = [];
  let length = 0;
  for await (const doc of docs) {
    const action = Buffer.from(`{"index":{"_id":"${doc.id}"}}\n`);
    parts.push(action, doc.source, NEWLINE);
    length += action.length + doc.source.length + 1;
    docCount += 1;
    if (length >= bulkBytes) {
      bodies.push(Buffer.concat(parts, length));
      parts = [];
      length = 0;
    }
  }
  if (parts.length > 0) bodies.push(Buffer.concat(parts, length));
  return { bodies, docCount };
}

/** One request body per chunk document, for the one-chunk-per-request baseline. */
export async function docBodies(docs: AsyncIterable<EncodedDoc>): Promise<Array<{ id: string; body: Buffer }>> {
  const out: Array<{ id: string; body: Buffer }> = [];
  for await (const doc of docs) out.push({ id: doc.id, body: doc.source });
  return out;
}
