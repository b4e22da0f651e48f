import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { liveFleetDaemons, type PresenceDoc } from '../../src/coordination/daemon-presence.js';
import { DaemonLease, type LeaseSettings } from '../../src/daemon/lease.js';
import { newAllocation, type FleetDocs } from '../../src/coordination/fleet-allocations.js';
import { planMove } from '../../src/fleet/rebalance-plan.js';
import { DAEMONS_INDEX } from '../../src/model/layout.js';
import { installTemplates } from '../../src/model/templates.js';
import { captureLogger, newEs, uniqueId } from '../support/es.js';

// Decisions such as "every live member failed this allocation" rest on this view of the fleet: a
// member missing from it makes them too early.

const LEASE = { heartbeatMs: 500, leaseMs: 3000 };
const taken: DaemonLease[] = [];

function member(fleet: string, name: string): LeaseSettings {
  return { name, listen: '127.0.0.1:1', fleet, maxModels: 1, ...LEASE };
}

async function take(fleet: string, name: string): Promise<void> {
  taken.push(await DaemonLease.take(newEs(), member(fleet, name), captureLogger().logger));
}

/** A presence document as a member wrote it `ago` ms ago, with the lease running out `LEASE.leaseMs` after. */
async function writePresence(fleet: string, name: string, ago: number): Promise<void> {
  const renewed = Date.now() - ago;
  const doc: PresenceDoc = {
    daemon: name,
    listen: '127.0.0.1:1',
    pid: 1,
    host: 'elsewhere',
    started_at: new Date(renewed).toISOString(),
    renewed_at: new Date(renewed).toISOString(),
    expires_at: new Date(renewed + LEASE.leaseMs).toISOString(),
    fleet,
    max_models: 1,
    memory_budget_bytes: null,
    serving: [],
  };
  await newEs().client.index({ index: DAEMONS_INDEX, id: name, document: doc, refresh: true });
}

async function members(fleet: string, graceMs?: number): Promise<string[]> {
  return [...(await liveFleetDaemons(newEs(), fleet, graceMs)).keys()].sort();
}

beforeAll(async () => {
  await installTemplates(newEs());
});

afterEach(async () => {
  await Promise.all(taken.splice(0).map((lease) => lease.release()));
});

describe("a fleet's live members", () => {
  it('include a daemon from the moment its lease is taken, not from the next refresh of the index', async () => {
    const fleet = uniqueId('fleet');
    const names: string[] = [];
    // Each one looked for at once: a search that sees only what the periodic refresh (every second)
    // made visible misses nearly every one of them.
    for (let i = 0; i < 5; i++) {
      names.push(`${fleet}-d${i}`);
      await take(fleet, names[i]!);
      expect(await members(fleet), `right after member ${i} took its lease`).toEqual(names);
    }
  });

  it('include a daemon that took over an expired name, from that moment', async () => {
    const fleet = uniqueId('fleet');
    const names = [0, 1, 2].map((i) => `${fleet}-d${i}`);
    for (const name of names) await writePresence(fleet, name, 60_000);
    expect(await members(fleet)).toEqual([]);
    // The expired version stays what a search finds until the index is refreshed.
    for (const name of names) await take(fleet, name);
    expect(await members(fleet)).toEqual(names);
  });

  it('keep a member whose renewal is late by less than the grace asked for, and drop it past that', async () => {
    const fleet = uniqueId('fleet');
    const late = `${fleet}-late`;
    const gone = `${fleet}-gone`;
    // Its lease ran out 200 ms ago: a renewal delayed on a loaded machine, or a clock a little ahead.
    // The grace asked for is long enough that a starved machine's seconds between the writes and
    // the read do not carry `late` past it (a heartbeat's 500 ms once did); `gone` is far past it.
    const graceMs = 30_000;
    await writePresence(fleet, late, LEASE.leaseMs + 200);
    await writePresence(fleet, gone, LEASE.leaseMs + 2 * graceMs);
    expect(await members(fleet, graceMs)).toEqual([late]);
    expect(await members(fleet), 'without a grace, by the lease alone').toEqual([]);
  });

  it('feed the rebalancing decision: a member that just took its lease receives a move, one past its lease within the grace never does', async () => {
    const fleet = uniqueId('fleet');
    const [busy, late, joined] = [`${fleet}-busy`, `${fleet}-late`, `${fleet}-joined`] as const;
    await take(fleet, busy);
    await writePresence(fleet, late, LEASE.leaseMs + 200);
    await take(fleet, joined);
    // As a reconcile pass reads them, right after the join, with a grace (a lease's here: a loaded machine may take a while between the write and the read).
    const daemons = await liveFleetDaemons(newEs(), fleet, LEASE.leaseMs);
    expect([...daemons.keys()].sort()).toEqual([busy, joined, late].sort());
    const models = ['m0', 'm1', 'm2'];
    const docs: FleetDocs = {
      desired: new Map(
        models.map((m) => [
          m,
          { id: m, seqNo: 0, primaryTerm: 1, doc: { kind: 'desired', fleet, model_id: m, allocations: 1, revision: 1, requested_at: '' } },
        ]),
      ),
      allocations: models.map((m) => ({
        id: `${fleet}/${m}/0`,
        seqNo: 0,
        primaryTerm: 1,
        doc: { ...newAllocation(fleet, m, 0), daemon: busy, state: 'started' as const },
      })),
    };
    expect(planMove(docs, daemons, joined, Date.now(), 6)?.from).toBe(busy);
    expect(planMove(docs, daemons, late, Date.now(), 6)).toBeNull();
  });
});
