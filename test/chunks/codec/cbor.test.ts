import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { decode as cborgDecode, encode } from 'cborg';
import { describe, expect, it } from 'vitest';
import { CborChunkDecoder, cborCodec } from '../../../src/chunks/codec/cbor.js';

/** Feeds `raw` to a decoder cut at the given offsets, as the parts of an HTTP answer may be. */
function decode(raw: Buffer, expected: number, cuts: number[]) {
  const decoder = new CborChunkDecoder(expected);
  let from = 0;
  for (const cut of [...cuts, raw.length]) {
    decoder.push(raw.subarray(from, cut));
    from = cut;
  }
  return decoder.finish();
}

/** CBOR as another tool writes it (cborg, a general encoder), as a Buffer. */
const other = { encode: (value: unknown) => Buffer.from(encode(value)), decode: (raw: Buffer) => cborgDecode(raw) as unknown };
/** The self-described CBOR tag (55799) in front of an item, as some encoders write it. */
const selfDescribed = (item: Buffer) => Buffer.concat([Buffer.from([0xd9, 0xd9, 0xf7]), item]);
const bytes = randomBytes(3000);
const crc = crc32(bytes);
const ours = cborCodec.encode({ modelId: 'm-ü', generation: 3, docNum: 70000, bytes, last: true, totalLength: 2 ** 40, crc });

/** An indefinite-length map with the same items, as Elasticsearch writes a CBOR `_source` back. */
function indefinite(doc: Buffer): Buffer {
  expect(doc[0]! >> 5).toBe(5);
  return Buffer.concat([Buffer.from([0xbf]), doc.subarray(1), Buffer.from([0xff])]);
}

describe('cbor codec', () => {
  it('encodes a document any CBOR decoder reads back as our fields and the raw chunk', () => {
    const decoded = other.decode(ours) as Record<string, unknown>;
    expect(decoded).toMatchObject({
      model_id: 'm-ü',
      generation: 3,
      doc_num: 70000,
      definition_length: 3000,
      total_definition_length: 2 ** 40,
      crc32: crc,
      eos: true,
    });
    expect(Buffer.from(decoded.definition as Uint8Array).equals(bytes)).toBe(true);
    // The chunk plus a small constant: no base64.
    expect(ours.length - bytes.length).toBeLessThan(160);
  });

  it('decodes and checksums the chunk wherever the parts are cut, as sent and as Elasticsearch answers it', () => {
    for (const raw of [ours, indefinite(ours)]) {
      for (let cut = 1; cut < raw.length; cut += cut < 200 ? 1 : 97) {
        const decoded = decode(raw, 3000, [cut]);
        expect(decoded.bytes.equals(bytes), `cut at ${cut}`).toBe(true);
        expect(decoded.crc).toBe(crc);
        expect(decoded.fields).toEqual({ definition_length: 3000, crc32: crc });
      }
    }
  });

  it('takes parts of one byte each', () => {
    const cuts = Array.from({ length: ours.length - 1 }, (_, i) => i + 1);
    expect(decode(indefinite(ours), 3000, cuts).bytes.equals(bytes)).toBe(true);
  });

  it("takes other tools' CBOR: another key order, wide integers, floats, tags, extra fields of any type, a byte string in pieces", () => {
    const pieces = Buffer.concat([
      Buffer.from([0x5f]),
      other.encode(bytes.subarray(0, 1000)),
      other.encode(bytes.subarray(1000, 1001)),
      other.encode(bytes.subarray(1001)),
      Buffer.from([0xff]),
    ]);
    const doc = Buffer.concat([
      Buffer.from([0xa4]),
      other.encode('extra'),
      other.encode({ nested: [1, 'two', { three: new Uint8Array(40) }], big: -5, f: 1.5, nothing: null }),
      other.encode('crc32'),
      other.encode(crc),
      other.encode('definition_length'),
      Buffer.from([0xf9, 0x69, 0xdc]), // 3000 as a half-precision float
      other.encode('definition'),
      pieces,
    ]);
    const decoded = decode(doc, 3000, [5, 30]);
    expect(decoded.bytes.equals(bytes)).toBe(true);
    expect(decoded.fields).toEqual({ definition_length: 3000, crc32: crc });

    const tagged = selfDescribed(other.encode({ definition: bytes, definition_length: 3000, crc32: crc }));
    expect(decode(tagged, 3000, [3]).bytes.equals(bytes)).toBe(true);

    // Integers in their widest form (8 bytes), as some encoders write them.
    const wide = Buffer.concat([
      Buffer.from([0xa3]),
      other.encode('crc32'),
      Buffer.from([0x1b]),
      Buffer.from(new BigUint64Array([BigInt(crc)]).buffer).reverse(),
      other.encode('definition_length'),
      Buffer.from([0x1b, 0, 0, 0, 0, 0, 0, 0x0b, 0xb8]),
      other.encode('definition'),
      other.encode(bytes),
    ]);
    expect(decode(wide, 3000, [2, 11]).fields).toEqual({ definition_length: 3000, crc32: crc });
  });

  it('counts a definition longer than expected without writing past the chunk buffer', () => {
    const decoded = decode(ours, 1000, [500]);
    expect(decoded.length).toBe(3000);
    expect(decoded.bytes.length).toBeLessThanOrEqual(1000);
  });

  it('names what is wrong with a document that is not a CBOR chunk', () => {
    const doc = (fields: Record<string, unknown>) => other.encode(fields);
    expect(() => decode(doc({ definition_length: 3, crc32: 1 }), 3, [])).toThrow(/no "definition" field/);
    expect(() => decode(doc({ definition: 'AQID', definition_length: 3, crc32: 1 }), 3, [])).toThrow(
      /"definition" is a text string, not a byte string: the document was stored as JSON with base64 text.*mixed-encoding/,
    );
    expect(() => decode(doc({ definition: 12, definition_length: 3, crc32: 1 }), 3, [])).toThrow(/"definition" is an unsigned integer/);
    expect(() => decode(doc({ definition: bytes, crc32: 1 }), 3000, [])).toThrow(/no "definition_length" field/);
    expect(() => decode(doc({ definition: bytes, crc32: 'x', definition_length: 3000 }), 3000, [])).toThrow(
      /"crc32" is "\(a text string\)", not a non-negative integer/,
    );
    expect(() => decode(ours.subarray(0, ours.length - 10), 3000, [40])).toThrow(/ends inside "definition"/);
    expect(() => decode(ours.subarray(0, 20), 3000, [])).toThrow(/ends early/);
    expect(() => decode(Buffer.alloc(0), 3000, [])).toThrow(/empty document/);
    expect(() => decode(other.encode([1, 2]), 3000, [])).toThrow(/not a CBOR map but an array/);
    expect(() => decode(Buffer.from('{"definition":"AQID"}'), 3, [])).toThrow(/not a CBOR map/);
  });

  it('parses a whole document the slow way, with the same checks', () => {
    expect(cborCodec.parseWhole(ours).bytes.equals(bytes)).toBe(true);
    expect(() => cborCodec.parseWhole(other.encode({ definition: 'AQID', definition_length: 3, crc32: 1 }))).toThrow(/mixed-encoding/);
  });
});
