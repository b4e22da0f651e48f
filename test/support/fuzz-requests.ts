import { requestBytes } from './raw-http.js';
import type { Random } from './seeded.js';

export interface FuzzTarget {
  /** The daemon's `127.0.0.1:PORT`, the Host and Origin it should accept. */
  listen: string;
  token: string;
  /** The deployment that must come through untouched: never the target of a DELETE. */
  liveId: string;
  /** An id that is not deployed, for the DELETEs. */
  ghostId: string;
}

export interface FuzzCase {
  bytes: Buffer;
  /** What was sent, for the failure message. */
  description: string;
  /** It carries the right token (in any case of `Bearer`). */
  authenticated: boolean;
  /** Its path is /healthz, which needs no token. */
  healthz: boolean;
  /** A HEAD answer has no body to check. */
  head: boolean;
}

const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const chance = (random: Random, p: number): boolean => random() < p;
const integer = (random: Random, below: number): number => Math.floor(random() * below);

/** One random request: mostly well-formed enough to reach the router, the rest malformed on purpose. */
export function fuzzCase(random: Random, target: FuzzTarget): FuzzCase {
  const method = pick(random, [
    'GET',
    'GET',
    'POST',
    'POST',
    'PUT',
    'DELETE',
    'PATCH',
    'OPTIONS',
    'HEAD',
    'TRACE',
    'CONNECT',
    'get',
    'FOO',
    'PROPFIND',
  ]);
  const path = randomTarget(random, method === 'DELETE' ? target.ghostId : target.liveId);
  const headers: Array<[string, string]> = [];
  addHost(random, headers, target.listen);
  const authorization = randomAuthorization(random, target.token);
  if (authorization !== undefined) headers.push(['authorization', authorization]);
  if (chance(random, 0.15))
    headers.push(['origin', pick(random, [`http://${target.listen}`, 'http://evil.example', 'null', 'http://127.0.0.1:1'])]);
  if (chance(random, 0.1)) headers.push(['sec-fetch-site', pick(random, ['cross-site', 'same-site', 'same-origin', 'none', 'bogus'])]);
  const body =
    method === 'GET' || method === 'HEAD'
      ? chance(random, 0.1)
        ? randomBody(random)
        : undefined
      : chance(random, 0.7)
        ? randomBody(random)
        : undefined;
  if (body !== undefined) addContentType(random, headers);
  if (chance(random, 0.2)) addJunk(random, headers);
  const version = chance(random, 0.95) ? 'HTTP/1.1' : pick(random, ['HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'HTTX/1.1']);
  const framed = body === undefined ? undefined : frame(random, headers, Buffer.from(body));
  const bytes = requestBytes({ method, target: path, headers, version, ...(framed === undefined ? {} : { body: framed }) });
  return {
    bytes,
    description: bytes.subarray(0, 600).toString('latin1'),
    authenticated: authorization !== undefined && new RegExp(`^bearer +${target.token}$`, 'i').test(authorization.trim()),
    healthz: path.split('?')[0] === '/healthz',
    head: method === 'HEAD',
  };
}

function randomTarget(random: Random, id: string): string {
  const path = pick(random, [
    '/',
    '/healthz',
    '/healthz?x=1',
    '/metrics',
    '/deployments',
    '/deployments/',
    `/deployments/${id}`,
    `/deployments/${id}`,
    `/deployments/${id}/infer`,
    `/deployments/${id}/infer`,
    `/deployments/${id}?pretty`,
    `//other.host/deployments/${id}`,
    `/\\other.host/deployments/${id}`,
    '/\\[',
    '/\\a:99999',
    `http://other.host/deployments/${id}`,
    '*',
    'other.host:443',
    `/deployments/x/../${id}`,
    '/deployments/%E0%A4%A',
    '/deployments/%2e%2e',
    `/deployments/${'a'.repeat(300)}`,
    '/../../etc/passwd',
    '/deployments/a/b/c',
    `/deployments/${id}/infer/`,
    '/%00',
    '/deployments/%2F',
    '/deployments//infer',
  ]);
  return chance(random, 0.3) ? insertNoise(random, path) : path;
}

/** Only inserts: a target built on the ghost id never turns into the live one. */
function insertNoise(random: Random, path: string): string {
  const noise = [
    '/',
    '\\',
    '?',
    '#',
    '%',
    '%2',
    '%zz',
    '.',
    '..',
    ':',
    '@',
    '[',
    ']',
    '~',
    ';',
    '=',
    '+',
    '\t',
    '\x00',
    '\x7f',
    '\xe9',
    '"',
    '<',
    '{',
    'A',
  ];
  let out = path;
  for (let n = 1 + integer(random, 3); n > 0; n -= 1) {
    const at = integer(random, out.length + 1);
    out = out.slice(0, at) + pick(random, noise) + out.slice(at);
  }
  return out;
}

function addHost(random: Random, headers: Array<[string, string]>, listen: string): void {
  const port = listen.split(':').pop()!;
  if (chance(random, 0.7)) return void headers.push(['host', listen]);
  const host = pick(random, [
    'localhost',
    `[::1]:${port}`,
    `LOCALHOST:${port}`,
    'evil.example',
    `evil.example:${port}`,
    '127.0.0.1.nip.io',
    '',
    undefined,
    'two',
  ]);
  if (host === 'two') headers.push(['host', 'evil.example'], ['host', listen]);
  else if (host !== undefined) headers.push(['host', host]);
}

function randomAuthorization(random: Random, token: string): string | undefined {
  if (chance(random, 0.5)) return `Bearer ${token}`;
  return pick(random, [
    `bearer ${token}`,
    `BEARER ${token}`,
    'Bearer wrong',
    `Bearer ${token}x`,
    `Basic ${Buffer.from(`x:${token}`).toString('base64')}`,
    'Bearer',
    token,
    undefined,
    undefined,
  ]);
}

function addContentType(random: Random, headers: Array<[string, string]>): void {
  const type = pick(random, [
    'application/json',
    'application/json',
    'application/json; charset=utf-8',
    'APPLICATION/JSON',
    'text/plain',
    'multipart/form-data; boundary=x',
    'application/json, text/plain',
    undefined,
  ]);
  if (type !== undefined) headers.push(['content-type', type]);
}

function randomBody(random: Random): string | Buffer {
  return pick(random, [
    () => '',
    () => '{',
    () => '{}',
    () => 'null',
    () => '[]',
    () => '{"tokens":[[1e308]]}',
    () => '{"tokens":[[-1]]}',
    () => `{"tokens":[[${integer(random, 2 ** 31)},${integer(random, 1000)}]]}`,
    () => `{"tokens":[[${integer(random, 100)}]]}`,
    () => '{"wait_for":"started","timeout_ms":-5}',
    () => '{"wait_for":"starting","timeout_ms":0}',
    () => '{"tokens":' + '['.repeat(5000),
    () => Buffer.from(Array.from({ length: 1 + integer(random, 2000) }, () => integer(random, 256))),
    () => (chance(random, 0.1) ? 'x'.repeat(70 * 1024) : '{}'),
  ])();
}

/** The body as sent: mostly with a right content-length, sometimes chunked, sometimes framed wrongly. */
function frame(random: Random, headers: Array<[string, string]>, body: Buffer): Buffer {
  const chunked = Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
  const way = random();
  if (way < 0.8) return body;
  if (way < 0.88) return (headers.push(['transfer-encoding', 'chunked']), body.length === 0 ? Buffer.from('0\r\n\r\n') : chunked);
  return pick(random, [
    () => (headers.push(['content-length', 'abc']), body),
    () => (headers.push(['content-length', String(body.length)], ['content-length', String(body.length + 1)]), body),
    () => (headers.push(['content-length', String(body.length)], ['transfer-encoding', 'chunked']), chunked),
    () => (headers.push(['transfer-encoding', 'gzip']), body),
    () => (headers.push(['transfer-encoding', 'chunked']), Buffer.from('zz\r\nhello\r\n0\r\n\r\n')),
    () => (headers.push(['content-length', String(Math.floor(body.length / 2))]), body),
  ])();
}

function addJunk(random: Random, headers: Array<[string, string]>): void {
  headers.push(
    pick(random, [
      ['x-junk', 'é\u00ff'],
      ['expect', '100-continue'],
      ['expect', 'something-else'],
      ['upgrade', 'websocket'],
      ['x-long', 'y'.repeat(20 * 1024)],
      ['bad name', 'x'],
      ['x-nul', 'a\x00b'],
      ['accept', 'text/html'],
    ] as Array<[string, string]>),
  );
}
