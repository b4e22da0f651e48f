import { hostname, networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { formatHostPort, isWildcard, parseAdvertiseAddress, type AdvertiseAddress, type ListenAddress } from '../config/daemon-address.js';

export type Interfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

/** How others reach this daemon: the address it advertises, and the names a request's Host may carry. */
export interface Reach {
  /** undefined for a Unix socket that advertises nothing: it is reached at its path, on this machine only. */
  advertise: AdvertiseAddress | undefined;
  /** Names besides the loopback ones (lower case, IPv6 without brackets) that are this daemon's. */
  hostNames: string[];
  /** When the advertised host was picked among the machine's addresses, every one it could have been. */
  candidates: string[];
}

/**
 * `daemon.advertise` when given; else the host listened on. On every interface (0.0.0.0, ::) that
 * is no address, so the machine's first address others can reach is taken, as Elasticsearch picks
 * its publish address when bound to 0.0.0.0: the daemon starts without a further setting, and a
 * machine of several networks names the right one with --advertise.
 */
export function reachOf(listen: ListenAddress, advertise: string | undefined, interfaces: Interfaces = networkInterfaces()): Reach {
  const given = advertise === undefined ? undefined : parseAdvertiseAddress(advertise);
  const wildcard = listen.kind === 'tcp' && isWildcard(listen.host);
  const candidates = wildcard && !given ? reachableAddresses(listen.host, interfaces) : [];
  const fallback = wildcard && listen.host === '::' ? '::1' : '127.0.0.1';
  const host = given?.host ?? (listen.kind === 'unix' ? undefined : wildcard ? (candidates[0] ?? fallback) : listen.host);
  const names = wildcard ? [...allAddresses(interfaces), hostname().toLowerCase()] : [];
  if (listen.kind === 'tcp' && !wildcard) names.push(listen.host);
  if (host !== undefined) names.push(host);
  return { advertise: host === undefined ? undefined : { host, port: given?.port }, hostNames: [...new Set(names)], candidates };
}

/** The advertised address once listening: `bound` is where the control API listens (the real port of port 0). */
export function advertisedAddress(reach: Reach, bound: string): string {
  if (!reach.advertise) return bound;
  return formatHostPort(reach.advertise.host, reach.advertise.port ?? Number(bound.slice(bound.lastIndexOf(':') + 1)));
}

/** Addresses of this machine that other machines may reach: not loopback nor link-local; IPv4 first. */
function reachableAddresses(wildcard: string, interfaces: Interfaces): string[] {
  const all = Object.values(interfaces).flatMap((list) => list ?? []);
  const usable = all.filter((i) => !i.internal && !/^(?:169\.254\.|fe[89ab][0-9a-f]:)/i.test(i.address));
  const v4 = usable.filter((i) => i.family === 'IPv4').map((i) => i.address);
  const v6 = usable.filter((i) => i.family === 'IPv6').map((i) => i.address.toLowerCase());
  // 0.0.0.0 takes IPv4 connections only; :: takes both.
  return wildcard === '::' ? [...v4, ...v6] : v4;
}

function allAddresses(interfaces: Interfaces): string[] {
  return Object.values(interfaces).flatMap((list) => (list ?? []).map((i) => i.address.toLowerCase()));
}
