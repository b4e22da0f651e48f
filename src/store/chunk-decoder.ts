import { crc32 } from './crc32.js';
import type { BufferPool } from './buffer-pool.js';

const DEFINITION_KEY = Buffer.from('"definition":"');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** What a chunk document's `_source` holds, `definition` decoded. */
export interface DecodedChunkSource {
  /** The decoded bytes, or the first `expected` of them when there were more (see `length`). */
  bytes: Buffer;
  /** How many bytes `definition` decodes to: more than `bytes.length` when it did not fit. */
  length: number;
  /** CRC32 of `bytes`, computed while decoding. */
  crc: number;
  /** The document's own fields besides `definition`. */
  fields: { definition_length: number; crc32: number };
}

/**
 * Decodes a chunk document's `_source` part by part as it arrives: the base64 of `definition` is
 * decoded (and checksummed) straight into a chunk buffer, and only the few fields around it are
 * kept and parsed. No copy of the body, no JSON parse of megabytes.
 *
 * `finish` returns null when the value is not plain base64 (a JSON escape in it, written by some
 * other tool, or a partial group): the caller then reads the document the slow way.
 */
export class ChunkSourceDecoder {
  #state: 'before' | 'value' | 'after' | 'escaped' = 'before';
  /** Bytes before the value, while the key is still being looked for; then the JSON up to the value. */
  #before = Buffer.alloc(0);
  readonly #after: Buffer[] = [];
  /** Base64 characters carried over to the next part, to keep decoding in whole 4-character groups. */
  readonly #carry = Buffer.alloc(4);
  #carried = 0;
  readonly #out: Buffer;
  #written = 0;
  /** Decoded bytes that did not fit in `#out`: counted, so the length error can say how many. */
  #overflow = 0;
  #crc = 0;

  constructor(expected: number, pool?: BufferPool) {
    this.#out = pool ? pool.take(expected) : Buffer.allocUnsafe(expected);
  }

  /** The chunk buffer: to be handed back to the pool when `finish` did not return it. */
  get buffer(): Buffer {
    return this.#out;
  }

  push(part: Buffer): void {
    if (this.#state === 'before') return this.#findValue(part);
    if (this.#state === 'value') return this.#decodeValue(part, 0);
    if (this.#state === 'after') this.#after.push(Buffer.from(part));
  }

  /** The decoded chunk; null when the slow way is needed; throws (SyntaxError) when the document is not one. */
  finish(): DecodedChunkSource | null {
    if (this.#state === 'escaped') return null;
    if (this.#state === 'before') throw new SyntaxError(this.#before.length === 0 ? 'empty document' : 'no "definition" field');
    if (this.#state === 'value') throw new SyntaxError('the document ends inside "definition"');
    // Not whole base64 groups: the slow way decodes it leniently, and the length check says what is wrong.
    if (this.#carried !== 0) return null;
    const fields = JSON.parse(
      `${this.#before.toString('utf8')}${Buffer.concat(this.#after).toString('utf8')}`,
    ) as DecodedChunkSource['fields'];
    const bytes = this.#out.subarray(0, this.#written);
    return { bytes, length: this.#written + this.#overflow, crc: this.#crc, fields };
  }

  #findValue(part: Buffer): void {
    const seen = this.#before.length === 0 ? part : Buffer.concat([this.#before, part]);
    const keyAt = seen.indexOf(DEFINITION_KEY);
    if (keyAt < 0) {
      this.#before = Buffer.from(seen);
      return;
    }
    const valueAt = keyAt + DEFINITION_KEY.length;
    // Kept up to the opening quote: with the closing quote that follows the value, `"definition":""`.
    this.#before = Buffer.from(seen.subarray(0, valueAt));
    this.#state = 'value';
    this.#decodeValue(seen, valueAt);
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
        this.#write(this.#carry.toString('latin1'));
        this.#carried = 0;
      }
    }
    const whole = end - ((end - at) % 4);
    if (whole > at) this.#write(part.toString('latin1', at, whole));
    for (let i = whole; i < end; i++) this.#carry[this.#carried++] = part[i]!;
  }

  #write(base64: string): void {
    const room = this.#out.length - this.#written;
    const size = Buffer.byteLength(base64, 'base64');
    if (this.#overflow > 0 || size > room) {
      this.#overflow += size;
      return;
    }
    const written = this.#out.write(base64, this.#written, 'base64');
    this.#crc = crc32(this.#out.subarray(this.#written, this.#written + written), this.#crc);
    this.#written += written;
  }
}
