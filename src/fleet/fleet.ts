import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgumentError, ModelNotFoundError } from '../errors.js';
import { logEvent } from '../log/logger.js';
import { liveFleetDaemons, type DaemonLease, type PresenceDoc, type ServedAllocation } from '../coordination/daemon-presence.js';
import { desiredDeployments, recordUndeployed } from '../coordination/desired-deployments.js';
import {
  allocationId,
  deleteDesired,
  deleteFenced,
  newAllocation,
  putDesired,
  readFleet,
  writeFenced,
  type AllocationDoc,
  type FleetDocs,
  type Versioned,
} from '../coordination/fleet-allocations.js';
import { requireMeta } from '../model/meta.js';
import { validateModelId } from '../model/model-id.js';
import { requireDeployable, type DaemonContext, type Deployments } from '../deployments/deployments.js';
import type { AllocationStatus, FleetModelStatus, FleetStatus } from '../api/wire-types.js';

/** Most allocations one deploy may ask for: a fleet of more daemons than this is not what this is for. */
export const MAX_ALLOCATIONS = 64;

/** How long a draining daemon tries to give its allocations back. */
const RELEASE_WITHIN_MS = 3000;

/**
 * This daemon's part in a fleet. Every `daemon.reconcileMs` it reads the fleet's desired deployments
 * and allocations, runs what it holds, reports its state into the allocation documents, claims free
 * allocations (and those of daemons whose lease has expired) through writes fenced by sequence
 * number, and stops what it no longer holds. No daemon coordinates the others: Elasticsearch's
 * fenced writes decide every race, and each allocation has at most one holder.
 */
export class Fleet {
  readonly name: string;
  readonly fleet: string;
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> = Promise.resolve();
  #again = false;
  #running = false;
  #stopped = false;
  /** Models whose allocation this daemon holds, with the allocation and the desired revision it applied. */
  readonly #held = new Map<string, { allocation: number; revision: number; bytes: number | null }>();
  #fenced = false;

  constructor(
    private readonly ctx: DaemonContext,
    private readonly deployments: Deployments,
    private readonly lease: DaemonLease,
  ) {
    this.name = ctx.config.daemon.name;
    this.fleet = ctx.config.daemon.fleet!;
  }

  /** Forgets what a previous run under this name left in its own desired-state documents, then reconciles every `reconcileMs`. */
  async start(): Promise<void> {
    const { es } = this.ctx;
    for (const modelId of await desiredDeployments(es, this.name)) await recordUndeployed(es, this.name, modelId);
    this.lease.watch(
      () => this.#fence(),
      () => this.served(),
    );
    this.#schedule(0);
  }

  /** What this daemon holds, for its presence document. */
  served(): ServedAllocation[] {
    return [...this.#held].map(([modelId, h]) => ({ model_id: modelId, allocation: h.allocation, bytes: h.bytes }));
  }

  /** Whether this daemon may answer for `modelId` itself: it holds an allocation, it is started, and the lease covers serving. */
  servesLocally(modelId: string): boolean {
    return this.#held.has(modelId) && this.lease.servingAllowed() && this.deployments.get(modelId)?.state === 'started';
  }

  /** Records the fleet's desired deployment and reconciles at once; the caller waits with `waitFor`. */
  async deploy(modelId: string, allocations: number): Promise<void> {
    validateModelId(modelId);
    if (!Number.isSafeInteger(allocations) || allocations < 1 || allocations > MAX_ALLOCATIONS)
      throw new InvalidArgumentError(`allocations must be a whole number from 1 to ${MAX_ALLOCATIONS}; got ${JSON.stringify(allocations)}`);
    requireDeployable((await requireMeta(this.ctx.es, modelId)).meta);
    const desired = await putDesired(this.ctx.es, this.fleet, modelId, allocations);
    // Read again once the desired document is written: a delete marks the model `deleting` before it
    // looks for fleets that run it, so of the two at the same moment one sees the other.
    try {
      requireDeployable((await requireMeta(this.ctx.es, modelId)).meta);
    } catch (error) {
      await deleteDesired(this.ctx.es, this.fleet, modelId);
      throw error;
    }
    // A deploy again is a new try for allocations that failed (after `upload --replace`, say): they start afresh.
    for (const alloc of (await readFleet(this.ctx.es, this.fleet, modelId)).allocations) {
      if (alloc.doc.state !== 'failed') continue;
      const fresh = { ...newAllocation(this.fleet, modelId, alloc.doc.allocation), revision: desired.revision };
      await writeFenced(this.ctx.es, alloc.id, fresh, alloc, `trying allocation ${alloc.id} again`);
    }
    logEvent(
      this.ctx.logger,
      { action: 'fleet-deploy', outcome: 'success', modelId, fleet: this.fleet, allocations, revision: desired.revision },
      `fleet '${this.fleet}' should run model '${modelId}' with ${allocations} allocation(s) (revision ${desired.revision})`,
    );
    this.nudge();
  }

  async undeploy(modelId: string): Promise<boolean> {
    validateModelId(modelId);
    const removed = await deleteDesired(this.ctx.es, this.fleet, modelId);
    if (removed)
      logEvent(
        this.ctx.logger,
        { action: 'fleet-undeploy', outcome: 'success', modelId, fleet: this.fleet },
        `fleet '${this.fleet}' no longer runs model '${modelId}'`,
      );
    this.nudge();
    return removed;
  }

  /** Every allocation of the fleet (or of one model), with the live daemons. */
  async status(modelId?: string): Promise<FleetStatus> {
    const [docs, daemons] = await Promise.all([readFleet(this.ctx.es, this.fleet, modelId), liveFleetDaemons(this.ctx.es, this.fleet)]);
    return describeFleet(this.fleet, docs, daemons);
  }

  async modelStatus(modelId: string): Promise<FleetModelStatus> {
    const status = await this.status(modelId);
    const found = status.deployments.find((d) => d.model_id === modelId);
    if (!found)
      throw new ModelNotFoundError(
        `model '${modelId}' is not deployed in fleet '${this.fleet}'; 'feeder status' lists the fleet's deployments`,
      );
    return found;
  }

  /** Allocation documents of `modelId` still in the fleet: holders remove theirs once they stopped it. */
  async allocationsLeft(modelId: string): Promise<number> {
    return (await readFleet(this.ctx.es, this.fleet, modelId)).allocations.length;
  }

  /** A live daemon of the fleet with a started allocation of `modelId`, other than this one. */
  async findServer(modelId: string): Promise<PresenceDoc | null> {
    const [docs, daemons] = await Promise.all([readFleet(this.ctx.es, this.fleet, modelId), liveFleetDaemons(this.ctx.es, this.fleet)]);
    const started = docs.allocations.filter((a) => a.doc.state === 'started' && a.doc.daemon !== null && a.doc.daemon !== this.name);
    const servers = started.map((a) => daemons.get(a.doc.daemon!)).filter((d): d is PresenceDoc => d !== undefined);
    return servers[Math.floor(Math.random() * servers.length)] ?? null;
  }

  /** Reconciles now, or as soon as the pass under way is over. */
  nudge(): void {
    if (this.#stopped) return;
    if (this.#running) this.#again = true;
    else this.#schedule(0);
  }

  /**
   * SIGTERM: stops reconciling, stops every native process, and gives every allocation it held back
   * to the fleet at once, so other daemons take them over without waiting for the lease to expire.
   */
  async drain(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#ticking;
    await this.deployments.stopAll();
    // Bounded: a cluster that cannot be reached must not hold the daemon; the lease expiry frees what it held.
    await Promise.race([this.#release(), sleep(RELEASE_WITHIN_MS)]);
    this.#held.clear();
  }

  async #release(): Promise<void> {
    const { es, logger } = this.ctx;
    const released: string[] = [];
    try {
      const docs = await readFleet(es, this.fleet);
      for (const alloc of docs.allocations.filter((a) => a.doc.daemon === this.name)) {
        const doc: AllocationDoc = { ...alloc.doc, ...unheld(), reason: `released by daemon '${this.name}', which stopped` };
        if (await writeFenced(es, alloc.id, doc, alloc, `releasing allocation ${alloc.id}`)) released.push(alloc.id);
        await recordUndeployed(es, this.name, alloc.doc.model_id);
      }
      logEvent(
        logger,
        { action: 'fleet-release', outcome: 'success', daemon: this.name, fleet: this.fleet },
        `daemon '${this.name}' gave back ${released.length} allocation(s) to fleet '${this.fleet}'${released.length ? `: ${released.join(', ')}` : ''}`,
      );
    } catch (error) {
      logEvent(
        logger,
        { action: 'fleet-release', outcome: 'failure', daemon: this.name, fleet: this.fleet, error: (error as Error).message },
        `could not give back the allocations of daemon '${this.name}' (${(error as Error).message}); other daemons take them over when its lease expires`,
      );
    }
  }

  /** One timer at a time, one pass at a time. */
  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#run(), delayMs);
  }

  #run(): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    this.#ticking = this.#tick().finally(() => {
      this.#running = false;
      const again = this.#again;
      this.#again = false;
      this.#schedule(again ? 0 : this.ctx.config.daemon.reconcileMs);
    });
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    try {
      await this.#reconcile();
    } catch (error) {
      logEvent(
        this.ctx.logger,
        { action: 'fleet-reconcile', outcome: 'failure', daemon: this.name, fleet: this.fleet, error: (error as Error).message },
        `could not reconcile with fleet '${this.fleet}' (${(error as Error).message}); trying again in ${this.ctx.config.daemon.reconcileMs} ms`,
      );
    }
  }

  /** The lease stopped covering serving: every native process goes, the allocations stay recorded as ours until the next reconcile. */
  #fence(): void {
    this.#fenced = true;
    for (const modelId of [...this.#held.keys()]) void this.#stopLocal(modelId, 'the lease lapsed');
  }

  async #reconcile(): Promise<void> {
    const { es } = this.ctx;
    // Taken before reading: an answer that was under way while the process was paused past its lease
    // is older than the lapse, and the lapse count tells that it must not be acted on.
    const lapses = this.lease.lapses;
    const leaseOk = this.lease.servingAllowed();
    const [first, daemons] = await Promise.all([readFleet(es, this.fleet), liveFleetDaemons(es, this.fleet)]);
    if (this.#stopped || this.lease.lapses !== lapses) return;
    const docs = (await this.#shape(first, daemons)) ? await readFleet(es, this.fleet) : first;
    if (this.#stopped || this.lease.lapses !== lapses) return;
    const mine = new Set<string>();
    for (const alloc of docs.allocations) {
      if (alloc.doc.daemon !== this.name) continue;
      mine.add(alloc.doc.model_id);
      if (leaseOk && this.lease.lapses === lapses) await this.#runHeld(alloc, docs);
    }
    // What this daemon runs but no longer holds: taken over while it was paused, or released.
    for (const modelId of [...this.#held.keys()]) if (!mine.has(modelId)) await this.#stopLocal(modelId, 'another daemon holds it now');
    for (const status of this.deployments.list()) if (!mine.has(status.model_id)) await this.#stopLocal(status.model_id, 'not held');
    // Read again: running what it holds may have taken a while, and a stale view loses claims.
    if (leaseOk && this.lease.lapses === lapses) await this.#claim(await readFleet(es, this.fleet), daemons);
    this.#fenced = false;
  }

  /**
   * Creates missing allocation documents, deletes those of models no longer desired (or beyond the
   * count asked for). True when it changed anything, so that the caller reads the fleet again.
   */
  async #shape(docs: FleetDocs, daemons: Map<string, PresenceDoc>): Promise<boolean> {
    const { es } = this.ctx;
    let changed = false;
    for (const alloc of docs.allocations) {
      const desired = docs.desired.get(alloc.doc.model_id);
      if (desired && alloc.doc.allocation < desired.doc.allocations) continue;
      const holder = alloc.doc.daemon;
      if (holder === this.name) await this.#stopLocal(alloc.doc.model_id, 'undeployed from the fleet');
      else if (holder !== null && daemons.has(holder)) continue;
      changed = (await deleteFenced(es, alloc, `removing allocation ${alloc.id}`)) || changed;
    }
    for (const [modelId, desired] of docs.desired) {
      for (let k = 0; k < desired.doc.allocations; k++) {
        if (docs.allocations.some((a) => a.doc.model_id === modelId && a.doc.allocation === k)) continue;
        const id = allocationId(this.fleet, modelId, k);
        changed = (await writeFenced(es, id, newAllocation(this.fleet, modelId, k), null, `creating allocation ${id}`)) !== null || changed;
      }
    }
    return changed;
  }

  /** Runs an allocation this daemon holds, and writes its state into the allocation document when it changed. */
  async #runHeld(alloc: Versioned<AllocationDoc>, docs: FleetDocs): Promise<void> {
    const modelId = alloc.doc.model_id;
    const desired = docs.desired.get(modelId);
    if (!desired || alloc.doc.state === 'failed') return;
    const held = this.#held.get(modelId);
    let local = this.deployments.get(modelId);
    if (!held || !local || local.state === 'stopped' || held.revision < desired.doc.revision) {
      try {
        local = await this.deployments.deploy(modelId);
        // Reported as soon as the load ends, not at the next period: a deploy waiting on the fleet sees it then.
        void local
          .waitUntil((st) => st.state !== 'starting', this.ctx.config.deploy.timeoutMs)
          .then(
            () => this.nudge(),
            () => undefined,
          );
        const { meta } = await requireMeta(this.ctx.es, modelId);
        this.#held.set(modelId, { allocation: alloc.doc.allocation, revision: desired.doc.revision, bytes: meta.total_length });
      } catch (error) {
        await this.#giveUp(alloc, (error as Error).message);
        return;
      }
    }
    const status = local.status();
    if (status.state === 'failed') {
      await this.#giveUp(alloc, status.reason ?? 'the deployment failed');
      return;
    }
    const next: AllocationDoc = {
      ...alloc.doc,
      state: status.state === 'started' ? 'started' : 'starting',
      phase: status.phase,
      reason: status.reason,
      generation: status.generation,
      pid: status.pid,
      revision: this.#held.get(modelId)?.revision ?? alloc.doc.revision,
    };
    if (sameReport(alloc.doc, next)) return;
    await writeFenced(this.ctx.es, alloc.id, { ...next, updated_at: new Date().toISOString() }, alloc, `reporting allocation ${alloc.id}`);
  }

  /**
   * The allocation failed to load here: it is given back with this daemon's reason, so that another
   * daemon may try; once `maxAllocationAttempts` daemons (or every live one) failed, it is failed.
   */
  async #giveUp(alloc: Versioned<AllocationDoc>, reason: string): Promise<void> {
    const modelId = alloc.doc.model_id;
    await this.#stopLocal(modelId, 'it failed to load');
    const failures = [...alloc.doc.failures, { daemon: this.name, reason, at: new Date().toISOString() }];
    const { maxAllocationAttempts } = this.ctx.config.daemon;
    const exhausted = failures.length >= maxAllocationAttempts;
    const doc: AllocationDoc = {
      ...alloc.doc,
      ...unheld(),
      failures,
      state: exhausted ? 'failed' : 'unassigned',
      reason: exhausted ? describeFailures(failures) : `failed on daemon '${this.name}': ${reason}; another daemon may try`,
    };
    logEvent(
      this.ctx.logger,
      { action: 'fleet-allocation', outcome: 'failure', modelId, allocation: alloc.doc.allocation, daemon: this.name, error: reason },
      `allocation ${alloc.doc.allocation} of model '${modelId}' failed on daemon '${this.name}' (${reason}); ${exhausted ? `it failed on ${failures.length} daemon(s), the deployment is failed` : 'giving it back to the fleet'}`,
    );
    await writeFenced(this.ctx.es, alloc.id, doc, alloc, `giving back allocation ${alloc.id}`);
  }

  /** Claims free allocations this daemon is a fit for, lightest daemon first, at most `maxConcurrentLoads` loading here. */
  async #claim(docs: FleetDocs, daemons: Map<string, PresenceDoc>): Promise<void> {
    const { config, es } = this.ctx;
    const { maxModels, maxConcurrentLoads } = config.daemon;
    const budget = config.daemon.memoryBudget as number | undefined;
    const counts = holdings(docs);
    const now = Date.now();
    // Each daemon goes through the free allocations in an order of its own, so that daemons racing
    // for many at once mostly try different ones first and few fenced writes are lost.
    const order = [...docs.allocations].sort((a, b) => rank(this.name, a.id) - rank(this.name, b.id));
    for (const alloc of order) {
      const { doc } = alloc;
      if (doc.state === 'failed' || !docs.desired.has(doc.model_id)) continue;
      const holderGone = doc.daemon !== null && doc.daemon !== this.name && !daemons.has(doc.daemon);
      if (doc.daemon !== null && !holderGone) continue;
      const untried = [...daemons.values()].filter((d) => !doc.failures.some((f) => f.daemon === d.daemon));
      if (untried.length === 0 && doc.failures.length > 0) {
        // Every live daemon already failed on it: nobody is left to try.
        const failed = { ...doc, ...unheld(), state: 'failed' as const, reason: describeFailures(doc.failures) };
        await writeFenced(es, alloc.id, failed, alloc, `failing allocation ${alloc.id}`);
        continue;
      }
      const candidates = [...daemons.values()].filter((d) => fits(d, doc, docs, counts));
      if (!candidates.some((d) => d.daemon === this.name)) continue;
      const mineCount = counts.get(this.name) ?? 0;
      if (mineCount >= maxModels) return;
      if (this.#loading() >= maxConcurrentLoads) return;
      // Spread: of the lightest daemons that fit, one is preferred (the highest rank for this
      // allocation, the same on every daemon), so daemons seldom race for one allocation. Past two
      // reconcile periods unclaimed (the preferred one is busy or gone), any daemon that fits may take it.
      const lightest = Math.min(...candidates.map((d) => counts.get(d.daemon) ?? 0));
      const preferred = candidates
        .filter((d) => (counts.get(d.daemon) ?? 0) === lightest)
        .reduce((best, d) => (rank(d.daemon, alloc.id) > rank(best.daemon, alloc.id) ? d : best));
      const waited = now - Date.parse(doc.updated_at) > 2 * config.daemon.reconcileMs;
      if (preferred.daemon !== this.name && !waited) continue;
      const bytes = budget === undefined ? null : await modelBytes(this.ctx, doc.model_id);
      if (budget !== undefined && bytes !== null && heldBytes(this.#held) + bytes > budget) continue;
      const claimed: AllocationDoc = {
        ...doc,
        daemon: this.name,
        state: 'starting',
        phase: null,
        reason: holderGone ? `taken over from daemon '${doc.daemon}', whose lease expired` : null,
        pid: null,
        claimed_at: new Date().toISOString(),
        updated_at: new Date().toISOString(),
      };
      const won = await writeFenced(es, alloc.id, claimed, alloc, `claiming allocation ${alloc.id}`);
      this.deployments.metrics.fleetClaims.inc({ outcome: won ? 'won' : 'lost' });
      if (!won) {
        this.ctx.logger.debug(
          { event: { action: 'fleet-claim', outcome: 'failure' }, feeder: { model_id: doc.model_id, allocation: doc.allocation } },
          `daemon '${this.name}' lost allocation ${doc.allocation} of model '${doc.model_id}' to another daemon's write`,
        );
        // What this pass read is out of date: read again rather than lose the next ones too.
        this.nudge();
        return;
      }
      // The rest of this pass sees the claim: no second allocation of the model here.
      docs.allocations[docs.allocations.indexOf(alloc)] = won;
      counts.set(this.name, mineCount + 1);
      logEvent(
        this.ctx.logger,
        {
          action: 'fleet-claim',
          outcome: 'success',
          modelId: doc.model_id,
          allocation: doc.allocation,
          daemon: this.name,
          fleet: this.fleet,
        },
        `daemon '${this.name}' claimed allocation ${doc.allocation} of model '${doc.model_id}'${holderGone ? ` from daemon '${doc.daemon}', whose lease expired` : ''}`,
      );
      // The pin of the generation moves with the allocation: the gone holder's desired-state
      // document would otherwise keep its generations from garbage collection for good.
      if (holderGone) await recordUndeployed(es, doc.daemon!, doc.model_id);
      await this.#runHeld(won, docs);
    }
  }

  #loading(): number {
    return this.deployments.list().filter((s) => s.state === 'starting').length;
  }

  async #stopLocal(modelId: string, why: string): Promise<void> {
    const had = this.#held.delete(modelId);
    const stopped = await this.deployments.stopLocally(modelId);
    if (had || stopped)
      logEvent(
        this.ctx.logger,
        { action: 'fleet-stop', outcome: 'success', modelId, daemon: this.name, reason: why },
        `daemon '${this.name}' stopped its allocation of model '${modelId}': ${why}`,
      );
    if (!this.#fenced) await recordUndeployed(this.ctx.es, this.name, modelId).catch(() => {});
  }
}

/** A stable pseudo-random rank of `id` for `daemon` (FNV-1a). */
function rank(daemon: string, id: string): number {
  let hash = 0x811c9dc5;
  for (const char of `${daemon}\u0000${id}`) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
  return hash;
}

function unheld(): Pick<AllocationDoc, 'daemon' | 'state' | 'phase' | 'pid' | 'claimed_at' | 'updated_at'> {
  return { daemon: null, state: 'unassigned', phase: null, pid: null, claimed_at: null, updated_at: new Date().toISOString() };
}

function sameReport(a: AllocationDoc, b: AllocationDoc): boolean {
  return (
    a.state === b.state &&
    a.phase === b.phase &&
    a.reason === b.reason &&
    a.generation === b.generation &&
    a.pid === b.pid &&
    a.revision === b.revision
  );
}

function describeFailures(failures: AllocationDoc['failures']): string {
  return `failed to load on ${failures.length} daemon(s): ${failures.map((f) => `daemon '${f.daemon}': ${f.reason}`).join('; ')}`;
}

/** Allocations held per daemon. */
function holdings(docs: FleetDocs): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { doc } of docs.allocations) if (doc.daemon !== null) counts.set(doc.daemon, (counts.get(doc.daemon) ?? 0) + 1);
  return counts;
}

/** Whether `daemon` may take `alloc`: it has room, did not fail on it, and holds no other allocation of the model. */
function fits(daemon: PresenceDoc, alloc: AllocationDoc, docs: FleetDocs, counts: Map<string, number>): boolean {
  if (alloc.failures.some((f) => f.daemon === daemon.daemon)) return false;
  if ((counts.get(daemon.daemon) ?? 0) >= (daemon.max_models ?? Infinity)) return false;
  return !docs.allocations.some((a) => a.doc.model_id === alloc.model_id && a.doc.daemon === daemon.daemon);
}

function heldBytes(held: Map<string, { bytes: number | null }>): number {
  return [...held.values()].reduce((sum, h) => sum + (h.bytes ?? 0), 0);
}

async function modelBytes(ctx: DaemonContext, modelId: string): Promise<number | null> {
  try {
    return (await requireMeta(ctx.es, modelId)).meta.total_length;
  } catch {
    return null;
  }
}

/** The fleet as `status` shows it: each desired model, its allocations and who holds them. */
export function describeFleet(fleet: string, docs: FleetDocs, daemons: Map<string, PresenceDoc>): FleetStatus {
  const deployments: FleetModelStatus[] = [];
  for (const [modelId, desired] of [...docs.desired].sort(([a], [b]) => a.localeCompare(b))) {
    const allocations: AllocationStatus[] = [];
    for (let k = 0; k < desired.doc.allocations; k++) {
      const doc = docs.allocations.find((a) => a.doc.model_id === modelId && a.doc.allocation === k)?.doc;
      const holderLive = doc?.daemon ? daemons.has(doc.daemon) : false;
      allocations.push({
        allocation: k,
        daemon: doc?.daemon ?? null,
        daemon_live: holderLive,
        state: doc?.state ?? 'unassigned',
        phase: doc?.phase ?? null,
        reason: doc?.reason ?? (doc?.daemon && !holderLive ? `daemon '${doc.daemon}' is gone; waiting for another to take over` : null),
        generation: doc?.generation ?? null,
        pid: doc?.pid ?? null,
        claimed_at: doc?.claimed_at ?? null,
        failures: doc?.failures.map((f) => ({ daemon: f.daemon, reason: f.reason })) ?? [],
      });
    }
    deployments.push({
      model_id: modelId,
      allocations: desired.doc.allocations,
      revision: desired.doc.revision,
      state: overallState(allocations),
      items: allocations,
    });
  }
  const members = [...daemons.values()].map((d) => ({
    daemon: d.daemon,
    listen: d.advertise ?? d.listen,
    host: d.host,
    pid: d.pid,
    max_models: d.max_models ?? null,
    serving: (d.serving ?? []).length,
    expires_at: d.expires_at,
  }));
  return { fleet, daemons: members.sort((a, b) => a.daemon.localeCompare(b.daemon)), deployments };
}

function overallState(items: AllocationStatus[]): FleetModelStatus['state'] {
  if (items.some((i) => i.state === 'failed')) return 'failed';
  if (items.every((i) => i.state === 'started')) return 'started';
  if (items.some((i) => i.state === 'started')) return 'partially_started';
  return 'starting';
}

/** Whether a fleet deployment reached what a deploy waits for. */
export function fleetSettled(status: FleetModelStatus, waitFor: 'starting' | 'started'): boolean {
  if (status.state === 'failed' || status.state === 'started') return true;
  if (waitFor === 'starting') return status.items.every((i) => i.daemon !== null);
  return false;
}

/** Polls the fleet until `until` holds or `timeoutMs` passes; returns the last status and whether it held. */
export async function waitForFleet(
  fleet: Fleet,
  modelId: string,
  until: (status: FleetModelStatus | null) => boolean,
  timeoutMs: number,
): Promise<{ status: FleetModelStatus | null; done: boolean }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await fleet.modelStatus(modelId).catch((error: unknown) => {
      if (error instanceof ModelNotFoundError) return null;
      throw error;
    });
    if (until(status)) return { status, done: true };
    if (Date.now() >= deadline) return { status, done: false };
    await sleep(Math.min(250, Math.max(0, deadline - Date.now())));
  }
}
