import { liveFleetDaemons, type PresenceDoc } from '../coordination/daemon-presence.js';
import type { DaemonLease } from '../daemon/lease.js';
import {
  allocationId,
  deleteFenced,
  newAllocation,
  readFleet,
  writeFenced,
  type AllocationDoc,
  type FleetDocs,
} from '../coordination/fleet-allocations.js';
import type { Versioned } from '../es/versioned.js';
import { claimAgain, claimFree, giveBack } from './claims.js';
import { dropOrphanMove, followMove, startMove, stillDraining } from './moves.js';
import type { Member } from './member.js';
import { runHeld } from './run-held.js';

/**
 * One reconcile pass: shapes the allocation documents to the desired deployments, runs what this
 * daemon holds and reports its state, stops what it no longer holds, then claims free allocations.
 * False when the pass was cut short (the daemon stopped, or the lease lapsed while it read).
 */
export async function reconcile(member: Member, lease: DaemonLease, stopped: () => boolean): Promise<boolean> {
  const { es } = member.ctx;
  // Taken before reading: an answer that was under way while the process was paused past its lease
  // is older than the lapse, and the lapse count tells that it must not be acted on.
  const lapses = lease.lapses;
  const leaseOk = lease.servingAllowed();
  const current = () => !stopped() && lease.lapses === lapses;
  // A member one heartbeat late still counts: failing an allocation that "every member" failed waits
  // for it rather than act on a partial view of the fleet. Taking over a holder's allocation does
  // not: it goes by the lease alone (goneHolder), so the grace adds nothing to a failover.
  const [first, daemons] = await Promise.all([
    readFleet(es, member.fleet),
    liveFleetDaemons(es, member.fleet, member.ctx.config.daemon.heartbeatMs),
  ]);
  if (!current()) return false;
  const docs = (await shapeAllocations(member, first, daemons)) ? await readFleet(es, member.fleet) : first;
  if (!current()) return false;
  const mine = new Set<string>();
  for (const read of docs.allocations) {
    if (read.doc.moving?.to === member.name && read.doc.daemon !== member.name) {
      if (leaseOk && lease.lapses === lapses && (await followMove(member, read))) mine.add(read.doc.model_id);
      continue;
    }
    if (stillDraining(member, read.doc)) mine.add(read.doc.model_id);
    if (read.doc.daemon !== member.name) continue;
    const recorded = leaseOk && lease.lapses === lapses ? await dropOrphanMove(member, read, daemons) : read;
    const alloc = isHeldHere(member, recorded.doc)
      ? recorded
      : leaseOk && lease.lapses === lapses
        ? await claimUnheld(member, recorded)
        : null;
    if (!alloc) continue;
    mine.add(alloc.doc.model_id);
    if (leaseOk && lease.lapses === lapses) await runHeld(member, alloc, docs);
  }
  // What this daemon runs but no longer holds: taken over while it was paused, or released.
  for (const modelId of [...member.held.keys()]) if (!mine.has(modelId)) await member.stopLocal(modelId, 'another daemon holds it now');
  for (const status of member.deployments.list()) if (!mine.has(status.model_id)) await member.stopLocal(status.model_id, 'not held');
  // Read again: running what it holds may have taken a while, and a stale view loses claims.
  if (!leaseOk || lease.lapses !== lapses) return true;
  const fresh = await readFleet(es, member.fleet);
  await claimFree(member, fresh, daemons);
  // Once nothing is free (claimFree wrote its claims into `fresh`): a move toward this daemon, when it is the lightest by two or more.
  if (lease.lapses === lapses && !stopped()) await startMove(member, fresh, daemons);
  return true;
}

/**
 * Creates missing allocation documents, deletes those of models no longer desired (or beyond the
 * count asked for). True when it changed anything, so that the caller reads the fleet again.
 */
async function shapeAllocations(member: Member, docs: FleetDocs, daemons: Map<string, PresenceDoc>): Promise<boolean> {
  const { es } = member.ctx;
  let changed = false;
  for (const alloc of docs.allocations) {
    const desired = docs.desired.get(alloc.doc.model_id);
    if (desired && alloc.doc.allocation < desired.doc.allocations) continue;
    const holder = alloc.doc.daemon;
    if (holder === member.name) await member.stopLocal(alloc.doc.model_id, 'undeployed from the fleet');
    else if (holder !== null && daemons.has(holder)) continue;
    changed = (await deleteFenced(es, alloc, `removing allocation ${alloc.id}`)) || changed;
  }
  for (const [modelId, desired] of docs.desired) {
    for (let k = 0; k < desired.doc.allocations; k++) {
      if (docs.allocations.some((a) => a.doc.model_id === modelId && a.doc.allocation === k)) continue;
      const id = allocationId(member.fleet, modelId, k);
      changed = (await writeFenced(es, id, newAllocation(member.fleet, modelId, k), null, `creating allocation ${id}`)) !== null || changed;
    }
  }
  return changed;
}

/**
 * Whether this process claimed `alloc` itself (and its lease did not lapse since). One recorded under
 * this name by an earlier run of it (killed, then started again), or before the lease lapsed, may be
 * under another daemon's claim at this very moment: it is never started on the strength of the name
 * alone (claimUnheld).
 */
function isHeldHere(member: Member, alloc: AllocationDoc): boolean {
  return member.held.get(alloc.model_id)?.allocation === alloc.allocation;
}

/**
 * An allocation recorded under this name that this run did not claim: claimed again through the
 * fenced claim, so that of this daemon and one taking it over only one wins; given back when this
 * daemon has no room for it (restarted with a smaller `daemon.maxModels`). Null unless claimed.
 */
async function claimUnheld(member: Member, alloc: Versioned<AllocationDoc>): Promise<Versioned<AllocationDoc> | null> {
  if (member.held.size < member.ctx.config.daemon.maxModels) return claimAgain(member, alloc);
  const reason = `given back by daemon '${member.name}', which did not claim it in this run (it was restarted, or its lease lapsed) and has no room for it`;
  await giveBack(member, alloc, reason);
  return null;
}
