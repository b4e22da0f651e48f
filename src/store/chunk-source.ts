import type { Readable } from 'node:stream';
import { IntegrityError } from '../errors.js';
import type { Es } from '../es/es.js';
import { ElasticsearchStatusError } from '../es/translate.js';

export interface ChunkSource {
  /** The base64 of `definition`, as latin1 text. */
  definition: string;
  definition_length: number;
  crc32: number;
}

const DEFINITION_KEY = Buffer.from('"definition":"');

/**
 * Fetches one chunk document's `_source` as raw bytes. Going around the client's JSON parsing keeps
 * megabytes of base64 out of JSON.parse: on the deploy path that parse was the largest cost we had.
 */
export async function fetchChunkSource(es: Es, index: string, id: string, where: string, signal?: AbortSignal): Promise<ChunkSource> {
  const raw = await es.call(`reading ${where}`, async (c) => {
    const path = `/${encodeURIComponent(index)}/_source/${encodeURIComponent(id)}`;
    const response = await c.transport.request({ method: 'GET', path }, { asStream: true, meta: true, ...(signal ? { signal } : {}) });
    const body = await collect(response.body as unknown as Readable);
    if (response.statusCode !== 200) {
      const status = response.statusCode ?? 0;
      const type = status === 404 ? 'not_found' : undefined;
      throw new ElasticsearchStatusError(status, type, `Elasticsearch answered ${status} while reading ${where}: ${body.toString('utf8', 0, 300)}`);
    }
    return body;
  });
  return parseChunkSource(raw, where);
}

/** Takes the base64 value out by position and parses only the small rest; falls back to JSON.parse for any other layout. */
export function parseChunkSource(raw: Buffer, where: string): ChunkSource {
  const keyAt = raw.indexOf(DEFINITION_KEY);
  const valueStart = keyAt + DEFINITION_KEY.length;
  const valueEnd = keyAt < 0 ? -1 : raw.indexOf(0x22, valueStart);
  try {
    if (valueEnd < 0) return JSON.parse(raw.toString('utf8')) as ChunkSource;
    const rest = JSON.parse(raw.toString('utf8', 0, valueStart) + raw.toString('utf8', valueEnd)) as ChunkSource;
    return { ...rest, definition: raw.toString('latin1', valueStart, valueEnd) };
  } catch (error) {
    throw new IntegrityError(`${where} is not a valid chunk document (${(error as Error).message}); upload the model again with --replace`, { cause: error });
  }
}

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}
