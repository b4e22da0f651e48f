import { isLive, type PresenceDoc } from '../coordination/daemon-presence.js';
import type { AllocationDoc, FleetDocs } from '../coordination/fleet-allocations.js';

// Who should take which allocation. Pure functions of what one reconcile pass read, so that every
// daemon of the fleet, reading the same documents, comes to the same answer.

/** A stable pseudo-random rank of `id` for `daemon` (FNV-1a). */
export function rank(daemon: string, id: string): number {
  let hash = 0x811c9dc5;
  for (const char of `${daemon}\u0000${id}`) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
  return hash;
}

/**
 * The order in which `daemon` goes through the allocations: one of its own, so that daemons racing
 * for many at once mostly try different ones first and few fenced writes are lost.
 */
export function claimOrder<T extends { id: string }>(daemon: string, allocations: readonly T[]): T[] {
  return [...allocations].sort((a, b) => rank(daemon, a.id) - rank(daemon, b.id));
}

/** Allocations held per daemon. */
export function holdings(docs: FleetDocs): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { doc } of docs.allocations) if (doc.daemon !== null) counts.set(doc.daemon, (counts.get(doc.daemon) ?? 0) + 1);
  return counts;
}

/**
 * The holder of `alloc` when it is another daemon whose lease is no longer live, else null. By the
 * lease alone, even for a member `daemons` keeps within a grace: a holder stops serving a heartbeat
 * before its lease runs out, so taking over then is safe, and waiting longer only adds to a failover.
 */
export function goneHolder(
  alloc: AllocationDoc,
  daemon: string,
  daemons: ReadonlyMap<string, PresenceDoc>,
  now = Date.now(),
): string | null {
  if (alloc.daemon === null || alloc.daemon === daemon) return null;
  const holder = daemons.get(alloc.daemon);
  return holder === undefined || !isLive(holder, now) ? alloc.daemon : null;
}

/** Whether `alloc` is up for a claim by `daemon`: desired, not failed, and held by nobody, or by a daemon that is gone. */
export function isClaimable(alloc: AllocationDoc, docs: FleetDocs, daemon: string, daemons: ReadonlyMap<string, PresenceDoc>): boolean {
  if (alloc.state === 'failed' || !docs.desired.has(alloc.model_id)) return false;
  return alloc.daemon === null || goneHolder(alloc, daemon, daemons) !== null;
}

/** Whether every live daemon already failed to load `alloc`: nobody is left to try it. */
export function nobodyLeftToTry(alloc: AllocationDoc, daemons: ReadonlyMap<string, PresenceDoc>): boolean {
  const untried = [...daemons.values()].filter((d) => !alloc.failures.some((f) => f.daemon === d.daemon));
  return untried.length === 0 && alloc.failures.length > 0;
}

/**
 * Whether `daemon` may take `alloc`: it has room, did not fail on it, and holds no other allocation
 * of the model, nor receives one in a move (a daemon runs one process per model).
 */
export function fits(daemon: PresenceDoc, alloc: AllocationDoc, docs: FleetDocs, counts: ReadonlyMap<string, number>): boolean {
  if (alloc.failures.some((f) => f.daemon === daemon.daemon)) return false;
  if ((counts.get(daemon.daemon) ?? 0) >= (daemon.max_models ?? Infinity)) return false;
  const other = (a: AllocationDoc) => a.model_id === alloc.model_id && a.allocation !== alloc.allocation;
  return !docs.allocations.some(
    ({ doc: a }) => (a.model_id === alloc.model_id && a.daemon === daemon.daemon) || (other(a) && a.moving?.to === daemon.daemon),
  );
}

/**
 * Spread: of the lightest daemons that fit, the one preferred for `allocationId` (the highest rank
 * for it, the same on every daemon), so that daemons seldom race for one allocation.
 */
export function preferredDaemon(
  candidates: readonly PresenceDoc[],
  counts: ReadonlyMap<string, number>,
  allocationId: string,
): PresenceDoc {
  const lightest = Math.min(...candidates.map((d) => counts.get(d.daemon) ?? 0));
  return candidates
    .filter((d) => (counts.get(d.daemon) ?? 0) === lightest)
    .reduce((best, d) => (rank(d.daemon, allocationId) > rank(best.daemon, allocationId) ? d : best));
}

/** The bytes of the models held, as far as their sizes are known. */
export function heldBytes(held: ReadonlyMap<string, { bytes: number | null }>): number {
  return [...held.values()].reduce((sum, h) => sum + (h.bytes ?? 0), 0);
}
