import { describe, expect, it } from 'vitest';
import { IntegrityError } from '../../src/errors.js';
import { parseChunkSource } from '../../src/chunks/chunk-source.js';
import { codecFor } from '../../src/chunks/codec/index.js';

const json = codecFor('base64');

describe('parseChunkSource', () => {
  const base64 = Buffer.from('hello chunk').toString('base64');

  it('reads our own layout', () => {
    const raw = Buffer.from(`{"model_id":"m","doc_num":0,"definition_length":11,"crc32":5,"eos":true,"definition":"${base64}"}`);
    const parsed = parseChunkSource(json, raw, 'chunk 0');
    expect(parsed).toMatchObject({ definition_length: 11, crc32: 5 });
    expect(parsed.bytes.toString()).toBe('hello chunk');
  });

  it('reads other layouts (spaces, field order) through JSON.parse', () => {
    const raw = Buffer.from(`{ "definition" : "${base64}", "crc32": 5, "definition_length": 11 }`);
    const parsed = parseChunkSource(json, raw, 'chunk 0');
    expect(parsed).toMatchObject({ definition_length: 11, crc32: 5 });
    expect(parsed.bytes.toString()).toBe('hello chunk');
  });

  it('calls a document that is not JSON damaged, naming the chunk', () => {
    expect(() => parseChunkSource(json, Buffer.from('{"definition":"abc"'), 'chunk 7 of model x')).toThrow(IntegrityError);
    expect(() => parseChunkSource(json, Buffer.from('garbage'), 'chunk 7 of model x')).toThrow(
      /chunk 7 of model x is not a valid chunk document/,
    );
  });
});
