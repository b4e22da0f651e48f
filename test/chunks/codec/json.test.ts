import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { JsonChunkDecoder } from '../../../src/chunks/codec/json.js';

/** Feeds `raw` to a decoder cut at the given offsets, as the parts of an HTTP answer may be. */
function decode(raw: Buffer, expected: number, cuts: number[]) {
  const decoder = new JsonChunkDecoder(expected);
  let from = 0;
  for (const cut of [...cuts, raw.length]) {
    decoder.push(raw.subarray(from, cut));
    from = cut;
  }
  return decoder.finish();
}

const doc = (definition: string, extra = '"definition_length":100,"crc32":7,"eos":false') =>
  Buffer.from(`{"model_id":"m","doc_num":3,${extra},"definition":"${definition}"}`);

describe('JsonChunkDecoder', () => {
  const bytes = randomBytes(100);
  const raw = doc(bytes.toString('base64'));

  it('decodes and checksums the definition wherever the parts are cut: inside the key, inside a base64 group', () => {
    for (let cut = 1; cut < raw.length; cut++) {
      const decoded = decode(raw, 100, [cut]);
      expect(decoded!.bytes.equals(bytes), `cut at ${cut}`).toBe(true);
      expect(decoded!.crc).toBe(crc32(bytes));
      expect(decoded!.length).toBe(100);
      expect(decoded!.fields).toMatchObject({ definition_length: 100, crc32: 7 });
    }
  });

  it('takes parts of one byte each', () => {
    const cuts = Array.from({ length: raw.length - 1 }, (_, i) => i + 1);
    expect(decode(raw, 100, cuts)!.bytes.equals(bytes)).toBe(true);
  });

  it('reads fields after the definition too (another tool, another field order)', () => {
    const other = Buffer.from(`{"definition":"${bytes.toString('base64')}","definition_length":100,"crc32":9}`);
    expect(decode(other, 100, [20, 50])).toMatchObject({ length: 100, fields: { definition_length: 100, crc32: 9 } });
  });

  it('counts a definition longer than expected without writing past the chunk buffer', () => {
    const long = randomBytes(130);
    const decoded = decode(doc(long.toString('base64')), 100, [40, 77]);
    expect(decoded!.length).toBe(130);
    expect(decoded!.bytes.length).toBeLessThanOrEqual(100);
  });

  it('reports a shorter definition as it is', () => {
    expect(decode(doc(bytes.subarray(0, 10).toString('base64')), 100, [30])!.length).toBe(10);
  });

  it('hands a JSON escape in the base64, or a partial group, to the slow way', () => {
    expect(decode(doc('ab\\/cd=='), 100, [])).toBeNull();
    expect(decode(doc('abcde'), 100, [])).toBeNull();
  });

  it('calls a document without a definition, or cut off inside it, not a chunk', () => {
    expect(() => decode(Buffer.from('{"model_id":"m"}'), 100, [])).toThrow(/no "definition" field/);
    expect(() => decode(Buffer.from('{"definition":"abcd'), 100, [])).toThrow(/ends inside "definition"/);
    expect(() => decode(Buffer.alloc(0), 100, [])).toThrow(/empty document/);
  });
});

describe('JsonChunkDecoder on other tools formatting', () => {
  const bytes = randomBytes(300);
  const b64 = bytes.toString('base64');
  const fields = { model_id: 'm', generation: 1, doc_num: 0, definition_length: 300, crc32: crc32(bytes), eos: true };
  // Every one of these is what some client sends for our document shape; Elasticsearch hands _source back as sent.
  const formats: Record<string, string> = {
    'Python json.dumps default separators': `{"model_id": "m", "generation": 1, "doc_num": 0, "definition_length": 300, "crc32": ${fields.crc32}, "eos": true, "definition": "${b64}"}`,
    'pretty-printed': JSON.stringify({ ...fields, definition: b64 }, null, 2),
    'tabs and CRLF': `{\r\n\t"definition"\t:\t"${b64}"\r\n,\t"definition_length" : 300 ,"crc32":${fields.crc32}\r\n}`,
    'definition first': JSON.stringify({ definition: b64, ...fields }),
    'escapes in other fields': `{"model_id":"m\\u0041\\"x","note":"\\"definition\\":\\"AAAA","definition_length":300,"crc32":${fields.crc32},"definition":"${b64}"}`,
    'an escaped key': `{"d\\u0065finition":"${b64}","definition_length":300,"crc32":${fields.crc32}}`,
    'nested objects with a definition key of their own': `{"meta":{"definition":"QUJD","list":[{"definition":"x"}]},"definition_length":300,"crc32":${fields.crc32},"definition":"${b64}"}`,
  };
  for (const [name, text] of Object.entries(formats)) {
    it(`decodes ${name} on the fast path, wherever the parts are cut`, () => {
      const raw = Buffer.from(text);
      for (const cut of [1, 7, 13, 40, Math.floor(raw.length / 2), raw.length - 2]) {
        const decoded = decode(raw, 300, [cut]);
        expect(decoded, `${name}, cut at ${cut}`).not.toBeNull();
        expect(decoded!.bytes.equals(bytes), `${name}, cut at ${cut}`).toBe(true);
        expect(decoded!.fields).toEqual({ definition_length: 300, crc32: fields.crc32 });
      }
    });
  }

  it('names a definition that is not a string, and missing or mistyped fields', () => {
    expect(() => decode(Buffer.from('{"definition":12,"definition_length":1,"crc32":1}'), 10, [])).toThrow(/"definition" is not a string/);
    expect(() => decode(Buffer.from(`{"definition":"${b64}","crc32":1}`), 300, [])).toThrow(/no "definition_length" field/);
    expect(() => decode(Buffer.from(`{"definition":"${b64}","crc32":"1","definition_length":300}`), 300, [])).toThrow(
      /"crc32" is "1", not a non-negative integer/,
    );
    expect(() => decode(Buffer.from('[1,2]'), 10, [])).toThrow(/not a JSON object/);
    expect(() => decode(Buffer.from('{"model_id":"m"'), 10, [])).toThrow(/ends early/);
  });
});
