import { encode } from 'cborg';
import { expect } from 'vitest';
import { chunkDocId } from '../../src/model/layout.js';
import { getMeta } from '../../src/model/meta.js';
import { esUrl, newEs } from './es.js';

/**
 * Overwrites the `definition` of a stored chunk in the encoding its generation was written in,
 * its other fields left as they were (so the length or CRC32 no longer match): damage, not a
 * mixed-encoding generation. Written with a plain HTTP request, as any other tool would.
 */
export async function overwriteDefinition(modelId: string, generation: number, docNum: number, definition: Buffer): Promise<void> {
  const { meta } = (await getMeta(newEs(), modelId))!;
  const ref = meta.pending?.generation === generation ? meta.pending : meta;
  const index = ref.chunks_index;
  const id = chunkDocId(modelId, generation, docNum);
  const { _source: stored } = await newEs().client.get<Record<string, unknown>>({ index, id });
  const encoding = ref.encoding ?? 'base64';
  const body =
    encoding === 'cbor'
      ? Buffer.from(encode({ ...stored, definition }))
      : JSON.stringify({ ...stored, definition: definition.toString('base64') });
  const response = await fetch(`${esUrl()}/${index}/_doc/${id}?refresh=true`, {
    method: 'PUT',
    headers: { 'content-type': encoding === 'cbor' ? 'application/cbor' : 'application/json', accept: 'application/json' },
    body,
  });
  expect(response.status, await response.text()).toBeLessThan(300);
}
