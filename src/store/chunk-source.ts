import type { Readable } from 'node:stream';
import { IntegrityError } from '../errors.js';
import type { Es } from '../es/es.js';
import { ElasticsearchStatusError } from '../es/translate.js';
import { decodeBase64Range } from './base64.js';
import type { BufferPool } from './buffer-pool.js';

export interface ChunkSource {
  /** `definition`, decoded. */
  bytes: Buffer;
  definition_length: number;
  crc32: number;
}

const DEFINITION_KEY = Buffer.from('"definition":"');

/**
 * Fetches one chunk document's `_source` as raw bytes. Going around the client's JSON parsing keeps
 * megabytes of base64 out of JSON.parse: on the deploy path that parse was the largest cost we had.
 */
export async function fetchChunkSource(es: Es, index: string, id: string, where: string, pool: BufferPool, signal?: AbortSignal): Promise<ChunkSource> {
  const raw = await es.call(`reading ${where}`, async (c) => {
    const path = `/${encodeURIComponent(index)}/_source/${encodeURIComponent(id)}`;
    const response = await c.transport.request({ method: 'GET', path }, { asStream: true, meta: true, ...(signal ? { signal } : {}) });
    const body = await collect(response.body as unknown as Readable, Number(response.headers?.['content-length'] ?? 0), pool);
    if (response.statusCode !== 200) {
      const status = response.statusCode ?? 0;
      const type = status === 404 ? 'not_found' : undefined;
      throw new ElasticsearchStatusError(status, type, `Elasticsearch answered ${status} while reading ${where}: ${body.toString('utf8', 0, 300)}`);
    }
    return body;
  });
  try {
    return parseChunkSource(raw, where, pool);
  } finally {
    pool.give(raw);
  }
}

/** Takes the base64 value out by position and parses only the small rest; falls back to JSON.parse for any other layout. */
export function parseChunkSource(raw: Buffer, where: string, pool?: BufferPool): ChunkSource {
  const keyAt = raw.indexOf(DEFINITION_KEY);
  const valueStart = keyAt + DEFINITION_KEY.length;
  const valueEnd = keyAt < 0 ? -1 : raw.indexOf(0x22, valueStart);
  try {
    const decoded = valueEnd < 0 ? null : decodeBase64Range(raw, valueStart, valueEnd, pool);
    if (!decoded) return fromJson(JSON.parse(raw.toString('utf8')) as StoredFields & { definition?: string });
    const rest = JSON.parse(raw.toString('utf8', 0, valueStart) + raw.toString('utf8', valueEnd)) as StoredFields;
    return { bytes: decoded, definition_length: rest.definition_length, crc32: rest.crc32 };
  } catch (error) {
    throw new IntegrityError(`${where} is not a valid chunk document (${(error as Error).message}); upload the model again with --replace`, { cause: error });
  }
}

type StoredFields = { definition_length: number; crc32: number };

function fromJson(doc: StoredFields & { definition?: string }): ChunkSource {
  return { bytes: Buffer.from(doc.definition ?? '', 'base64'), definition_length: doc.definition_length, crc32: doc.crc32 };
}

/** Reads the body into one buffer sized by content-length, so no list of parts is held beside it. */
async function collect(stream: Readable, contentLength: number, pool: BufferPool): Promise<Buffer> {
  if (!(contentLength > 0)) {
    const parts: Buffer[] = [];
    for await (const part of stream) parts.push(part as Buffer);
    return Buffer.concat(parts);
  }
  const body = pool.take(contentLength);
  let filled = 0;
  for await (const part of stream) filled += (part as Buffer).copy(body, filled);
  return body.subarray(0, filled);
}
