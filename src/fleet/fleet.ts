import { setTimeout as sleep } from 'node:timers/promises';
import type { FleetModelStatus, FleetStatus } from '../api/wire-types.js';
import { liveFleetDaemons, type PresenceDoc, type ServedAllocation } from '../coordination/daemon-presence.js';
import type { DaemonLease } from '../daemon/lease.js';
import { desiredDeployments, recordUndeployed } from '../coordination/desired-deployments.js';
import {
  deleteDesired,
  newAllocation,
  putDesired,
  readFleet,
  writeFenced,
  type FleetDeploySettings,
} from '../coordination/fleet-allocations.js';
import { resolveParallelism } from '../native/parallelism.js';
import { requireDeployable, type DaemonContext, type Deployments } from '../deployments/deployments.js';
import { InvalidArgumentError, ModelNotFoundError } from '../errors.js';
import { logEvent } from '../log/logger.js';
import { requireMeta } from '../model/meta.js';
import { validateModelId } from '../model/model-id.js';
import { describeFleet } from './fleet-status.js';
import type { HeldAllocation, Member } from './member.js';
import { reconcile } from './reconcile.js';
import { giveBack } from './claims.js';
import { HolderHealth } from './holder-health.js';

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
  readonly #held = new Map<string, HeldAllocation>();
  #fenced = false;
  readonly #member: Member;
  /** The holders this daemon's forwards failed on lately, left aside for the next ones. */
  readonly holderHealth: HolderHealth;

  constructor(
    private readonly ctx: DaemonContext,
    private readonly deployments: Deployments,
    private readonly lease: DaemonLease,
  ) {
    this.name = ctx.config.daemon.name;
    this.fleet = ctx.config.daemon.fleet!;
    this.holderHealth = new HolderHealth(ctx.logger);
    this.#member = {
      ctx,
      deployments,
      name: this.name,
      fleet: this.fleet,
      held: this.#held,
      nudge: () => this.nudge(),
      stopLocal: (modelId, why) => this.#stopLocal(modelId, why),
    };
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
  async deploy(modelId: string, allocations: number, settings: FleetDeploySettings = { parallelism: {}, batching: {} }): Promise<void> {
    validateModelId(modelId);
    // Checked here, where the caller hears of it, not by each holder: the defaults are filled per holder (its cores).
    resolveParallelism(settings.parallelism);
    if (!Number.isSafeInteger(allocations) || allocations < 1 || allocations > MAX_ALLOCATIONS)
      throw new InvalidArgumentError(`allocations must be a whole number from 1 to ${MAX_ALLOCATIONS}; got ${JSON.stringify(allocations)}`);
    requireDeployable((await requireMeta(this.ctx.es, modelId)).meta);
    const desired = await putDesired(this.ctx.es, this.fleet, modelId, allocations, settings);
    // Read again once the desired document is written: a delete marks the model `deleting` before it
    // looks for fleets that run it, so of the two at the same moment one sees the other.
    try {
      requireDeployable((await requireMeta(this.ctx.es, modelId)).meta);
    } catch (error) {
      await deleteDesired(this.ctx.es, this.fleet, modelId);
      throw error;
    }
    await this.#retryFailed(modelId, desired.revision);
    logEvent(
      this.ctx.logger,
      { action: 'fleet-deploy', outcome: 'success', modelId, fleet: this.fleet, allocations, revision: desired.revision },
      `fleet '${this.fleet}' should run model '${modelId}' with ${allocations} allocation(s) (revision ${desired.revision})`,
    );
    this.nudge();
  }

  /** A deploy again is a new try for allocations that failed (after `upload --replace`, say): they start afresh. */
  async #retryFailed(modelId: string, revision: number): Promise<void> {
    for (const alloc of (await readFleet(this.ctx.es, this.fleet, modelId)).allocations) {
      if (alloc.doc.state !== 'failed') continue;
      const fresh = { ...newAllocation(this.fleet, modelId, alloc.doc.allocation), revision };
      await writeFenced(this.ctx.es, alloc.id, fresh, alloc, `trying allocation ${alloc.id} again`);
    }
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

  /** The live daemons of the fleet with a started allocation of `modelId`, other than this one, in the order to try them. */
  async findServers(modelId: string): Promise<PresenceDoc[]> {
    const [docs, daemons] = await Promise.all([readFleet(this.ctx.es, this.fleet, modelId), liveFleetDaemons(this.ctx.es, this.fleet)]);
    const servers = docs.allocations
      .filter((a) => a.doc.state === 'started' && a.doc.daemon !== this.name)
      .map((a) => (a.doc.daemon === null ? undefined : daemons.get(a.doc.daemon)))
      .filter((d): d is PresenceDoc => d !== undefined);
    return this.holderHealth.order(servers);
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
      for (const alloc of docs.allocations.filter((a) => a.doc.daemon === this.name))
        if (await giveBack(this.#member, alloc, `released by daemon '${this.name}', which stopped`)) released.push(alloc.id);
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
      if (await reconcile(this.#member, this.lease, () => this.#stopped)) this.#fenced = false;
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
