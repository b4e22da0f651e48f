// Several real `feeder serve` processes in one fleet on the 3-node test cluster, and a watcher that
// polls every one of them.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect } from 'vitest';
import type { DeploymentStatus, FleetModelStatus, FleetStatus } from '../../src/api/wire-types.js';
import { FLEET_INDEX } from '../../src/model/layout.js';
import { startCluster, useClusterAlone, type TestCluster } from './cluster.js';
import { startDaemon, type RunningDaemon } from './daemon.js';
import { isAlive } from './processes.js';
import { esUrl, newEs, uniqueId } from './es.js';
import { call, deployPath, forgetDaemon, liveSpawned } from './races.js';
import { waitUntil } from './wait.js';

/**
 * Short enough for tests, with room for a loaded machine: a renewal may come late without the daemon
 * taken for gone. With test files side by side, the 20-deployment race saw 3 s leases lapse under
 * CI's load (allocations claimed by two daemons, and for seconds served by both): 6 s leaves room.
 */
export const FLEET_TIMING = { heartbeatMs: 1000, leaseMs: 6000, reconcileMs: 200 };

export interface FleetOptions {
  size?: number;
  config?: Record<string, any>;
  env?: Record<string, string>;
}

export class TestFleet {
  readonly members: RunningDaemon[] = [];
  /** Every daemon ever started, killed ones included, for the leftover check. */
  readonly everyone: RunningDaemon[] = [];

  constructor(
    readonly fleet: string,
    /** Null: the suite's single test node. */
    readonly clusterOrNull: TestCluster | null,
    readonly options: FleetOptions,
  ) {}

  get cluster(): TestCluster {
    if (!this.clusterOrNull) throw new Error('this fleet runs on the single test node, not on the 3-node cluster');
    return this.clusterOrNull;
  }

  /** The URL(s) of its Elasticsearch, as ES_URL takes them. */
  get esUrl(): string {
    return this.clusterOrNull?.url ?? esUrl();
  }

  /** A fleet on the 3-node test cluster (started once for the whole run), or on the single test node. */
  static async start(options: FleetOptions = {}, onCluster = true): Promise<TestFleet> {
    const fleet = new TestFleet(uniqueId('fleet'), onCluster ? await startCluster() : null, options);
    await Promise.all(Array.from({ length: options.size ?? 3 }, (_, i) => fleet.add(`${fleet.fleet}-d${i}`)));
    fleet.members.sort((a, b) => a.name.localeCompare(b.name));
    return fleet;
  }

  /** Starts a member; `daemonConfig` adds to the fleet's `daemon` settings for this one alone. */
  async add(name: string, daemonConfig: Record<string, any> = {}): Promise<RunningDaemon> {
    const daemon = await startDaemon({
      name,
      config: {
        ...this.options.config,
        daemon: { ...FLEET_TIMING, fleet: this.fleet, ...this.options.config?.daemon, ...daemonConfig },
      },
      env: { ES_URL: this.esUrl, ...this.options.env },
    });
    this.members.push(daemon);
    this.everyone.push(daemon);
    return daemon;
  }

  byName(name: string): RunningDaemon {
    const found = this.members.find((d) => d.name === name);
    if (!found) throw new Error(`no running member '${name}' in ${this.members.map((m) => m.name).join(', ')}`);
    return found;
  }

  forget(daemon: RunningDaemon): void {
    this.members.splice(this.members.indexOf(daemon), 1);
  }

  async status(via: RunningDaemon = this.members[0]!): Promise<FleetStatus> {
    const answer = await call(via.listen, 'GET', '/fleet');
    if (answer.status !== 200) throw new Error(`GET /fleet on ${via.name}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body as FleetStatus;
  }

  async modelStatus(modelId: string, via: RunningDaemon = this.members[0]!): Promise<FleetModelStatus> {
    return (await call(via.listen, 'GET', deployPath(modelId))).body as FleetModelStatus;
  }

  /** Polls the fleet's view of `modelId` until `until` holds. */
  async waitFor(
    modelId: string,
    until: (s: FleetModelStatus) => boolean,
    timeoutMs = 30_000,
    via?: RunningDaemon,
  ): Promise<FleetModelStatus> {
    let last: FleetModelStatus | undefined;
    const matched = async () => {
      last = await this.modelStatus(modelId, via).catch(() => last);
      return last && Array.isArray(last.items) && until(last) ? last : undefined;
    };
    return waitUntil(`the fleet status of '${modelId}' to match`, matched, { timeoutMs, lastSeen: () => JSON.stringify(last) });
  }

  /** Which daemons run a started deployment of each model, from each daemon's own list. */
  async servingNow(): Promise<Map<string, string[]>> {
    const serving = new Map<string, string[]>();
    await Promise.all(
      this.members.map(async (d) => {
        const answer = await call(d.listen, 'GET', '/deployments', undefined, 5000).catch(() => null);
        for (const s of (answer?.body?.deployments ?? []) as DeploymentStatus[]) {
          if (s.state !== 'started') continue;
          serving.set(s.model_id, [...(serving.get(s.model_id) ?? []), d.name]);
        }
      }),
    );
    return serving;
  }

  /** Native processes of every daemon ever started that still run: none may be left after a test. */
  async leftovers(): Promise<number[]> {
    const all = await Promise.all(this.everyone.map((d) => liveSpawned(d)));
    return all.flat().filter((pid) => isAlive(pid));
  }

  /** Stops every member (SIGTERM), then removes what the fleet left in Elasticsearch. */
  async stop(): Promise<void> {
    await Promise.all(this.members.map((d) => d.stop().catch(() => undefined)));
    for (const d of this.everyone) {
      if (isAlive(d.child.pid!)) d.child.kill('SIGKILL');
      await forgetDaemon(d.name, this.esUrl);
    }
    // By id: the test node's distribution has no delete-by-query.
    const { client } = newEs(this.esUrl);
    const found = await client.search(
      { index: FLEET_INDEX, size: 10_000, query: { term: { fleet: this.fleet } }, _source: false },
      { ignore: [404] },
    );
    const ids = (found.hits?.hits ?? []).map((h) => h._id!);
    if (ids.length > 0) await client.bulk({ refresh: true, operations: ids.map((id) => ({ delete: { _index: FLEET_INDEX, _id: id } })) });
  }
}

/**
 * Polls every member and records each moment a model had more started deployments than desired
 * for longer than `graceMs` (one lease period: a paused daemon may serve until its lease lapses).
 */
export class OverAllocationWatcher {
  readonly violations: string[] = [];
  #running = true;
  #done: Promise<void>;
  readonly #since = new Map<string, number>();

  constructor(
    private readonly fleet: TestFleet,
    private readonly desired: () => Map<string, number>,
    private readonly graceMs: number,
  ) {
    this.#done = this.#loop();
  }

  async #loop(): Promise<void> {
    while (this.#running) {
      const serving = await this.fleet.servingNow();
      const now = Date.now();
      const desired = this.desired();
      for (const [modelId, daemons] of serving) {
        const limit = desired.get(modelId) ?? 0;
        if (daemons.length <= limit) {
          this.#since.delete(modelId);
          continue;
        }
        const since = this.#since.get(modelId) ?? now;
        this.#since.set(modelId, since);
        if (now - since > this.graceMs)
          this.violations.push(
            `${new Date(now).toISOString()}: '${modelId}' served by ${daemons.join(', ')}, desired ${limit}, for ${now - since} ms`,
          );
      }
      for (const modelId of this.#since.keys()) if (!serving.has(modelId)) this.#since.delete(modelId);
      await sleep(100);
    }
  }

  async stop(): Promise<string[]> {
    this.#running = false;
    await this.#done;
    return this.violations;
  }
}

/** What a fleet test file keeps across a test: the allocations the test wants, and how it starts its fleet. */
export interface FleetScene {
  /** Model id → the allocations the test asked for: the watcher's measure of over-allocation. */
  desired: Map<string, number>;
  /**
   * Starts a fleet, watched for more started allocations of a model than desired for longer than
   * `graceMs` (0: never, not even briefly); after the test it is stopped and checked.
   */
  start(options?: FleetOptions, graceMs?: number): Promise<TestFleet>;
}

/**
 * For a fleet test file, at its top level: the 3-node cluster is the file's alone, and after each
 * test the fleet is stopped, then the watcher's findings and the native processes left are checked.
 * Off the cluster (`onCluster: false`) the fleets run on the single test node, beside other files:
 * for what no Elasticsearch node's loss or shard copy changes, so that it need not wait its turn
 * on the cluster.
 */
export function useFleetScene({ onCluster = true }: { onCluster?: boolean } = {}): FleetScene {
  if (onCluster) useClusterAlone();
  let fleet: TestFleet | null = null;
  let watcher: OverAllocationWatcher | null = null;
  const desired = new Map<string, number>();
  afterEach(async () => {
    const violations = (await watcher?.stop()) ?? [];
    const stopping = fleet;
    fleet = null;
    watcher = null;
    if (!stopping) return;
    await stopping.stop();
    expect(violations, 'a model had more started allocations than desired for longer than the watcher allows').toEqual([]);
    expect(await stopping.leftovers(), 'native processes left running after the test').toEqual([]);
  }, 60_000);
  return {
    desired,
    async start(options = {}, graceMs = FLEET_TIMING.leaseMs) {
      fleet = await TestFleet.start(options, onCluster);
      desired.clear();
      watcher = new OverAllocationWatcher(fleet, () => desired, graceMs);
      return fleet;
    },
  };
}
