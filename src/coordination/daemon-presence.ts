import { once } from 'node:events';
import { hostname } from 'node:os';
import { formatHostPort, isWildcard, parseListenAddress } from '../config/daemon-address.js';
import { DaemonError, DaemonRunningError } from '../errors.js';
import { abortable, type Es } from '../es/es.js';
import { hasStatus } from '../es/translate.js';
import { logEvent, type Logger } from '../log/logger.js';
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
  pid: number;
  host: string;
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

interface VersionedPresence {
  doc: PresenceDoc;
  seqNo: number;
  primaryTerm: number;
}

export interface LeaseSettings {
  name: string;
  listen: string;
  heartbeatMs: number;
  leaseMs: number;
  fleet?: string | undefined;
  maxModels?: number | undefined;
  memoryBudgetBytes?: number | undefined;
}

/** How long a stopping daemon waits on the cluster to give its name back; past it, the lease frees the name when it expires. */
const RELEASE_WITHIN_MS = 3000;

/** Another `feeder serve` under the same name starting at the same moment could keep winning the race. */
const TAKE_ATTEMPTS = 3;

export function isLive(doc: PresenceDoc, now = Date.now()): boolean {
  return Date.parse(doc.expires_at) > now;
}

/** The presence of the daemon `name` while its lease is live; null when no daemon of that name runs. */
export async function liveDaemon(es: Es, name: string): Promise<PresenceDoc | null> {
  const found = await readPresence(es, name);
  return found && isLive(found.doc) ? found.doc : null;
}

/** The live daemons of `fleet`, by name. */
export async function liveFleetDaemons(es: Es, fleet: string): Promise<Map<string, PresenceDoc>> {
  const result = await es.call(`reading the daemons of fleet '${fleet}'`, (c) =>
    c.search<PresenceDoc>({
      index: DAEMONS_INDEX,
      size: 10_000,
      query: { term: { fleet } },
      ignore_unavailable: true,
      allow_no_indices: true,
    }),
  );
  const now = Date.now();
  const live = result.hits.hits.map((h) => h._source!).filter((doc) => isLive(doc, now));
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
 * `http://host:port` of a daemon's control API, from its presence: where another daemon or a client
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
  return `http://${formatHostPort(address.host, address.port)}`;
}

/** Where the lease says the daemon is: the address bound, and the one advertised once it listens. */
export interface PresenceAddress {
  listen: string;
  advertise?: string | undefined;
}

/**
 * The lease `feeder serve` holds on its name. Every write is conditional on the version this daemon
 * wrote last, so a daemon that stalled past its lease cannot overwrite the one that took over.
 */
export class DaemonLease {
  #held: VersionedPresence | null;
  #timer: NodeJS.Timeout | undefined;
  #renewing: Promise<void> = Promise.resolve();
  #stopped = false;
  /** Until when this daemon may serve what it holds: one heartbeat before the lease it wrote last expires. */
  #servingUntil: number;
  #lapseTimer: NodeJS.Timeout | undefined;
  #onLapse: () => void = () => {};
  /** How many times the lease lapsed: work begun under an earlier count must not be acted on. */
  lapses = 0;
  #serving: () => ServedAllocation[] = () => [];

  private constructor(
    private readonly es: Es,
    private readonly settings: LeaseSettings,
    private readonly logger: Logger,
    held: VersionedPresence,
  ) {
    this.#held = held;
    this.#servingUntil = this.#servingDeadline(Date.parse(held.doc.renewed_at));
  }

  /**
   * Whether the lease still covers serving. It ends one heartbeat before the lease expires in
   * Elasticsearch, so a daemon that could not renew (a stalled cluster, a process paused with
   * SIGSTOP) stops serving before any other daemon may take over what it holds.
   */
  servingAllowed(now = Date.now()): boolean {
    return this.#held !== null && now < this.#servingUntil;
  }

  /**
   * `onLapse` runs when the lease stops covering serving: at that moment when the process runs, or,
   * for a process that was paused past it, before the next renewal is taken as valid.
   */
  watch(onLapse: () => void, serving: () => ServedAllocation[]): void {
    this.#onLapse = onLapse;
    this.#serving = serving;
    this.#armLapse();
  }

  #servingDeadline(writtenAt: number): number {
    return writtenAt + this.settings.leaseMs - this.settings.heartbeatMs;
  }

  #armLapse(): void {
    clearTimeout(this.#lapseTimer);
    if (this.#stopped) return;
    this.#lapseTimer = setTimeout(() => this.#lapse(), Math.max(0, this.#servingUntil - Date.now()));
  }

  #lapse(): void {
    if (this.#stopped || Date.now() < this.#servingUntil) return;
    this.lapses += 1;
    logEvent(
      this.logger,
      { action: 'daemon-lease', outcome: 'failure', daemon: this.settings.name },
      `the lease on daemon name '${this.settings.name}' was not renewed in time (it covered serving until ${new Date(this.#servingUntil).toISOString()}); stopping every fleet allocation this daemon holds, so that no other daemon taking them over serves beside it`,
    );
    this.#onLapse();
  }

  /** Takes the name, or refuses while another daemon's lease on it is live. */
  static async take(es: Es, settings: LeaseSettings, logger: Logger): Promise<DaemonLease> {
    return new DaemonLease(es, settings, logger, await takePresence(es, settings, logger));
  }

  /** Renews the lease every heartbeat from now on, with the address actually listened on and the one advertised. */
  startRenewing(address: PresenceAddress): void {
    this.#schedule(0, address);
  }

  /**
   * Stops renewing and removes the presence document, unless another daemon has taken it over.
   * Never throws: it runs while the daemon stops, and a name left behind frees itself when its lease expires.
   */
  async release(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#lapseTimer);
    // A stalled cluster must not hold a stopping daemon: the renewal under way and the delete get a bounded wait.
    const deadline = AbortSignal.timeout(RELEASE_WITHIN_MS);
    await Promise.race([this.#renewing, once(deadline, 'abort')]);
    const held = this.#held;
    this.#held = null;
    if (!held) return;
    await deletePresence(this.es, held, deadline).catch((error: unknown) => {
      logEvent(
        this.logger,
        { action: 'daemon-lease', outcome: 'failure', daemon: this.settings.name, error: (error as Error).message },
        `could not remove the presence of daemon '${this.settings.name}' (${(error as Error).message}); the name is free again when its lease expires at ${held.doc.expires_at}`,
      );
    });
  }

  #schedule(delayMs: number, address: PresenceAddress): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#renewing = this.#renew(address).finally(() => this.#schedule(this.settings.heartbeatMs, address));
    }, delayMs);
  }

  async #renew(address: PresenceAddress): Promise<void> {
    const held = this.#held;
    if (!held) return;
    const doc = presenceDoc(this.settings, address, held.doc.started_at, this.#serving());
    const sentAt = Date.parse(doc.renewed_at);
    try {
      this.#held = await replacePresence(this.es, held, doc, 'renewing the lease of');
      // A process paused past its serving deadline stops serving first: what it held may be another's now.
      if (Date.now() >= this.#servingUntil) this.#lapse();
      this.#servingUntil = this.#servingDeadline(sentAt);
      this.#armLapse();
    } catch (error) {
      const recovered = hasStatus(error, 409) ? this.#recover(doc) : Promise.reject(error);
      await recovered.catch((failure: unknown) => this.#logRenewalFailure(held, failure));
    }
  }

  /**
   * The version this daemon wrote last is gone. A renewal whose answer was lost wrote the current one
   * itself; a document removed by hand is written again (create, so still fenced); any other writer
   * took the name over after the lease ran out, and renewing again would only fail again.
   */
  async #recover(doc: PresenceDoc): Promise<void> {
    const current = await readPresence(this.es, this.settings.name);
    if (current && isOurs(current.doc, doc)) {
      this.#held = current;
      return;
    }
    const recreated = current ? null : await createPresence(this.es, doc);
    if (recreated) {
      this.#held = recreated;
      return;
    }
    this.#held = null;
    const other = current ? describeDaemon(current.doc) : 'another daemon';
    logEvent(
      this.logger,
      { action: 'daemon-lease', outcome: 'failure', daemon: this.settings.name },
      `the lease on daemon name '${this.settings.name}' was taken over by ${other} after this daemon failed to renew it in time; this daemon no longer holds the name: stop it, or restart it under another daemon.name`,
    );
  }

  #logRenewalFailure(held: VersionedPresence, error: unknown): void {
    const { name, heartbeatMs } = this.settings;
    const message = (error as Error).message;
    logEvent(
      this.logger,
      { action: 'daemon-lease', outcome: 'failure', daemon: name, error: message },
      `could not renew the lease on daemon name '${name}' (${message}); trying again in ${heartbeatMs} ms, the lease expires at ${held.doc.expires_at}`,
    );
  }
}

function isOurs(stored: PresenceDoc, ours: PresenceDoc): boolean {
  return stored.pid === ours.pid && stored.host === ours.host && stored.started_at === ours.started_at;
}

function presenceDoc(
  settings: LeaseSettings,
  { listen, advertise }: PresenceAddress,
  startedAt?: string,
  serving: ServedAllocation[] = [],
): PresenceDoc {
  const now = Date.now();
  const fleet =
    settings.fleet === undefined
      ? {}
      : {
          fleet: settings.fleet,
          max_models: settings.maxModels ?? 0,
          memory_budget_bytes: settings.memoryBudgetBytes ?? null,
          serving,
        };
  return {
    ...fleet,
    daemon: settings.name,
    listen,
    ...(advertise === undefined ? {} : { advertise }),
    pid: process.pid,
    host: hostname(),
    started_at: startedAt ?? new Date(now).toISOString(),
    renewed_at: new Date(now).toISOString(),
    expires_at: new Date(now + settings.leaseMs).toISOString(),
  };
}

/** A new name is created (`op_type: create`); an expired one is taken over only at the version read as expired. */
async function takePresence(es: Es, settings: LeaseSettings, logger: Logger): Promise<VersionedPresence> {
  for (let attempt = 0; attempt < TAKE_ATTEMPTS; attempt++) {
    const created = await createPresence(es, presenceDoc(settings, { listen: settings.listen }));
    if (created) return created;
    const current = await readPresence(es, settings.name);
    if (!current) continue;
    if (isLive(current.doc)) throw nameTaken(current.doc);
    const taken = await replacePresence(
      es,
      current,
      presenceDoc(settings, { listen: settings.listen }),
      'taking over the expired lease of',
    ).catch(nullOn409);
    if (taken) {
      logEvent(
        logger,
        {
          action: 'daemon-lease',
          outcome: 'success',
          daemon: settings.name,
          previous_pid: current.doc.pid,
          previous_host: current.doc.host,
        },
        `took over daemon name '${settings.name}': the lease of pid ${current.doc.pid} on host ${current.doc.host} expired at ${current.doc.expires_at}`,
      );
      return taken;
    }
  }
  throw new DaemonRunningError(
    `daemon name '${settings.name}' changed hands ${TAKE_ATTEMPTS} times while this daemon tried to take it: another 'feeder serve' with the same name is starting; give this one another daemon.name (FEEDER_DAEMON_NAME)`,
  );
}

function nameTaken(doc: PresenceDoc): DaemonRunningError {
  return new DaemonRunningError(
    `daemon name '${doc.daemon}' is taken: ${describeDaemon(doc)} is running; stop that daemon, or start this one under another daemon.name (FEEDER_DAEMON_NAME). A daemon that was killed frees the name when its lease expires`,
  );
}

async function readPresence(es: Es, name: string): Promise<VersionedPresence | null> {
  try {
    const found = await es.call(`reading the presence of daemon '${name}'`, (c) => c.get<PresenceDoc>({ index: DAEMONS_INDEX, id: name }));
    return { doc: found._source!, seqNo: found._seq_no!, primaryTerm: found._primary_term! };
  } catch (error) {
    if (hasStatus(error, 404)) return null;
    throw error;
  }
}

async function createPresence(es: Es, doc: PresenceDoc): Promise<VersionedPresence | null> {
  const created = await es
    .call(`registering daemon '${doc.daemon}'`, (c) => c.index({ index: DAEMONS_INDEX, id: doc.daemon, op_type: 'create', document: doc }))
    .catch(nullOn409);
  return created && { doc, seqNo: created._seq_no!, primaryTerm: created._primary_term! };
}

/** Writes `doc` only over the version `previous` was read or written at; a 409 means someone else wrote since. */
async function replacePresence(es: Es, previous: VersionedPresence, doc: PresenceDoc, doing: string): Promise<VersionedPresence> {
  const written = await es.call(`${doing} daemon '${doc.daemon}'`, (c) =>
    c.index({ index: DAEMONS_INDEX, id: doc.daemon, document: doc, if_seq_no: previous.seqNo, if_primary_term: previous.primaryTerm }),
  );
  return { doc, seqNo: written._seq_no!, primaryTerm: written._primary_term! };
}

async function deletePresence(es: Es, held: VersionedPresence, signal?: AbortSignal): Promise<void> {
  await es
    .call(`removing the presence of daemon '${held.doc.daemon}'`, (c) =>
      c.delete({ index: DAEMONS_INDEX, id: held.doc.daemon, if_seq_no: held.seqNo, if_primary_term: held.primaryTerm }, abortable(signal)),
    )
    .catch((error: unknown) => {
      if (!hasStatus(error, 404) && !hasStatus(error, 409)) throw error;
    });
}

function nullOn409(error: unknown): null {
  if (hasStatus(error, 409)) return null;
  throw error;
}
