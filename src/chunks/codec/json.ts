import { base64Length, writeBase64 } from '../base64.js';
import type { BufferPool } from '../buffer-pool.js';
import { ChunkBuffer } from './chunk-buffer.js';
import { checkFields, type ChunkCodec, type ChunkDecoder, type ChunkToEncode, type DecodedChunkSource } from './codec.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;

/** The chunk documents Elastic ML and Eland write: JSON, the chunk as base64 text in `definition`. */
export const base64Codec: ChunkCodec = {
  encoding: 'base64',
  contentType: 'application/json',
  accept: 'application/json',
  maxDocumentSize: (chunkBytes) => JSON_HEAD_MAX + base64Length(chunkBytes) + 2,
  encode: encodeJsonChunkDoc,
  decoder: (expected, pool) => new JsonChunkDecoder(expected, pool),
  parseWhole(raw) {
    const doc = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
    if (!('definition' in doc)) throw new SyntaxError('no "definition" field');
    if (typeof doc.definition !== 'string') throw new SyntaxError(`"definition" is ${typeName(doc.definition)}, not a base64 string`);
    return { bytes: Buffer.from(doc.definition, 'base64'), fields: checkFields(doc) };
  },
};

/** Room for every field before the base64: a model id of 64 characters and numbers of up to 16 digits. */
const JSON_HEAD_MAX = 320;

/**
 * The JSON source of one chunk document, as bytes. Built by hand, with the base64 written straight
 * into the buffer, so no serializer copies it again and no multi-megabyte string is made.
 */
function encodeJsonChunkDoc(chunk: ChunkToEncode, pool?: BufferPool): Buffer {
  const total = chunk.totalLength === null ? '' : `,"total_definition_length":${chunk.totalLength}`;
  const head =
    `{"model_id":"${chunk.modelId}","generation":${chunk.generation},"doc_num":${chunk.docNum},` +
    `"definition_length":${chunk.bytes.length}${total},"crc32":${chunk.crc},"eos":${chunk.last},"definition":"`;
  const size = head.length + base64Length(chunk.bytes.length) + 2;
  const doc = pool ? pool.take(size) : Buffer.allocUnsafe(size);
  doc.write(head, 0, 'latin1');
  const end = writeBase64(chunk.bytes, doc, head.length);
  doc.write('"}', end, 'latin1');
  return doc.subarray(0, end + 2);
}

/**
 * Decodes a JSON chunk document's `_source` part by part as it arrives: the base64 of `definition`
 * is decoded (and checksummed) straight into a chunk buffer, and only the few fields around it are
 * kept and parsed. No copy of the body, no JSON parse of megabytes.
 *
 * Any valid formatting of the document is taken on this fast path (whitespace anywhere, any key
 * order, escapes in the other fields, nested fields of other tools): the structure before the value
 * is followed byte by byte, so `definition` is found as a key of the top object only. `finish`
 * returns null when the value itself is not plain base64 (a JSON escape in it, such as `\/`, or a
 * partial group): the caller then reads the document the slow way.
 */
export class JsonChunkDecoder implements ChunkDecoder {
  #state: 'before' | 'value' | 'after' | 'escaped' = 'before';
  readonly #scan = new JsonKeyScanner();
  /** Bytes before the value, up to its opening quote. */
  readonly #before: Buffer[] = [];
  readonly #after: Buffer[] = [];
  /** Base64 characters carried over to the next part, to keep decoding in whole 4-character groups. */
  readonly #carry = Buffer.alloc(4);
  #carried = 0;
  readonly #out: ChunkBuffer;

  constructor(expected: number, pool?: BufferPool) {
    this.#out = new ChunkBuffer(expected, pool);
  }

  get buffer(): Buffer {
    return this.#out.buffer;
  }

  push(part: Buffer): void {
    if (this.#state === 'before') return this.#findValue(part);
    if (this.#state === 'value') return this.#decodeValue(part, 0);
    if (this.#state === 'after') this.#after.push(Buffer.from(part));
  }

  finish(): DecodedChunkSource | null {
    if (this.#state === 'escaped') return null;
    if (this.#state === 'before') throw new SyntaxError(this.#scan.seen === 0 ? 'empty document' : this.#scan.missing());
    if (this.#state === 'value') throw new SyntaxError('the document ends inside "definition"');
    // Not whole base64 groups: the slow way decodes it leniently, and the length check says what is wrong.
    if (this.#carried !== 0) return null;
    // With the closing quote that follows the value, the rest reads `"definition":""`: valid JSON.
    const fields = JSON.parse(Buffer.concat([...this.#before, ...this.#after]).toString('utf8')) as Record<string, unknown>;
    return this.#out.result(checkFields(fields));
  }

  #findValue(part: Buffer): void {
    const valueAt = this.#scan.scan(part);
    if (valueAt < 0) {
      this.#before.push(Buffer.from(part));
      return;
    }
    this.#before.push(Buffer.from(part.subarray(0, valueAt)));
    this.#state = 'value';
    this.#decodeValue(part, valueAt);
  }

  #decodeValue(part: Buffer, start: number): void {
    const quoteAt = part.indexOf(QUOTE, start);
    const end = quoteAt < 0 ? part.length : quoteAt;
    if (part.subarray(start, end).includes(BACKSLASH)) {
      this.#state = 'escaped';
      return;
    }
    this.#decodeRun(part, start, end);
    if (quoteAt >= 0) {
      this.#state = 'after';
      this.#after.push(Buffer.from(part.subarray(quoteAt)));
    }
  }

  /** Decodes base64 characters in whole groups of 4; a partial group waits for the next part. */
  #decodeRun(part: Buffer, start: number, end: number): void {
    let at = start;
    while (this.#carried > 0 && at < end) {
      this.#carry[this.#carried++] = part[at++]!;
      if (this.#carried === 4) {
        this.#out.writeBase64(this.#carry.toString('latin1'));
        this.#carried = 0;
      }
    }
    const whole = end - ((end - at) % 4);
    if (whole > at) this.#out.writeBase64(part.toString('latin1', at, whole));
    for (let i = whole; i < end; i++) this.#carry[this.#carried++] = part[i]!;
  }
}

/**
 * Follows a JSON text byte by byte, across parts, until the string value of the top object's
 * `definition` key begins. Only the few hundred bytes before that value pass through here.
 */
class JsonKeyScanner {
  /** Bytes scanned so far. */
  seen = 0;
  #depth = 0;
  #inString = false;
  #escaped = false;
  /** At depth 1, whether the next string is a key. */
  #expectKey = false;
  /** The key being read, raw (escapes and all), or null when the string being read is not a key. */
  #key: number[] | null = null;
  #lastKey: string | null = null;
  /** After `"definition":`, waiting for its value. */
  #awaitingValue = false;
  #ended = false;

  /** The offset just after the opening quote of the value, or -1 when it has not started in `part`. */
  scan(part: Buffer): number {
    for (let i = 0; i < part.length; i++) {
      const byte = part[i]!;
      this.seen += 1;
      if (this.#inString) {
        this.#inStringByte(byte);
        continue;
      }
      if (byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09) continue;
      if (this.#ended) throw new SyntaxError('more than one JSON value');
      if (this.#awaitingValue) {
        if (byte === QUOTE) return i + 1;
        throw new SyntaxError(`"definition" is not a string (it starts with '${String.fromCharCode(byte)}')`);
      }
      if (this.#depth === 0 && byte !== 0x7b) throw new SyntaxError('not a JSON object');
      this.#structural(byte);
    }
    return -1;
  }

  /** Why the document, which has ended, had no value to decode. */
  missing(): string {
    return this.#ended ? 'no "definition" field' : 'the document ends early';
  }

  #inStringByte(byte: number): void {
    if (this.#escaped) this.#escaped = false;
    else if (byte === BACKSLASH) this.#escaped = true;
    else if (byte === QUOTE) {
      this.#inString = false;
      if (this.#key !== null) {
        this.#lastKey = JSON.parse(`"${Buffer.from(this.#key).toString('utf8')}"`) as string;
        this.#key = null;
      }
      return;
    }
    this.#key?.push(byte);
  }

  #structural(byte: number): void {
    switch (byte) {
      case 0x7b: // {
      case 0x5b: // [
        this.#depth += 1;
        this.#expectKey = this.#depth === 1;
        return;
      case 0x7d: // }
      case 0x5d: // ]
        this.#depth -= 1;
        if (this.#depth === 0) this.#ended = true;
        return;
      case QUOTE:
        this.#inString = true;
        if (this.#depth === 1 && this.#expectKey) {
          this.#key = [];
          this.#expectKey = false;
        }
        return;
      case COLON:
        if (this.#depth === 1 && this.#lastKey === 'definition') this.#awaitingValue = true;
        this.#lastKey = null;
        return;
      case COMMA:
        if (this.#depth === 1) this.#expectKey = true;
        return;
      default:
      // Numbers, true, false, null: nothing to follow.
    }
  }
}

function typeName(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}
