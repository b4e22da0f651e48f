// Rebalancing scenes on the single test node: members with their own native flags (slow or failing
// loads), a watcher of the allocation documents and the members' processes, and inference loops.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect } from 'vitest';
import type { FleetModelStatus } from '../../src/api/wire-types.js';
import { readFleet, type FleetDocs } from '../../src/coordination/fleet-allocations.js';
import { startDaemon, type RunningDaemon } from './daemon.js';
import { storedModel } from './deploy.js';
import { newEs, uniqueId } from './es.js';
import { FLEET_TIMING, TestFleet } from './fleet.js';
import { isAlive } from './processes.js';
import { call, deployPath } from './races.js';
import { waitUntil } from './wait.js';

export interface MoveScene {
  /** A fleet of `members` members running `models` one-allocation models of `size` bytes, deployed one after another. */
  fleetWithModels(members: number, models: number, size: number, maxMovesPerMinute?: number): Promise<{ f: TestFleet; ids: string[] }>;
}

/** For a test file at its top level: after each test its fleet is stopped and no native process may be left. */
export function useMoveScene(): MoveScene {
  let fleet: TestFleet | null = null;
  afterEach(async () => {
    const stopping = fleet;
    fleet = null;
    if (!stopping) return;
    await stopping.stop();
    expect(await stopping.leftovers(), 'native processes left running after the test').toEqual([]);
  }, 60_000);
  return {
    async fleetWithModels(members, models, size, maxMovesPerMinute = 6) {
      const f = (fleet = new TestFleet(uniqueId('fleet'), null, { config: { daemon: { rebalance: { maxMovesPerMinute } } } }));
      for (let i = 0; i < members; i++) await addMember(f, `${f.fleet}-d${i}`);
      const ids: string[] = [];
      for (let i = 0; i < models; i++) {
        const { modelId } = await storedModel(size);
        const body = { allocations: 1, wait_for: 'started', timeout_ms: 30_000 };
        const answer = await call(f.members[0]!.listen, 'PUT', deployPath(modelId), body, 45_000);
        expect((answer.body as FleetModelStatus).state, JSON.stringify(answer.body)).toBe('started');
        ids.push(modelId);
      }
      return { f, ids };
    },
  };
}

/** Waits until the members hold `expected` allocations (sorted), all started, none moving. */
export const waitForSpread = (f: TestFleet, expected: number[], timeoutMs = 40_000): Promise<FleetDocs> =>
  waitUntil(
    `the fleet to settle at ${expected.join('/')}`,
    async () => {
      const docs = await readDocs(f);
      return settled(docs) && JSON.stringify(spread(docs, f.members)) === JSON.stringify(expected) ? docs : undefined;
    },
    { timeoutMs, intervalMs: 200 },
  );

/** Starts a member of `fleet`; `extra` adds top-level settings (`deploy.args` for the stub) to the fleet's. */
export async function addMember(fleet: TestFleet, name: string, extra: Record<string, any> = {}): Promise<RunningDaemon> {
  const base = fleet.options.config ?? {};
  const daemon = await startDaemon({
    name,
    config: { ...base, ...extra, daemon: { ...FLEET_TIMING, ...base.daemon, fleet: fleet.fleet } },
    env: { ES_URL: fleet.esUrl },
  });
  fleet.members.push(daemon);
  fleet.everyone.push(daemon);
  return daemon;
}

export const readDocs = (fleet: TestFleet): Promise<FleetDocs> => readFleet(newEs(fleet.esUrl), fleet.fleet);

/** Allocations held per member, members holding none included, sorted: [1, 1, 2]. */
export function spread(docs: FleetDocs, members: readonly RunningDaemon[]): number[] {
  const counts = new Map(members.map((m) => [m.name, 0]));
  for (const { doc } of docs.allocations) if (doc.daemon !== null) counts.set(doc.daemon, (counts.get(doc.daemon) ?? 0) + 1);
  return [...counts.values()].sort((a, b) => a - b);
}

/** Every allocation started, no move under way. */
export const settled = (docs: FleetDocs): boolean => docs.allocations.every((a) => a.doc.state === 'started' && !a.doc.moving);

/** A counter of a member's GET /metrics, 0 when absent. */
export async function metric(daemon: RunningDaemon, name: string, labels: string): Promise<number> {
  const answer = await fetch(`http://${daemon.listen}/metrics`).then((r) => r.text());
  const line = answer.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

/**
 * Samples the allocation documents, `GET /fleet` and each member's started deployments every 100
 * ms. Always: at most one move under way, at most one model copy more than desired. Strict (no member
 * killed): every allocation started with its recorded process alive, never fewer than desired.
 */
export class MoveWatcher {
  readonly violations: string[] = [];
  /** `moving` as `GET /fleet` showed it, each distinct one. */
  readonly movesShown = new Set<string>();
  #running = true;
  readonly #done: Promise<void>;

  constructor(
    private readonly fleet: TestFleet,
    private readonly strict: boolean,
  ) {
    this.#done = this.#loop();
  }

  async #loop(): Promise<void> {
    while (this.#running) {
      await this.#sample().catch((error: unknown) => this.violations.push(`sampling failed: ${(error as Error).message}`));
      await sleep(100);
    }
  }

  async #sample(): Promise<void> {
    const [docs, serving, status] = await Promise.all([readDocs(this.fleet), this.fleet.servingNow(), this.#status()]);
    const at = new Date().toISOString();
    const moving = docs.allocations.filter((a) => a.doc.moving);
    if (moving.length > 1) this.violations.push(`${at}: ${moving.length} moves at once: ${moving.map((a) => a.id).join(', ')}`);
    for (const { doc } of docs.allocations) {
      const copies = serving.get(doc.model_id) ?? [];
      if (copies.length > 2) this.violations.push(`${at}: '${doc.model_id}' served by ${copies.join(', ')}`);
      if (this.strict && !(doc.state === 'started' && doc.pid !== null && isAlive(doc.pid, 'native-stub')))
        this.violations.push(`${at}: '${doc.model_id}' ${doc.state} on ${doc.daemon}, pid ${doc.pid} not alive`);
    }
    for (const d of status?.deployments ?? [])
      for (const i of d.items)
        if (i.moving) this.movesShown.add(`${d.model_id}: ${i.moving.from} -> ${i.moving.to} since ${i.moving.since}`);
  }

  async #status() {
    const via = this.fleet.members.find((m) => isAlive(m.child.pid!));
    return via ? this.fleet.status(via).catch(() => null) : null;
  }

  async stop(): Promise<this> {
    this.#running = false;
    await this.#done;
    return this;
  }
}

/** Inferences of one model through one member, one after another, until stopped; failures by status. */
export class InferenceLoop {
  answered = 0;
  readonly failures: string[] = [];
  #running = true;
  readonly #done: Promise<void>;

  constructor(
    private readonly via: RunningDaemon,
    private readonly modelId: string,
  ) {
    this.#done = this.#loop();
  }

  async #loop(): Promise<void> {
    while (this.#running) {
      const answer = await call(this.via.listen, 'POST', `${deployPath(this.modelId)}/infer`, { tokens: [[1, 2]] }, 10_000).catch(
        (error: unknown) => ({ status: 0, body: (error as Error).message }),
      );
      if (answer.status === 200) this.answered++;
      else this.failures.push(`${new Date().toISOString()} ${answer.status} ${JSON.stringify(answer.body)}`);
      await sleep(50);
    }
  }

  async stop(): Promise<this> {
    this.#running = false;
    await this.#done;
    return this;
  }
}
