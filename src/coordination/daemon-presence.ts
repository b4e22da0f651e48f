import { formatHostPort, isWildcard, parseListenAddress } from '../config/daemon-address.js';
import { DaemonError } from '../errors.js';
import { abortable, type Es } from '../es/es.js';
import { hasStatus } from '../es/translate.js';
import { ifVersion, nullOnConflict, sourceOf, versionedHit, versionedWrite, type Versioned } from '../es/versioned.js';
import { DAEMONS_INDEX } from '../model/layout.js';

/**
 * Which daemon holds a name, `_id` = the name. The holder renews it every heartbeat; once
 * `expires_at` has passed the daemon is taken to be gone, and the name may be taken over.
 */
export interface PresenceDoc {
  daemon: string;
  /** Where the control API listens, as bound: `127.0.0.1:9465`, `0.0.0.0:9465`, `unix:/path`. */
  listen: string;
  /**
   * Where other daemons and clients reach it (`daemonUrl` makes a URL of it): `daemon.advertise`, else
   * `listen`, or on 0.0.0.0 the machine's address. Absent from the documents of older daemons, and
   * until the control API listens.
   */
  advertise?: string;
  /** Its control API speaks HTTPS only (`daemon.tls`); absent: plain HTTP. */
  tls?: boolean;
  pid: number;
  host: string;
  /** The kernel's boot id and the pid namespace of `pid`: with `host`, whether a restarted daemon can tell that `pid` is gone. Absent from older daemons' documents. */
  boot_id?: string | null;
  pid_namespace?: string | null;
  started_at: string;
  renewed_at: string;
  expires_at: string;
  /** Set for a member of a fleet: its fleet, its capacity and the allocations it holds. */
  fleet?: string | null;
  max_models?: number;
  memory_budget_bytes?: number | null;
  serving?: ServedAllocation[];
}

export interface ServedAllocation {
  model_id: string;
  allocation: number;
  bytes: number | null;
}

export type VersionedPresence = Versioned<PresenceDoc>;

/** A member reached over TCP without TLS; a Unix socket never leaves its machine. */
export function servesPlainHttp(member: PresenceDoc): boolean {
  return !member.tls && !(member.advertise ?? member.listen).startsWith('unix:');
}

export function isLive(doc: PresenceDoc, now = Date.now()): boolean {
  return Date.parse(doc.expires_at) > now;
}

/** The presence of the daemon `name` while its lease is live; null when no daemon of that name runs. */
export async function liveDaemon(es: Es, name: string): Promise<PresenceDoc | null> {
  const found = await readPresence(es, name);
  return found && isLive(found.doc) ? found.doc : null;
}

/**
 * The live daemons of `fleet`, by name. The search sees every lease as its holder last wrote it
 * (presence writes refresh the index). A member past its lease by less than `graceMs` is kept: for a
 * decision that must not miss a member, a renewal late on a loaded machine, or a clock a little
 * ahead, is not a member gone.
 */
export async function liveFleetDaemons(es: Es, fleet: string, graceMs = 0): Promise<Map<string, PresenceDoc>> {
  const result = await es.call(`reading the daemons of fleet '${fleet}'`, (c) =>
    c.search<PresenceDoc>({
      index: DAEMONS_INDEX,
      size: 10_000,
      query: { term: { fleet } },
      ignore_unavailable: true,
      allow_no_indices: true,
    }),
  );
  const now = Date.now() - graceMs;
  const live = result.hits.hits.map((h) => sourceOf(h)).filter((doc) => isLive(doc, now));
  return new Map(live.map((doc) => [doc.daemon, doc]));
}

/** The daemons among `names` that hold no live lease: they are gone, or were never started. */
export async function stoppedDaemons(es: Es, names: string[]): Promise<string[]> {
  const live = await Promise.all(names.map((name) => liveDaemon(es, name)));
  return names.filter((_, i) => live[i] === null);
}

/** Who holds the name, for an operator: pid, host, address and when the lease runs out. */
export function describeDaemon(doc: PresenceDoc): string {
  const advertised = doc.advertise && doc.advertise !== doc.listen ? `, reached at ${doc.advertise}` : '';
  return `daemon '${doc.daemon}' (pid ${doc.pid} on host ${doc.host}, listening on ${doc.listen}${advertised}, lease renewed until ${doc.expires_at})`;
}

/**
 * `http://host:port` (`https://` when it serves TLS) of a daemon's control API, from its presence: where another daemon or a client
 * sends its requests (with the token). A daemon on a Unix socket has none: only its own machine reaches it.
 */
export function daemonUrl(doc: PresenceDoc): string {
  const where = doc.advertise ?? doc.listen;
  const address = parseListenAddress(where, `the address of daemon '${doc.daemon}'`);
  if (address.kind === 'unix')
    throw new DaemonError(
      `daemon '${doc.daemon}' listens on the Unix socket ${where}, which only its own machine reaches; give it a daemon.listen of HOST:PORT (with a token) to reach it over the network`,
    );
  if (isWildcard(address.host))
    throw new DaemonError(
      `daemon '${doc.daemon}' listens on ${where} and advertises no address (an older feeder, or one still starting); set its daemon.advertise, or upgrade it`,
    );
  return `${doc.tls ? 'https' : 'http'}://${formatHostPort(address.host, address.port)}`;
}

/** Where the lease says the daemon is: the address bound, and the one advertised once it listens. */
export interface PresenceAddress {
  listen: string;
  advertise?: string | undefined;
  tls?: boolean | undefined;
}

export async function readPresence(es: Es, name: string): Promise<VersionedPresence | null> {
  try {
    const found = await es.call(`reading the presence of daemon '${name}'`, (c) => c.get<PresenceDoc>({ index: DAEMONS_INDEX, id: name }));
    return versionedHit(found);
  } catch (error) {
    if (hasStatus(error, 404)) return null;
    throw error;
  }
}

// Every presence write refreshes the index (a few per heartbeat across a fleet): a member's search
// must never find a lease older than the one its holder last wrote, or take a live member for gone.
export async function createPresence(es: Es, doc: PresenceDoc): Promise<VersionedPresence | null> {
  const created = await es
    .call(`registering daemon '${doc.daemon}'`, (c) =>
      c.index({ index: DAEMONS_INDEX, id: doc.daemon, op_type: 'create', document: doc, refresh: true }),
    )
    .catch(nullOnConflict);
  return created && versionedWrite(doc, created);
}

/** Writes `doc` only over the version `previous` was read or written at; a 409 means someone else wrote since. */
export async function replacePresence(es: Es, previous: VersionedPresence, doc: PresenceDoc, doing: string): Promise<VersionedPresence> {
  const written = await es.call(`${doing} daemon '${doc.daemon}'`, (c) =>
    c.index({ index: DAEMONS_INDEX, id: doc.daemon, document: doc, ...ifVersion(previous), refresh: true }),
  );
  return versionedWrite(doc, written);
}

export async function deletePresence(es: Es, held: VersionedPresence, signal?: AbortSignal): Promise<void> {
  await es
    .call(`removing the presence of daemon '${held.doc.daemon}'`, (c) =>
      c.delete({ index: DAEMONS_INDEX, id: held.doc.daemon, ...ifVersion(held), refresh: true }, abortable(signal)),
    )
    .catch((error: unknown) => {
      if (!hasStatus(error, 404) && !hasStatus(error, 409)) throw error;
    });
}
