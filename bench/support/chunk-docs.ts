import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { checksumOf, encodeChunkDoc } from '../../src/store/chunks.js';
import { chunkDocId } from '../../src/store/layout.js';
import { cutIntoChunks } from '../../src/upload/chunker.js';

export interface EncodedDoc {
  id: string;
  /** The JSON source, exactly as feeder builds it. */
  source: Buffer;
}

const GENERATION = 1;
const NEWLINE = Buffer.from('\n');

/** The chunk documents feeder writes for this file: same chunking, ids and JSON. */
export async function* chunkDocs(path: string, modelId: string, chunkSize: number): AsyncGenerator<EncodedDoc> {
  const { size } = await stat(path);
  const input = createReadStream(path, { highWaterMark: Math.min(chunkSize, 8 * 1024 * 1024) });
  for await (const chunk of cutIntoChunks(input, chunkSize)) {
    // A string or a Buffer, whichever feeder's encoder returns.
    const source: string | Buffer = encodeChunkDoc(modelId, GENERATION, chunk, size, checksumOf(chunk.bytes));
    yield { id: chunkDocId(modelId, GENERATION, chunk.docNum), source: typeof source === 'string' ? Buffer.from(source) : source };
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
