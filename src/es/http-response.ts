/** What a response parser tells its request, in the order undici's dispatch handlers are told. */
export interface ResponseSink {
  /** `headers`: raw names and values, alternating, as undici hands them over. */
  onHeaders(status: number, headers: Buffer[]): void;
  /** A part of the body: a view of the read buffer, valid only during the call. */
  onData(part: Buffer): void;
}

/** At most this much of a response head is read: Elasticsearch's are a few hundred bytes. */
const HEAD_LIMIT = 64 * 1024;
const LF = 0x0a;
const EMPTY = Buffer.alloc(0);
const END_OF_HEAD = Buffer.from('\r\n\r\n');

type State = 'head' | 'length' | 'size' | 'data' | 'data-end' | 'trailer' | 'until-close' | 'done';

/**
 * One HTTP/1.1 response to a GET, parsed from socket reads as they come: the head gathered (a few
 * hundred bytes), the body handed over as views of each read, never copied. A body of known length,
 * a chunked one, and one that lasts until the connection closes are all taken.
 */
export class ResponseParser {
  #state: State = 'head';
  #head: Buffer = EMPTY;
  /** Body bytes still to come (a content length, or the current chunk of a chunked body). */
  #left = 0;
  /** A chunk-size or trailer line cut by the end of a read. */
  #line = '';
  #keepAlive = true;

  constructor(private readonly sink: ResponseSink) {}

  get done(): boolean {
    return this.#state === 'done';
  }

  get headDone(): boolean {
    return this.#state !== 'head';
  }

  /** Whether the connection may carry another request once this response is done. */
  get keepAlive(): boolean {
    return this.#keepAlive;
  }

  /** Takes one read; returns the bytes after the response's end (which a GET's server never sends), throws on a malformed answer. */
  push(data: Buffer): number {
    let at = 0;
    while (at < data.length && this.#state !== 'done') at = this.#step(data, at);
    return data.length - at;
  }

  /** The connection closed: completes a body that lasts until then, or says the answer was cut. */
  end(): boolean {
    if (this.#state === 'until-close') this.#state = 'done';
    return this.#state === 'done';
  }

  #step(data: Buffer, at: number): number {
    switch (this.#state) {
      case 'head':
        return this.#readHead(data, at);
      case 'length':
      case 'data':
      case 'until-close':
        return this.#readBody(data, at);
      case 'size':
      case 'data-end':
      case 'trailer':
        return this.#readLine(data, at);
      default:
        return data.length;
    }
  }

  #readHead(data: Buffer, at: number): number {
    const before = this.#head.length;
    // Usually the whole head is in the first read; otherwise it is gathered, and its end may straddle two reads.
    const head = before === 0 ? data.subarray(at) : Buffer.concat([this.#head, data.subarray(at)]);
    const end = head.indexOf(END_OF_HEAD, Math.max(0, before - 3));
    if (end < 0) {
      if (head.length > HEAD_LIMIT) throw new Error(`a response head of more than ${HEAD_LIMIT} bytes`);
      this.#head = Buffer.from(head);
      return data.length;
    }
    this.#parseHead(head.toString('latin1', 0, end));
    this.#head = EMPTY;
    return at + end + END_OF_HEAD.length - before;
  }

  #parseHead(text: string): void {
    const lines = text.split('\r\n').filter((line) => line !== '');
    const status = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0] ?? '');
    if (!status) throw new Error(`not an HTTP/1.x answer: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
    const raw: Buffer[] = [];
    let length: number | null = null;
    let chunked = false;
    this.#keepAlive = status[1] === '1';
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`a malformed response header: ${JSON.stringify(line.slice(0, 80))}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      raw.push(Buffer.from(name, 'latin1'), Buffer.from(value, 'latin1'));
      if (name === 'content-length') length = Number(value);
      else if (name === 'transfer-encoding') chunked = value.toLowerCase().endsWith('chunked');
      else if (name === 'connection')
        this.#keepAlive = value.toLowerCase() === 'keep-alive' || (this.#keepAlive && value.toLowerCase() !== 'close');
    }
    const code = Number(status[2]);
    this.sink.onHeaders(code, raw);
    if (code === 204 || code === 304) this.#state = 'done';
    else if (chunked) this.#state = 'size';
    else if (length !== null) this.#startLength(length);
    else {
      this.#state = 'until-close';
      this.#keepAlive = false;
    }
  }

  #startLength(length: number): void {
    if (!Number.isSafeInteger(length) || length < 0) throw new Error(`a malformed content-length: ${length}`);
    this.#left = length;
    this.#state = length === 0 ? 'done' : 'length';
  }

  #readBody(data: Buffer, at: number): number {
    const end = this.#state === 'until-close' ? data.length : Math.min(data.length, at + this.#left);
    if (end > at) this.sink.onData(data.subarray(at, end));
    if (this.#state === 'until-close') return end;
    this.#left -= end - at;
    if (this.#left === 0) this.#state = this.#state === 'length' ? 'done' : 'data-end';
    return end;
  }

  /** A line of a chunked body: a chunk's size, the CRLF after its data, or a trailer; it may span reads. */
  #readLine(data: Buffer, at: number): number {
    const eol = data.indexOf(LF, at);
    this.#line += data.toString('latin1', at, eol < 0 ? data.length : eol);
    if (this.#line.length > 1024) throw new Error('a malformed chunked body');
    if (eol < 0) return data.length;
    const line = this.#line.endsWith('\r') ? this.#line.slice(0, -1) : this.#line;
    this.#line = '';
    this.#takeLine(line);
    return eol + 1;
  }

  #takeLine(line: string): void {
    if (this.#state === 'data-end') {
      if (line !== '') throw new Error('a malformed chunked body: no CRLF after a chunk');
      this.#state = 'size';
    } else if (this.#state === 'trailer') {
      if (line === '') this.#state = 'done';
    } else {
      const size = Number.parseInt(line.split(';')[0]!.trim(), 16);
      if (!Number.isSafeInteger(size) || size < 0) throw new Error(`a malformed chunk size: ${JSON.stringify(line.slice(0, 40))}`);
      this.#left = size;
      this.#state = size === 0 ? 'trailer' : 'data';
    }
  }
}
