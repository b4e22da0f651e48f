import { isLive, readPresence, type PresenceDoc } from '../coordination/daemon-presence.js';
import { recordUndeployed } from '../coordination/desired-deployments.js';
import { writeFenced, type AllocationDoc, type FleetDocs } from '../coordination/fleet-allocations.js';
import type { Versioned } from '../es/versioned.js';
import { logEvent } from '../log/logger.js';
import { requireMeta } from '../model/meta.js';
import { describeFailures, unheld } from './allocation-state.js';
import type { Member } from './member.js';
import { claimOrder, fits, goneHolder, heldBytes, holdings, isClaimable, nobodyLeftToTry, preferredDaemon } from './placement.js';
import { runHeld } from './run-held.js';

type Verdict = 'claim' | 'pass' | 'stop';

/**
 * Claims free allocations this daemon is a fit for, lightest daemon first, at most
 * `maxConcurrentLoads` loading here. A claim is a write fenced by the version read: of two daemons
 * claiming one allocation, one wins.
 */
export async function claimFree(member: Member, docs: FleetDocs, daemons: Map<string, PresenceDoc>): Promise<void> {
  const counts = holdings(docs);
  const now = Date.now();
  for (const alloc of claimOrder(member.name, docs.allocations)) {
    if (!isClaimable(alloc.doc, docs, member.name, daemons)) continue;
    if (nobodyLeftToTry(alloc.doc, daemons)) {
      await failAllocation(member, alloc);
      continue;
    }
    const verdict = await judgeClaim(member, alloc, docs, daemons, counts, now);
    if (verdict === 'stop') return;
    if (verdict === 'pass') continue;
    const previous = goneHolder(alloc.doc, member.name, daemons);
    if (previous !== null && (await stillLive(member, previous))) continue;
    const won = await writeClaim(member, alloc, previous);
    if (!won) return;
    // The rest of this pass sees the claim: no second allocation of the model here.
    docs.allocations[docs.allocations.indexOf(alloc)] = won;
    counts.set(member.name, (counts.get(member.name) ?? 0) + 1);
    await takeOver(member, won, previous);
    await runHeld(member, won, docs);
  }
}

/**
 * Whether the holder a takeover would replace renewed its lease after all. The presences a pass
 * judges by were read at its start, and running what this daemon holds may have taken seconds since
 * (loads, on a starved machine): against the time now, a holder that renewed meanwhile looked
 * expired, and was taken over while it served. Its own document, read now (a realtime GET), decides.
 */
async function stillLive(member: Member, name: string): Promise<boolean> {
  const presence = await readPresence(member.ctx.es, name);
  return presence !== null && isLive(presence.doc);
}

/**
 * Gives `alloc`, recorded under this daemon's name, back to the fleet (a write fenced by the version
 * read), and drops this daemon's pin of the model; false when another writer came first.
 */
export async function giveBack(member: Member, alloc: Versioned<AllocationDoc>, reason: string): Promise<boolean> {
  const { es } = member.ctx;
  const doc: AllocationDoc = { ...alloc.doc, ...unheld(), reason };
  const released = await writeFenced(es, alloc.id, doc, alloc, `giving back allocation ${alloc.id}`);
  await recordUndeployed(es, member.name, alloc.doc.model_id);
  return released !== null;
}

/**
 * Claims again, with the fenced claim, an allocation recorded under this daemon's name that this run
 * did not claim; null when another daemon's write came first (it took the allocation over).
 */
export async function claimAgain(member: Member, alloc: Versioned<AllocationDoc>): Promise<Versioned<AllocationDoc> | null> {
  const won = await writeClaim(member, alloc, null);
  if (won) await takeOver(member, won, null);
  return won;
}

/** Every live daemon already failed on it: it is failed, with every daemon's reason. */
async function failAllocation(member: Member, alloc: Versioned<AllocationDoc>): Promise<void> {
  const failed = { ...alloc.doc, ...unheld(), state: 'failed' as const, reason: describeFailures(alloc.doc.failures) };
  await writeFenced(member.ctx.es, alloc.id, failed, alloc, `failing allocation ${alloc.id}`);
}

/**
 * Whether this daemon claims a claimable allocation now: it must fit, have room, and be the daemon
 * preferred for it, unless the allocation has waited two reconcile periods unclaimed (the preferred
 * one is busy or gone): then any daemon that fits may take it. `stop` ends the pass: no room here.
 */
async function judgeClaim(
  member: Member,
  alloc: Versioned<AllocationDoc>,
  docs: FleetDocs,
  daemons: Map<string, PresenceDoc>,
  counts: Map<string, number>,
  now: number,
): Promise<Verdict> {
  const { daemon: config } = member.ctx.config;
  const candidates = [...daemons.values()].filter((d) => fits(d, alloc.doc, docs, counts));
  if (!candidates.some((d) => d.daemon === member.name)) return 'pass';
  if ((counts.get(member.name) ?? 0) >= config.maxModels || loading(member) >= config.maxConcurrentLoads) return 'stop';
  const preferred = preferredDaemon(candidates, counts, alloc.id);
  const waited = now - Date.parse(alloc.doc.updated_at) > 2 * config.reconcileMs;
  if (preferred.daemon !== member.name && !waited) return 'pass';
  return (await withinBudget(member, alloc.doc.model_id)) ? 'claim' : 'pass';
}

/** Models loading on this daemon now. */
export function loading(member: Member): number {
  return member.deployments.list().filter((s) => s.state === 'starting').length;
}

/** Whether the model still fits in `daemon.memoryBudget` beside what this daemon holds; a model of unknown size does. */
export async function withinBudget(member: Member, modelId: string): Promise<boolean> {
  const budget = member.ctx.config.daemon.memoryBudget as number | undefined;
  if (budget === undefined) return true;
  const bytes = await modelBytes(member, modelId);
  return bytes === null || heldBytes(member.held) + bytes <= budget;
}

async function modelBytes(member: Member, modelId: string): Promise<number | null> {
  try {
    return (await requireMeta(member.ctx.es, modelId)).meta.total_length;
  } catch {
    return null;
  }
}

/** The fenced write of the claim; null when another daemon's write came first, and the pass is then read again. */
async function writeClaim(
  member: Member,
  alloc: Versioned<AllocationDoc>,
  previous: string | null,
): Promise<Versioned<AllocationDoc> | null> {
  const { doc } = alloc;
  const claimed: AllocationDoc = {
    ...doc,
    daemon: member.name,
    state: 'starting',
    phase: null,
    reason: previous === null ? null : `taken over from daemon '${previous}', whose lease expired`,
    pid: null,
    // A move under way ends with the holder it moved from: its receiver stops its copy.
    moving: null,
    claimed_at: new Date().toISOString(),
    updated_at: new Date().toISOString(),
  };
  const won = await writeFenced(member.ctx.es, alloc.id, claimed, alloc, `claiming allocation ${alloc.id}`);
  member.deployments.metrics.fleetClaims.inc({ outcome: won ? 'won' : 'lost' });
  if (!won) {
    member.ctx.logger.debug(
      { event: { action: 'fleet-claim', outcome: 'failure' }, feeder: { model_id: doc.model_id, allocation: doc.allocation } },
      `daemon '${member.name}' lost allocation ${doc.allocation} of model '${doc.model_id}' to another daemon's write`,
    );
    // What this pass read is out of date: read again rather than lose the next ones too.
    member.nudge();
  }
  return won;
}

async function takeOver(member: Member, won: Versioned<AllocationDoc>, previous: string | null): Promise<void> {
  const { doc } = won;
  logEvent(
    member.ctx.logger,
    {
      action: 'fleet-claim',
      outcome: 'success',
      modelId: doc.model_id,
      allocation: doc.allocation,
      daemon: member.name,
      fleet: member.fleet,
    },
    `daemon '${member.name}' claimed allocation ${doc.allocation} of model '${doc.model_id}'${previous === null ? '' : ` from daemon '${previous}', whose lease expired`}`,
  );
  // The pin of the generation moves with the allocation: the gone holder's desired-state
  // document would otherwise keep its generations from garbage collection for good.
  if (previous !== null) await recordUndeployed(member.ctx.es, previous, doc.model_id);
}
