import { isLive, type PresenceDoc } from '../coordination/daemon-presence.js';
import type { AllocationDoc, EndedMove, FleetDocs } from '../coordination/fleet-allocations.js';
import type { Versioned } from '../es/versioned.js';
import { fits, holdings, preferredDaemon, rank } from './placement.js';

// Which allocation moves toward a light daemon, and when. Pure functions of one reconcile pass's
// reading, like placement.ts: every member reading the same documents comes to the same answer, so
// that of the lightest members only one starts a move.

/** The period `daemon.rebalance.maxMovesPerMinute` counts moves over. */
export const MOVE_WINDOW_MS = 60_000;

/** Ended moves an allocation document keeps: enough for the bound over one period. */
const MOVES_KEPT = 8;

export interface MovePlan {
  alloc: Versioned<AllocationDoc>;
  /** Its holder now, whose copy serves until the receiver's is started. */
  from: string;
}

/** An allocation with a move under way, other than `exceptId`. */
export function moveUnderWay(docs: FleetDocs, exceptId?: string): Versioned<AllocationDoc> | undefined {
  return docs.allocations.find((a) => a.doc.moving && a.id !== exceptId);
}

/** Moves started across the fleet within the last period: under way, completed or abandoned. */
export function recentMoves(docs: FleetDocs, now: number): number {
  const recent = (since: string) => now - Date.parse(since) < MOVE_WINDOW_MS;
  let count = 0;
  for (const { doc } of docs.allocations) {
    if (doc.moving) count++;
    count += (doc.moves ?? []).filter((m) => recent(m.since)).length;
  }
  return count;
}

/** The allocation's ended moves with `ended` added, the oldest dropped beyond what the bound needs. */
export function withEndedMove(doc: AllocationDoc, ended: EndedMove): EndedMove[] {
  return [...(doc.moves ?? []), ended].slice(-MOVES_KEPT);
}

/** A move of `doc` to `daemon` abandoned within the last period: not tried again at once. */
function abandonedLately(doc: AllocationDoc, daemon: string, now: number): boolean {
  return (doc.moves ?? []).some((m) => m.outcome === 'abandoned' && m.to === daemon && now - Date.parse(m.ended_at) < MOVE_WINDOW_MS);
}

/**
 * The move `me` should start now, or null. Only when every desired allocation has a live holder
 * (free ones and failovers come first), no move is under way anywhere (one at a time), fewer than
 * `maxPerMinute` started in the last minute, and the most loaded live holder has at least two more
 * allocations than the lightest live member (so 2/1 stays). A receiver must hold a live lease by
 * `now`: a member kept within the reconcile's grace is counted, never chosen. Of the lightest members
 * that could take one, one is preferred alike on every daemon; it takes the started allocation of
 * the most loaded holders it ranks highest.
 */
export function planMove(
  docs: FleetDocs,
  daemons: ReadonlyMap<string, PresenceDoc>,
  me: string,
  now: number,
  maxPerMinute: number,
): MovePlan | null {
  if (maxPerMinute <= 0 || moveUnderWay(docs) || recentMoves(docs, now) >= maxPerMinute) return null;
  const liveNow = (name: string | null) => name !== null && daemons.has(name) && isLive(daemons.get(name)!, now);
  const wanted = docs.allocations.filter((a) => docs.desired.has(a.doc.model_id) && a.doc.state !== 'failed');
  if (wanted.some((a) => !liveNow(a.doc.daemon))) return null;
  const counts = holdings(docs);
  const load = (name: string) => counts.get(name) ?? 0;
  const receivers = [...daemons.values()].filter((d) => liveNow(d.daemon));
  if (receivers.length === 0) return null;
  const heaviest = Math.max(0, ...wanted.map((a) => load(a.doc.daemon!)));
  const lightest = Math.min(...receivers.map((d) => load(d.daemon)));
  if (heaviest - lightest <= 1) return null;
  const movable = (d: PresenceDoc) =>
    wanted.filter(
      (a) =>
        a.doc.state === 'started' &&
        load(a.doc.daemon!) === heaviest &&
        fits(d, a.doc, docs, counts) &&
        !abandonedLately(a.doc, d.daemon, now),
    );
  const able = receivers.filter((d) => load(d.daemon) === lightest && movable(d).length > 0);
  if (able.length === 0 || preferredDaemon(able, counts, `${docs.allocations[0]!.doc.fleet}/rebalance`).daemon !== me) return null;
  const [alloc] = movable(daemons.get(me)!).sort((a, b) => rank(me, b.id) - rank(me, a.id));
  return { alloc: alloc!, from: alloc!.doc.daemon! };
}
