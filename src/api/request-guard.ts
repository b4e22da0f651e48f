import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { ListenAddress } from '../config/config.js';
import { BadRequestError, ContentTypeError, ForbiddenError } from '../errors.js';

// Without a token, that the caller is on this machine is the control API's only guard, and a web
// page open in a browser here is on this machine too. It gets through two ways:
// - DNS rebinding: a name of the attacker's resolves to 127.0.0.1, so the page's requests are
//   same-origin to the browser; only the Host header still carries the attacker's name.
// - cross-origin requests (CSRF): a page may send a "simple" request (text/plain, a form) to any
//   address without asking; the answer is hidden from it, but the request has run. The browser
//   says where the page is from (Origin, Sec-Fetch-Site), and application/json is not simple: it
//   needs a CORS preflight, which this API never grants.

// Beyond loopback the token is the guard (config refuses to listen there without one); the Host check
// stays, with the daemon's own names added, as a second line against rebinding.

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '::1'];
/** A Host header: a name or an IPv4 address, or an IPv6 address in brackets; then maybe a port. */
const HOST_HEADER = /^(?:\[([0-9a-f:.]+)\]|([^:[\]@/\s]+))(?::\d{1,5})?$/i;

/**
 * Refuses a request whose Host is not a name of this daemon, or that a page of another origin sent.
 * `hostNames` are this daemon's names beyond loopback (listening beyond it, or advertised).
 */
export function checkBrowserRequest(request: IncomingMessage, address: ListenAddress, hostNames: readonly string[] = []): void {
  checkHost(request.headers.host, address, hostNames);
  checkOrigin(request);
}

function checkHost(host: string | undefined, address: ListenAddress, hostNames: readonly string[]): void {
  const names = [...new Set([...LOOPBACK_NAMES, ...hostNames])].map(bracketed);
  const accepted = `${names.slice(0, -1).join(', ')} or ${names.at(-1)!}, with or without a port`;
  if (host === undefined) {
    // No browser reaches a Unix socket, and its clients (node's socketPath, curl --unix-socket) may send none.
    if (address.kind === 'unix') return;
    throw new BadRequestError(`the request has no Host header; send one of ${accepted}`);
  }
  const match = HOST_HEADER.exec(host);
  const name = (match?.[1] ?? match?.[2])?.toLowerCase();
  if (name === undefined || !(LOOPBACK_NAMES.includes(name) || hostNames.includes(name))) {
    throw new ForbiddenError(
      `Host ${JSON.stringify(host)} is not a name of this daemon, which accepts ${accepted} (another name could be a web page's DNS rebinding)`,
    );
  }
}

function bracketed(name: string): string {
  return name.includes(':') ? `[${name}]` : name;
}

function checkOrigin(request: IncomingMessage): void {
  const { origin, host } = request.headers;
  const scheme = (request.socket as TLSSocket).encrypted ? 'https' : 'http';
  if (origin !== undefined && origin.toLowerCase() !== `${scheme}://${host ?? ''}`.toLowerCase()) {
    throw new ForbiddenError(
      `Origin ${JSON.stringify(origin)} is not this daemon's: the control API takes no requests from web pages of other origins`,
    );
  }
  // Same-site is another origin of this site: a page on another port of this machine.
  const site = request.headers['sec-fetch-site']?.toLowerCase();
  if (site === 'cross-site' || site === 'same-site') {
    throw new ForbiddenError(`Sec-Fetch-Site ${site}: the control API takes no requests from web pages of other origins`);
  }
}

/** A body must be declared application/json (parameters such as charset allowed): see above. */
export function requireJsonBody(request: IncomingMessage): void {
  if (!hasBody(request)) return;
  const declared = request.headers['content-type'];
  if (declared?.split(';', 1)[0]!.trim().toLowerCase() === 'application/json') return;
  throw new ContentTypeError(
    `a request body must be sent with content-type application/json; got ${declared === undefined ? 'none' : JSON.stringify(declared)}`,
  );
}

function hasBody(request: IncomingMessage): boolean {
  return request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? 0) > 0;
}
