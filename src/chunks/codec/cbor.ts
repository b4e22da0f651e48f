import { decode } from 'cborg';
import type { BufferPool } from '../buffer-pool.js';
import { ChunkBuffer } from './chunk-buffer.js';
import { checkFields, type ChunkCodec, type ChunkDecoder, type ChunkToEncode, type DecodedChunkSource } from './codec.js';

/**
 * CBOR chunk documents: the chunk is a raw byte string in `definition`, a `binary` field that
 * Elasticsearch keeps in `_source` as sent and answers, to a GET with `Accept: application/cbor`,
 * as a byte string again. No base64 on the wire or on disk.
 */
export const cborCodec: ChunkCodec = {
  encoding: 'cbor',
  contentType: 'application/cbor',
  accept: 'application/cbor',
  maxDocumentSize: (chunkBytes) => CBOR_HEAD_MAX + chunkBytes,
  encode: encodeCborChunkDoc,
  decoder: (expected, pool) => new CborChunkDecoder(expected, pool),
  // The streaming decoder takes every document whole too: it never hands one back to the slow way.
  parseWhole(raw) {
    const decoder = new CborChunkDecoder(raw.length);
    decoder.push(raw);
    const { bytes, fields } = decoder.finish();
    return { bytes, fields };
  },
};

/** Decodes a whole CBOR value, such as an error answer of Elasticsearch to a CBOR request. */
export function decodeCbor(raw: Buffer): unknown {
  return decode(raw);
}

/** Room for every field before the chunk: a model id of 64 characters and 8-byte numbers. */
const CBOR_HEAD_MAX = 256;

const MAJOR_UINT = 0;
const MAJOR_NEGINT = 1;
const MAJOR_BYTES = 2;
const MAJOR_TEXT = 3;
const MAJOR_ARRAY = 4;
const MAJOR_MAP = 5;
const MAJOR_TAG = 6;
const MAJOR_SIMPLE = 7;
const INDEFINITE = 31;
const BREAK = 0xff;

/**
 * The CBOR source of one chunk document, the chunk copied once into a buffer from `pool`. Written
 * by hand: the shape is fixed, and a general encoder would build the same bytes in a buffer of its
 * own that would have to be copied again to be kept while the request is in flight.
 */
function encodeCborChunkDoc(chunk: ChunkToEncode, pool?: BufferPool): Buffer {
  const head = Buffer.allocUnsafe(CBOR_HEAD_MAX + Buffer.byteLength(chunk.modelId));
  let at = writeHead(head, 0, MAJOR_MAP, chunk.totalLength === null ? 7 : 8);
  const text = (value: string) => {
    at = writeHead(head, at, MAJOR_TEXT, Buffer.byteLength(value));
    at += head.write(value, at, 'utf8');
  };
  const uint = (key: string, value: number) => {
    text(key);
    at = writeHead(head, at, MAJOR_UINT, value);
  };
  text('model_id');
  text(chunk.modelId);
  uint('generation', chunk.generation);
  uint('doc_num', chunk.docNum);
  uint('definition_length', chunk.bytes.length);
  if (chunk.totalLength !== null) uint('total_definition_length', chunk.totalLength);
  uint('crc32', chunk.crc);
  text('eos');
  head[at++] = chunk.last ? 0xf5 : 0xf4;
  text('definition');
  at = writeHead(head, at, MAJOR_BYTES, chunk.bytes.length);
  const size = at + chunk.bytes.length;
  const doc = pool ? pool.take(size) : Buffer.allocUnsafe(size);
  head.copy(doc, 0, 0, at);
  chunk.bytes.copy(doc, at);
  return doc;
}

/** Writes the head of a data item: major type and argument, in the shortest form. */
function writeHead(target: Buffer, at: number, major: number, value: number): number {
  const type = major << 5;
  if (value < 24) {
    target[at] = type | value;
    return at + 1;
  }
  if (value < 0x100) {
    target[at] = type | 24;
    target[at + 1] = value;
    return at + 2;
  }
  if (value < 0x10000) {
    target[at] = type | 25;
    target.writeUInt16BE(value, at + 1);
    return at + 3;
  }
  if (value < 0x100000000) {
    target[at] = type | 26;
    target.writeUInt32BE(value, at + 1);
    return at + 5;
  }
  target[at] = type | 27;
  target.writeBigUInt64BE(BigInt(value), at + 1);
  return at + 9;
}

/** One data item's head: its major type, and its argument (a length, a count or a value); null when indefinite. */
interface Head {
  major: number;
  info: number;
  argument: number | null;
  /** The head's own length in bytes. */
  size: number;
}

/** The head at `at`, or undefined when `buf` ends before it does. */
function readHead(buf: Buffer, at: number): Head | undefined {
  if (at >= buf.length) return undefined;
  const initial = buf[at]!;
  const major = initial >> 5;
  const info = initial & 0x1f;
  if (info < 24) return { major, info, argument: info, size: 1 };
  if (info === INDEFINITE) {
    if (major === MAJOR_UINT || major === MAJOR_NEGINT || major === MAJOR_TAG) throw new SyntaxError('not a valid CBOR item');
    return { major, info, argument: null, size: 1 };
  }
  if (info > 27) throw new SyntaxError('not a valid CBOR item');
  const width = 1 << (info - 24);
  if (at + 1 + width > buf.length) return undefined;
  let argument: number;
  if (width === 1) argument = buf[at + 1]!;
  else if (width === 2) argument = buf.readUInt16BE(at + 1);
  else if (width === 4) argument = buf.readUInt32BE(at + 1);
  else argument = Number(buf.readBigUInt64BE(at + 1));
  return { major, info, argument, size: 1 + width };
}

/** The offset after the whole item at `at`, or undefined when `buf` ends before it does. */
function skipItem(buf: Buffer, at: number, depth = 0): number | undefined {
  if (depth > 64) throw new SyntaxError('nested too deeply');
  const head = readHead(buf, at);
  if (!head) return undefined;
  let next = at + head.size;
  switch (head.major) {
    case MAJOR_UINT:
    case MAJOR_NEGINT:
      return next;
    case MAJOR_BYTES:
    case MAJOR_TEXT:
      if (head.argument !== null) return next + head.argument <= buf.length ? next + head.argument : undefined;
      return skipUntilBreak(buf, next, depth);
    case MAJOR_ARRAY:
    case MAJOR_MAP: {
      const items = head.argument === null ? null : head.argument * (head.major === MAJOR_MAP ? 2 : 1);
      if (items === null) return skipUntilBreak(buf, next, depth);
      for (let i = 0; i < items; i++) {
        const after = skipItem(buf, next, depth + 1);
        if (after === undefined) return undefined;
        next = after;
      }
      return next;
    }
    case MAJOR_TAG:
      return skipItem(buf, next, depth + 1);
    default:
      // Simple values and floats: the argument was their whole content.
      if (head.argument === null) throw new SyntaxError('a CBOR break where a value was expected');
      return next;
  }
}

function skipUntilBreak(buf: Buffer, at: number, depth: number): number | undefined {
  let next = at;
  for (;;) {
    if (next >= buf.length) return undefined;
    if (buf[next] === BREAK) return next + 1;
    const after = skipItem(buf, next, depth + 1);
    if (after === undefined) return undefined;
    next = after;
  }
}

/** A text string at `at`, definite or in pieces: its value and the offset after it; undefined when incomplete. */
function readText(buf: Buffer, at: number): { value: string; next: number } | undefined {
  const head = readHead(buf, at)!;
  const end = skipItem(buf, at);
  if (end === undefined) return undefined;
  if (head.argument !== null) return { value: buf.toString('utf8', at + head.size, end), next: end };
  const pieces: Buffer[] = [];
  for (let next = at + 1; buf[next] !== BREAK;) {
    const piece = readHead(buf, next)!;
    if (piece.major !== MAJOR_TEXT || piece.argument === null) throw new SyntaxError('a text string in pieces holds something else');
    pieces.push(buf.subarray(next + piece.size, next + piece.size + piece.argument));
    next += piece.size + piece.argument;
  }
  return { value: Buffer.concat(pieces).toString('utf8'), next: end };
}

/** A number field's value (integers, or floats that hold one); anything else is kept as its CBOR type. */
function readNumber(buf: Buffer, at: number, head: Head): unknown {
  if (head.major === MAJOR_UINT) return head.argument;
  if (head.major === MAJOR_NEGINT) return -1 - head.argument!;
  if (head.major === MAJOR_SIMPLE) {
    if (head.info === 25) return halfToNumber(buf.readUInt16BE(at + 1));
    if (head.info === 26) return buf.readFloatBE(at + 1);
    if (head.info === 27) return buf.readDoubleBE(at + 1);
  }
  return `(${MAJOR_NAMES[head.major]})`;
}

function halfToNumber(half: number): number {
  const exponent = (half >> 10) & 0x1f;
  const fraction = half & 0x3ff;
  const sign = half & 0x8000 ? -1 : 1;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

const MAJOR_NAMES = [
  'an unsigned integer',
  'a negative integer',
  'a byte string',
  'a text string',
  'an array',
  'a map',
  'a tag',
  'a simple value',
];

function notBytesMessage(what: string): string {
  const hint =
    what === 'a text string'
      ? ': the document was stored as JSON with base64 text, in a model whose chunks are CBOR (a mixed-encoding generation)'
      : '';
  return `"definition" is ${what}, not a byte string${hint}`;
}

/**
 * Decodes a CBOR chunk document's `_source` part by part as it arrives. The items around the chunk
 * are a few hundred bytes, gathered and parsed as they complete; the byte string of `definition` is
 * copied from each part straight into the chunk buffer and checksummed there: no base64, no copy of
 * the body. Any valid CBOR of our document shape is taken: maps of definite or indefinite length (as
 * Elasticsearch answers them), any key order, integers of any width, a byte string in pieces, tags,
 * and other tools' fields of any type, skipped.
 */
export class CborChunkDecoder implements ChunkDecoder {
  /** `items`: reading the map's items; `bytes`: copying a byte string (piece); `pieces`: between pieces. */
  #state: 'start' | 'items' | 'bytes' | 'pieces' | 'done' = 'start';
  /** Bytes of an item that is not complete yet, kept for the next part. */
  #pending: Buffer | null = null;
  /** Map items (keys and values) still to read; null for a map of indefinite length. */
  #itemsLeft: number | null = 0;
  /** The key whose value comes next, or null when a key comes next. */
  #key: string | null = null;
  #seenDefinition = false;
  /** Bytes of the current byte string (piece) still to copy. */
  #bytesLeft = 0;
  /** Whether the byte string being copied is a piece of an indefinite one. */
  #inPieces = false;
  readonly #fields: Record<string, unknown> = {};
  readonly #out: ChunkBuffer;
  #received = 0;

  constructor(expected: number, pool?: BufferPool) {
    this.#out = new ChunkBuffer(expected, pool);
  }

  get buffer(): Buffer {
    return this.#out.buffer;
  }

  push(part: Buffer): void {
    this.#received += part.length;
    let buf = part;
    if (this.#pending) {
      buf = Buffer.concat([this.#pending, part]);
      this.#pending = null;
    }
    let at = 0;
    while (at < buf.length) {
      if (this.#state === 'bytes') {
        at = this.#copy(buf, at);
        continue;
      }
      const next = this.#step(buf, at);
      if (next === undefined) {
        // An item cut by the end of the part: kept, small, until the rest arrives.
        this.#pending = Buffer.from(buf.subarray(at));
        return;
      }
      at = next;
    }
  }

  finish(): DecodedChunkSource {
    if (this.#received === 0) throw new SyntaxError('empty document');
    if (this.#state === 'bytes' || this.#state === 'pieces') throw new SyntaxError('the document ends inside "definition"');
    if (this.#state !== 'done') throw new SyntaxError('the document ends early');
    if (!this.#seenDefinition) throw new SyntaxError('no "definition" field');
    const fields = checkFields(this.#fields);
    return this.#out.result(fields);
  }

  /** Reads one item at `at`; returns the offset after it, or undefined when `buf` ends before it does. */
  #step(buf: Buffer, at: number): number | undefined {
    switch (this.#state) {
      case 'start':
        return this.#start(buf, at);
      case 'items':
        return this.#item(buf, at);
      case 'pieces':
        return this.#piece(buf, at);
      default:
        throw new SyntaxError('more data after the document');
    }
  }

  #start(buf: Buffer, at: number): number | undefined {
    let next = at;
    // Tags on the document itself (such as the self-described CBOR tag) say nothing to us.
    for (let head = readHead(buf, next); head?.major === MAJOR_TAG; head = readHead(buf, next)) next += head.size;
    const head = readHead(buf, next);
    if (!head) return undefined;
    if (head.major !== MAJOR_MAP) throw new SyntaxError(`not a CBOR map but ${MAJOR_NAMES[head.major]}`);
    this.#itemsLeft = head.argument === null ? null : head.argument * 2;
    this.#state = 'items';
    if (this.#itemsLeft === 0) this.#state = 'done';
    return next + head.size;
  }

  #item(buf: Buffer, at: number): number | undefined {
    if (this.#itemsLeft === null && buf[at] === BREAK) {
      if (this.#key !== null) throw new SyntaxError('the map ends after a key without its value');
      this.#state = 'done';
      return at + 1;
    }
    // The value of `definition` is counted once its bytes are read (#endOfDefinition).
    const isDefinition = this.#key === 'definition';
    const next = this.#key === null ? this.#readKey(buf, at) : this.#readValue(buf, at, this.#key);
    if (next === undefined) return undefined;
    if (!isDefinition) this.#countItem();
    return next;
  }

  #readKey(buf: Buffer, at: number): number | undefined {
    const head = readHead(buf, at);
    if (!head) return undefined;
    if (head.major !== MAJOR_TEXT) {
      // Not a key of ours: its value is skipped too.
      const end = skipItem(buf, at);
      if (end !== undefined) this.#key = '';
      return end;
    }
    const key = readText(buf, at);
    if (key) this.#key = key.value;
    return key?.next;
  }

  #readValue(buf: Buffer, at: number, key: string): number | undefined {
    if (key === 'definition') return this.#definitionStart(buf, at);
    const end = skipItem(buf, at);
    if (end === undefined) return undefined;
    if (key === 'definition_length' || key === 'crc32') this.#fields[key] = readNumber(buf, at, readHead(buf, at)!);
    this.#key = null;
    return end;
  }

  #definitionStart(buf: Buffer, at: number): number | undefined {
    let next = at;
    for (let head = readHead(buf, next); head?.major === MAJOR_TAG; head = readHead(buf, next)) next += head.size;
    const head = readHead(buf, next);
    if (!head) return undefined;
    if (head.major !== MAJOR_BYTES) throw new SyntaxError(notBytesMessage(MAJOR_NAMES[head.major]!));
    if (this.#seenDefinition) throw new SyntaxError('two "definition" fields');
    this.#seenDefinition = true;
    this.#key = null;
    this.#inPieces = head.argument === null;
    if (this.#inPieces) this.#state = 'pieces';
    else this.#startBytes(head.argument!);
    return next + head.size;
  }

  /** Between the pieces of a byte string of indefinite length: the next piece's head, or the break. */
  #piece(buf: Buffer, at: number): number | undefined {
    if (buf[at] === BREAK) {
      this.#endOfDefinition();
      return at + 1;
    }
    const head = readHead(buf, at);
    if (!head) return undefined;
    if (head.major !== MAJOR_BYTES || head.argument === null) throw new SyntaxError('a byte string in pieces holds something else');
    this.#startBytes(head.argument);
    return at + head.size;
  }

  #startBytes(length: number): void {
    this.#bytesLeft = length;
    this.#state = 'bytes';
    if (length === 0) this.#endOfBytes();
  }

  /** Copies what `buf` holds of the byte string from `at` into the chunk buffer; returns the offset after it. */
  #copy(buf: Buffer, at: number): number {
    const end = Math.min(buf.length, at + this.#bytesLeft);
    const size = end - at;
    this.#out.copy(buf, at, end);
    this.#bytesLeft -= size;
    if (this.#bytesLeft === 0) this.#endOfBytes();
    return end;
  }

  #endOfBytes(): void {
    if (this.#inPieces) this.#state = 'pieces';
    else this.#endOfDefinition();
  }

  #endOfDefinition(): void {
    this.#state = 'items';
    this.#countItem();
  }

  #countItem(): void {
    if (this.#itemsLeft === null) return;
    this.#itemsLeft -= 1;
    if (this.#itemsLeft === 0) this.#state = 'done';
  }
}
