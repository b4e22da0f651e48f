import type { PresenceDoc } from '../coordination/daemon-presence.js';
import { logEvent, type Logger } from '../log/logger.js';

/** How long a holder that failed a forward is left aside before one request tries it again. */
export const AVOID_MS = 5000;
const FORGET_MS = 10 * 60_000;

/**
 * Which holders failed to take a forwarded request, so that the next ones go elsewhere at once
 * rather than wait on a dead or paused holder until its lease expires. Each run of a daemon
 * (`started_at`) is judged apart: one started again under the name is tried afresh.
 */
export class HolderHealth {
  readonly #failedAt = new Map<string, number>();

  constructor(private readonly logger: Logger) {}

  /**
   * The order in which to try `holders`: those that did not fail (shuffled, to spread the load),
   * then one left aside for `AVOID_MS` (it gets this request, a chance to answer again), then the
   * others that failed, most long ago first: still tried when nothing else is left.
   */
  order(holders: readonly PresenceDoc[], now = Date.now()): PresenceDoc[] {
    const healthy = shuffle(holders.filter((h) => !this.#failedAt.has(keyOf(h))));
    const failed = holders.filter((h) => this.#failedAt.has(keyOf(h))).sort((a, b) => this.#since(a) - this.#since(b));
    const due = failed[0] !== undefined && now - this.#since(failed[0]) >= AVOID_MS ? failed[0] : undefined;
    // Marked as tried now, so that the requests right behind this one do not all wait on it too.
    if (due) this.#failedAt.set(keyOf(due), now);
    return due ? [due, ...healthy, ...failed.slice(1)] : [...healthy, ...failed];
  }

  /** Leaves `holder` aside, and says so once per failure: a dead holder fails about once per `AVOID_MS`, not once per request. */
  failed(holder: PresenceDoc, why: string, now = Date.now()): void {
    logEvent(
      this.logger,
      { action: 'fleet-forward', outcome: 'failure', daemon: holder.daemon, error: why },
      `a forwarded request could not be taken by daemon '${holder.daemon}' (${why}); trying another holder, and leaving this one aside for ${AVOID_MS / 1000} s or until it answers again`,
    );
    // Runs of daemons long gone are forgotten: a fleet that restarts its members for months must not grow this.
    for (const [key, at] of this.#failedAt) if (now - at > FORGET_MS) this.#failedAt.delete(key);
    this.#failedAt.set(keyOf(holder), now);
  }

  answered(holder: PresenceDoc): void {
    this.#failedAt.delete(keyOf(holder));
  }

  #since(holder: PresenceDoc): number {
    return this.#failedAt.get(keyOf(holder)) ?? 0;
  }
}

const keyOf = (holder: PresenceDoc) => `${holder.daemon}\u0000${holder.started_at}`;

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
