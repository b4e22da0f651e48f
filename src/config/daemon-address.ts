import { isIP } from 'node:net';
import { InvalidArgumentError } from '../errors.js';

/** A TCP address: `host` is an IPv4 address, an IPv6 address (no brackets, compressed, lower case) or a host name. */
export interface TcpAddress {
  kind: 'tcp';
  host: string;
  port: number;
}

export type ListenAddress = TcpAddress | { kind: 'unix'; path: string };

/** An advertised address: `port` undefined means the port the daemon listens on. */
export interface AdvertiseAddress {
  host: string;
  port: number | undefined;
}

/** The daemon settings this file checks. */
export interface DaemonAddressSettings {
  listen: string;
  advertise?: string | undefined;
  token?: string | undefined;
  url?: string | undefined;
}

/** A token a network can guess at is no guard; 16 characters is what `openssl rand -hex 8` gives. */
export const MIN_NETWORK_TOKEN_LENGTH = 16;

const LISTEN_FORMS = 'HOST:PORT (an IPv4 address or a host name), [IPv6]:PORT, 0.0.0.0:PORT (every interface) or unix:/path/to/socket';
const TOKEN_FIX =
  'set a token with FEEDER_TOKEN or daemon.token, or name a file of mode 0600 holding it with --token-file, FEEDER_TOKEN_FILE or daemon.tokenFile (make one with: openssl rand -hex 32)';

/** `daemon.listen`; a bare PORT and `localhost:PORT` mean 127.0.0.1, as they always did. */
export function parseListenAddress(listen: string, what = 'daemon.listen'): ListenAddress {
  if (listen.startsWith('unix:')) {
    const path = listen.slice('unix:'.length);
    if (path === '') throw new InvalidArgumentError(`${what} 'unix:' names no socket; give unix:/path/to/socket`);
    return { kind: 'unix', path };
  }
  if (/^\d{1,5}$/.test(listen)) return { kind: 'tcp', host: '127.0.0.1', port: parsePort(listen, listen, what, LISTEN_FORMS) };
  const [host, port] = splitHostPort(listen, what, LISTEN_FORMS);
  if (port === undefined) throw new InvalidArgumentError(`${what} '${listen}' has no port; give ${LISTEN_FORMS}`);
  return { kind: 'tcp', host: host === 'localhost' ? '127.0.0.1' : host, port: parsePort(port, listen, what, LISTEN_FORMS) };
}

/** `daemon.advertise`: HOST, HOST:PORT, [IPv6] or [IPv6]:PORT, a host others can reach, so neither a wildcard nor port 0. */
export function parseAdvertiseAddress(advertise: string, what = 'daemon.advertise'): AdvertiseAddress {
  const forms = 'HOST or HOST:PORT (an IPv4 address or a host name), [IPv6] or [IPv6]:PORT; without a port, the port listened on';
  if (advertise.startsWith('unix:'))
    throw new InvalidArgumentError(
      `${what} '${advertise}': a Unix socket is reached from this machine only, so it is not advertised; give ${forms}`,
    );
  const [host, port] = splitHostPort(advertise, what, forms);
  if (isWildcard(host)) {
    throw new InvalidArgumentError(
      `${what} '${advertise}' is every interface, which no one can connect to; give the address others reach this daemon at`,
    );
  }
  const number = port === undefined ? undefined : parsePort(port, advertise, what, forms);
  if (number === 0) throw new InvalidArgumentError(`${what} '${advertise}': port 0 is no port to connect to; give the real port`);
  return { host, port: number };
}

/** A daemon's URL: where, and whether it speaks TLS. */
export type DaemonUrl = TcpAddress & { secure: boolean };

/** `daemon.url`, where the CLI finds a daemon: `http://HOST:PORT` or `https://HOST:PORT`, nothing else in it. */
export function parseDaemonUrl(url: string, what = 'daemon.url (FEEDER_DAEMON_URL, --daemon-url)'): DaemonUrl {
  const example = `give http://HOST:PORT or https://HOST:PORT, e.g. https://10.0.0.5:9465`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidArgumentError(`${what} '${url}' is not a URL; ${example}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new InvalidArgumentError(
      `${what} '${url}': the control API speaks http or https, not ${parsed.protocol.slice(0, -1)}; ${example}`,
    );
  if (parsed.username || parsed.password || parsed.search || parsed.hash || (parsed.pathname !== '/' && parsed.pathname !== ''))
    throw new InvalidArgumentError(
      `${what} '${url}' holds more than a host and port; ${example} (the token goes in FEEDER_TOKEN or --token-file)`,
    );
  const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
  const secure = parsed.protocol === 'https:';
  return { kind: 'tcp', host, port: parsed.port === '' ? (secure ? 443 : 80) : Number(parsed.port), secure };
}

/** Only this machine can connect: a Unix socket, 127.0.0.0/8, ::1 or localhost. */
export function isLoopback(address: ListenAddress | AdvertiseAddress): boolean {
  if ('kind' in address && address.kind === 'unix') return true;
  const { host } = address as { host: string };
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/** 0.0.0.0 or ::, every interface of the machine. */
export function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

/** `host:port`, an IPv6 address in brackets. */
export function formatHostPort(host: string, port: number): string {
  return `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

/**
 * Checks the addresses at config load. A control API that others can reach needs a token: the
 * listen address beyond loopback, or an advertised one (reached through a proxy or a port forward).
 */
export function validateDaemonAddresses(daemon: DaemonAddressSettings): void {
  for (const key of ['listen', 'advertise', 'token', 'url'] as const) {
    const value: unknown = daemon[key];
    if (value !== undefined && typeof value !== 'string')
      throw new InvalidArgumentError(`daemon.${key} must be a string; got ${JSON.stringify(value)}`);
  }
  const listen = parseListenAddress(daemon.listen);
  const advertise = daemon.advertise === undefined ? undefined : parseAdvertiseAddress(daemon.advertise);
  if (listen.kind === 'unix' && advertise && advertise.port === undefined)
    throw new InvalidArgumentError(
      `daemon.advertise '${daemon.advertise}' has no port, and a Unix socket has none to take; give HOST:PORT (the proxy's that reaches the socket)`,
    );
  if (daemon.url !== undefined) parseDaemonUrl(daemon.url);
  const exposed = exposureOf(daemon);
  if (exposed === undefined) return;
  if (!daemon.token) {
    throw new InvalidArgumentError(
      `${exposed}, so anyone on the network could drive the control API: ${TOKEN_FIX}; or listen on 127.0.0.1:PORT or unix:/path`,
    );
  }
  if (daemon.token.length < MIN_NETWORK_TOKEN_LENGTH) {
    throw new InvalidArgumentError(
      `${exposed}, and the daemon's token is ${daemon.token.length} characters long, which a network can guess; beyond loopback it must be at least ${MIN_NETWORK_TOKEN_LENGTH}: ${TOKEN_FIX}`,
    );
  }
}

/** How the control API reaches beyond loopback, said for a message; undefined when only this machine reaches it. */
export function exposureOf(daemon: DaemonAddressSettings): string | undefined {
  const listen = parseListenAddress(daemon.listen);
  const advertise = daemon.advertise === undefined ? undefined : parseAdvertiseAddress(daemon.advertise);
  if (!isLoopback(listen)) return `daemon.listen '${daemon.listen}' reaches beyond loopback`;
  if (advertise && !isLoopback(advertise)) return `daemon.advertise '${daemon.advertise}' is beyond loopback`;
  return undefined;
}

/** `[v6]`, `[v6]:port`, `host` or `host:port`, the host checked and in canonical form. */
function splitHostPort(value: string, what: string, forms: string): [host: string, port: string | undefined] {
  const match = /^(?:\[([^\]]*)\]|([^:[\]]*))(?::([^:]*))?$/.exec(value);
  if (!match) {
    const hint = (value.match(/:/g)?.length ?? 0) > 1 ? ' (an IPv6 address goes in brackets: [::1]:9465)' : '';
    throw new InvalidArgumentError(`${what} '${value}' is not an address${hint}; give ${forms}`);
  }
  const [, v6, name, port] = match;
  if (v6 !== undefined) {
    // A zone (fe80::1%eth0) names a link of this machine only; no URL can carry it.
    if (isIP(v6) !== 6 || v6.includes('%'))
      throw new InvalidArgumentError(`${what} '${value}': '${v6}' in brackets is not an IPv6 address (without a %zone); give ${forms}`);
    return [new URL(`http://[${v6}]`).hostname.slice(1, -1), port];
  }
  return [checkHostName(name!.toLowerCase(), value, what, forms), port];
}

/** An IPv4 address in dotted form, or a host name of RFC 1123 labels. */
function checkHostName(host: string, value: string, what: string, forms: string): string {
  if (isIP(host) === 4) return host;
  const label = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
  const numeric = /^[\d.]+$/.test(host);
  if (numeric || host.length > 253 || !host.split('.').every((part) => label.test(part))) {
    const problem = numeric ? 'is not an IPv4 address' : host === '' ? 'has no host' : 'is not a host name';
    throw new InvalidArgumentError(`${what} '${value}' ${problem}; give ${forms}`);
  }
  return host;
}

function parsePort(port: string, value: string, what: string, forms: string): number {
  const number = /^\d{1,5}$/.test(port) ? Number(port) : NaN;
  if (!(number <= 65535)) throw new InvalidArgumentError(`${what} '${value}': '${port}' is not a port (0 to 65535); give ${forms}`);
  return number;
}
