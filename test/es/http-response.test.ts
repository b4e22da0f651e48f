import { describe, expect, it } from 'vitest';
import { ResponseParser } from '../../src/es/http-response.js';

interface Parsed {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  done: boolean;
  keepAlive: boolean;
}

/** Parses `raw` cut into reads at `cuts`, as a socket might hand it over; `closed` when the connection then closes. */
function parse(raw: Buffer, cuts: number[], closed = false): Parsed {
  const parts: Buffer[] = [];
  const result: Parsed = { status: 0, headers: {}, body: Buffer.alloc(0), done: false, keepAlive: true };
  const parser = new ResponseParser({
    onHeaders(status, headers) {
      result.status = status;
      for (let i = 0; i < headers.length; i += 2) result.headers[headers[i]!.toString()] = headers[i + 1]!.toString();
    },
    // Copied at once: the view is of a read buffer that the next read overwrites.
    onData: (part) => void parts.push(Buffer.from(part)),
  });
  let from = 0;
  for (const cut of [...cuts, raw.length]) {
    // Each read in a buffer of its own, overwritten once parsed, as the socket's read buffer is.
    const read = Buffer.from(raw.subarray(from, cut));
    expect(parser.push(read)).toBe(0);
    read.fill(0x2a);
    from = cut;
  }
  result.done = closed ? parser.end() : parser.done;
  result.keepAlive = parser.keepAlive;
  result.body = Buffer.concat(parts);
  return result;
}

const BODY = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff));

function chunked(body: Buffer, sizes: number[]): Buffer {
  const pieces: Buffer[] = [];
  let at = 0;
  for (const size of sizes) {
    pieces.push(Buffer.from(`${size.toString(16)}${size % 2 ? ';ext=1' : ''}\r\n`), body.subarray(at, at + size), Buffer.from('\r\n'));
    at += size;
  }
  pieces.push(Buffer.from('0\r\nx-trailer: 1\r\n\r\n'));
  return Buffer.concat(pieces);
}

const ANSWERS: Array<{ name: string; raw: Buffer; closed?: boolean; keepAlive: boolean }> = [
  {
    name: 'a body of known length',
    raw: Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/cbor\r\ncontent-length: ${BODY.length}\r\n\r\n`), BODY]),
    keepAlive: true,
  },
  {
    name: 'a chunked body, with extensions and a trailer',
    raw: Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), chunked(BODY, [1, 100, 16, 183])]),
    keepAlive: true,
  },
  {
    name: 'a body that lasts until the connection closes',
    raw: Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n'), BODY]),
    closed: true,
    keepAlive: false,
  },
];

describe('ResponseParser', () => {
  for (const answer of ANSWERS) {
    it(`takes ${answer.name} however the reads cut it`, () => {
      const whole = parse(answer.raw, [], answer.closed);
      expect(whole).toMatchObject({ status: 200, done: true, keepAlive: answer.keepAlive });
      expect(whole.body.equals(BODY)).toBe(true);
      // Every place one cut can fall, and reads of one byte each.
      const cuts = [
        ...Array.from({ length: answer.raw.length - 1 }, (_, i) => [i + 1]),
        Array.from({ length: answer.raw.length - 1 }, (_, i) => i + 1),
      ];
      for (const at of cuts) {
        const parsed = parse(answer.raw, at, answer.closed);
        expect(parsed.done, `cut at ${at.join(',')}`).toBe(true);
        expect(parsed.body.equals(BODY), `cut at ${at.join(',')}`).toBe(true);
        expect(parsed.headers).toEqual(whole.headers);
      }
    });
  }

  it('says a body of known length that the connection cut is not done', () => {
    const raw = ANSWERS[0]!.raw;
    expect(parse(raw.subarray(0, raw.length - 1), [], true).done).toBe(false);
  });

  it('names an answer that is not HTTP, and a malformed chunk size', () => {
    expect(() => parse(Buffer.from('SSH-2.0-OpenSSH\r\n\r\n'), [])).toThrow(/not an HTTP\/1.x answer/);
    expect(() => parse(Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n'), [])).toThrow(/malformed chunk size/);
  });

  it('reads an answer without a body, and one that asks to close the connection', () => {
    expect(parse(Buffer.from('HTTP/1.1 204 No Content\r\n\r\n'), [])).toMatchObject({ status: 204, done: true, keepAlive: true });
    const closing = parse(Buffer.from('HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}'), [20]);
    expect(closing).toMatchObject({ status: 404, done: true, keepAlive: false });
    expect(closing.body.toString()).toBe('{}');
  });
});
