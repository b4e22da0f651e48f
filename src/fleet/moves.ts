import { isLive, type PresenceDoc } from '../coordination/daemon-presence.js';
import { desiredSettings, readFleet, writeFenced, type AllocationDoc, type FleetDocs } from '../coordination/fleet-allocations.js';
import type { Versioned } from '../es/versioned.js';
import { logEvent } from '../log/logger.js';
import { loading, withinBudget } from './claims.js';
import type { Member } from './member.js';
import { moveUnderWay, planMove, withEndedMove } from './rebalance-plan.js';
import { deployHeld } from './run-held.js';

// A move of an allocation toward a lighter daemon, driven by its receiver: a fenced write of the
// `moving` marker on the allocation document, the new copy loaded beside the holder's, and, once it
// is started, one fenced write that makes the receiver the holder. The holder stops its copy when it
// reads that write, so the allocation is served throughout.

/**
 * How long the old holder's copy serves on after a move away from it completed: a forward that read
 * the fleet just before the move still finds it serving.
 */
const DRAIN_MS = 1000;

/** Whether this daemon's copy of `doc`, moved away from it a moment ago, still serves (DRAIN_MS). */
export function stillDraining(member: Member, doc: AllocationDoc, now = Date.now()): boolean {
  const last = doc.moves?.at(-1);
  if (last?.outcome !== 'completed' || last.from !== member.name || doc.daemon === member.name) return false;
  return member.held.get(doc.model_id)?.allocation === doc.allocation && now - Date.parse(last.ended_at) < DRAIN_MS;
}

/** Starts the move this daemon should receive now, if any (rebalance-plan.ts), and loads its copy. */
export async function startMove(member: Member, docs: FleetDocs, daemons: Map<string, PresenceDoc>): Promise<void> {
  const max = member.ctx.config.daemon.rebalance.maxMovesPerMinute;
  if (loading(member) > 0) return;
  const plan = planMove(docs, daemons, member.name, Date.now(), max);
  if (!plan || !(await withinBudget(member, plan.alloc.doc.model_id))) return;
  const moving = { from: plan.from, to: member.name, since: new Date().toISOString() };
  const doc: AllocationDoc = { ...plan.alloc.doc, moving, updated_at: moving.since };
  const won = await writeFenced(member.ctx.es, plan.alloc.id, doc, plan.alloc, `moving allocation ${plan.alloc.id}`);
  if (!won) return member.nudge();
  member.deployments.metrics.fleetMoves.inc({ outcome: 'started' });
  logMove(
    member,
    doc,
    'started',
    `daemon '${member.name}' receives allocation ${doc.allocation} of model '${doc.model_id}' from daemon '${plan.from}'`,
  );
  // Two members that read the fleet at one moment may each have started a move. Of two fenced
  // writes the later one's reader sees the earlier, so whoever sees another move gives its own up:
  // at most one goes on.
  const after = await readFleet(member.ctx.es, member.fleet);
  const mine = after.allocations.find((a) => a.id === won.id && a.doc.moving?.to === member.name);
  if (!mine) return;
  const other = moveUnderWay(after, mine.id);
  if (other) {
    await abandonMove(member, mine, `another move was under way (allocation ${other.id})`);
    return;
  }
  try {
    const desired = after.desired.get(mine.doc.model_id)?.doc;
    await deployHeld(member, mine, desired?.revision ?? mine.doc.revision, desiredSettings(desired));
  } catch (error) {
    await member.stopLocal(mine.doc.model_id, 'its move failed to start');
    await abandonMove(member, mine, (error as Error).message);
  }
}

/**
 * One pass's step of a move this daemon receives: abandoned when its copy is not this run's (it was
 * restarted, or its lease lapsed) or failed; completed once its copy is started. True while this
 * daemon keeps its copy.
 */
export async function followMove(member: Member, alloc: Versioned<AllocationDoc>): Promise<boolean> {
  const { model_id: modelId, allocation } = alloc.doc;
  if (member.held.get(modelId)?.allocation !== allocation) {
    await abandonMove(
      member,
      alloc,
      `its receiver, daemon '${member.name}', did not start it in this run (restarted, or its lease lapsed)`,
    );
    return false;
  }
  const status = member.deployments.get(modelId)?.status();
  if (status?.state === 'started') return completeMove(member, alloc, status);
  if (status && status.state !== 'failed' && status.state !== 'stopped') return true;
  await member.stopLocal(modelId, 'its move failed to start');
  await abandonMove(member, alloc, status?.reason ?? 'its copy stopped');
  return false;
}

/**
 * Abandons, from the holder's side, a move whose receiver's lease ran out (its process stopped with
 * it). The allocation as it is now: as written, or as read when nothing was written.
 */
export async function dropOrphanMove(
  member: Member,
  alloc: Versioned<AllocationDoc>,
  daemons: Map<string, PresenceDoc>,
): Promise<Versioned<AllocationDoc>> {
  const to = alloc.doc.moving?.to;
  const receiver = to === undefined ? undefined : daemons.get(to);
  if (!to || (receiver && isLive(receiver))) return alloc;
  return (await abandonMove(member, alloc, `its receiver, daemon '${to}', is gone`)) ?? alloc;
}

/** The receiver's copy is started: one fenced write makes it the holder, and the old holder stops its copy when it reads it. */
async function completeMove(
  member: Member,
  alloc: Versioned<AllocationDoc>,
  status: { phase: string | null; generation: number | null; pid: number | null },
): Promise<boolean> {
  const move = alloc.doc.moving!;
  const now = new Date().toISOString();
  const doc: AllocationDoc = {
    ...alloc.doc,
    daemon: member.name,
    state: 'started',
    phase: status.phase,
    reason: `moved from daemon '${move.from}' to even out the fleet`,
    generation: status.generation,
    pid: status.pid,
    revision: member.held.get(alloc.doc.model_id)?.revision ?? alloc.doc.revision,
    claimed_at: now,
    updated_at: now,
    moving: null,
    moves: withEndedMove(alloc.doc, { ...move, outcome: 'completed', reason: null, ended_at: now }),
  };
  if (!(await writeFenced(member.ctx.es, alloc.id, doc, alloc, `completing the move of allocation ${alloc.id}`))) {
    member.nudge();
    return true;
  }
  member.deployments.metrics.fleetMoves.inc({ outcome: 'completed' });
  logMove(
    member,
    doc,
    'completed',
    `daemon '${member.name}' holds allocation ${doc.allocation} of model '${doc.model_id}', moved from daemon '${move.from}'`,
  );
  return true;
}

/** Ends a move without it: the holder's copy goes on serving, and the receiver is not given this allocation again for a while. */
async function abandonMove(member: Member, alloc: Versioned<AllocationDoc>, reason: string): Promise<Versioned<AllocationDoc> | null> {
  const move = alloc.doc.moving!;
  const now = new Date().toISOString();
  const ended = { ...move, outcome: 'abandoned' as const, reason, ended_at: now };
  const doc: AllocationDoc = { ...alloc.doc, moving: null, moves: withEndedMove(alloc.doc, ended), updated_at: now };
  const written = await writeFenced(member.ctx.es, alloc.id, doc, alloc, `abandoning the move of allocation ${alloc.id}`);
  if (!written) {
    member.nudge();
    return null;
  }
  member.deployments.metrics.fleetMoves.inc({ outcome: 'abandoned' });
  logMove(
    member,
    doc,
    'abandoned',
    `the move of allocation ${doc.allocation} of model '${doc.model_id}' from daemon '${move.from}' to daemon '${move.to}' was abandoned: ${reason}`,
  );
  return written;
}

function logMove(member: Member, doc: AllocationDoc, step: string, message: string): void {
  logEvent(
    member.ctx.logger,
    {
      action: 'fleet-move',
      outcome: step === 'abandoned' ? 'failure' : 'success',
      modelId: doc.model_id,
      allocation: doc.allocation,
      daemon: member.name,
      fleet: member.fleet,
      step,
    },
    message,
  );
}
