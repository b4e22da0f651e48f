import { once } from 'node:events';
import {
  createPresence,
  deletePresence,
  describeDaemon,
  isLive,
  readPresence,
  replacePresence,
  type PresenceAddress,
  type PresenceDoc,
  type ServedAllocation,
  type VersionedPresence,
} from '../coordination/daemon-presence.js';
import { DaemonRunningError } from '../errors.js';
import type { Es } from '../es/es.js';
import { hasStatus } from '../es/translate.js';
import { nullOnConflict } from '../es/versioned.js';
import { logEvent, type Logger } from '../log/logger.js';
import { isGone, isThisHost, thisHost } from './host-identity.js';

// The daemon's side of its presence document: when it is renewed, when serving must stop because
// it was not, and how a name is taken. The documents themselves are read and written in
// coordination/daemon-presence.ts.

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

  /**
   * Writes the presence with the address actually listened on, the one advertised and whether it
   * serves TLS, then renews it every heartbeat. Resolves once that first write is done (or has failed
   * and been logged): until then the document holds only what the name was taken with, and a member
   * reading it would take a daemon with TLS for one without.
   */
  async startRenewing(address: PresenceAddress): Promise<void> {
    this.#renewing = this.#renew(address);
    await this.#renewing;
    this.#schedule(this.settings.heartbeatMs, address);
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
  { listen, advertise, tls }: PresenceAddress,
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
    ...(tls ? { tls } : {}),
    pid: process.pid,
    ...thisHost(),
    started_at: startedAt ?? new Date(now).toISOString(),
    renewed_at: new Date(now).toISOString(),
    expires_at: new Date(now + settings.leaseMs).toISOString(),
  };
}

/**
 * A new name is created (`op_type: create`); one whose holder is gone is taken over, only at the
 * version read: an expired lease, or a live one whose holder was a process of this host that no
 * longer runs (a daemon killed and started again by its supervisor need not wait for its own lease).
 */
async function takePresence(es: Es, settings: LeaseSettings, logger: Logger): Promise<VersionedPresence> {
  for (let attempt = 0; attempt < TAKE_ATTEMPTS; attempt++) {
    const created = await createPresence(es, presenceDoc(settings, { listen: settings.listen }));
    if (created) return created;
    const current = await readPresence(es, settings.name);
    if (!current) continue;
    const gone = holderGone(current.doc);
    if (!gone) throw nameTaken(current.doc);
    const taken = await replacePresence(es, current, presenceDoc(settings, { listen: settings.listen }), 'taking over the lease of').catch(
      nullOnConflict,
    );
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
        `took over daemon name '${settings.name}': ${gone}`,
      );
      return taken;
    }
  }
  throw new DaemonRunningError(
    `daemon name '${settings.name}' changed hands ${TAKE_ATTEMPTS} times while this daemon tried to take it: another 'feeder serve' with the same name is starting; give this one another daemon.name (FEEDER_DAEMON_NAME)`,
  );
}

/** Why the holder of a name is gone, or null while it may still run. */
function holderGone(doc: PresenceDoc): string | null {
  if (!isLive(doc)) return `the lease of pid ${doc.pid} on host ${doc.host} expired at ${doc.expires_at}`;
  if (isThisHost(doc) && isGone(doc.pid)) return `pid ${doc.pid} on this host is gone (its lease ran until ${doc.expires_at})`;
  return null;
}

function nameTaken(doc: PresenceDoc): DaemonRunningError {
  return new DaemonRunningError(
    `daemon name '${doc.daemon}' is taken: ${describeDaemon(doc)} is running; stop that daemon, or start this one under another daemon.name (FEEDER_DAEMON_NAME). A daemon that was killed on another host frees the name when its lease expires`,
  );
}
