// The pure rebalancing decision (issue 21, points 3 and 6), on documents built here: every member
// runs it on what it read, so the fleet moves one allocation at a time only if they agree.
import { describe, expect, it } from 'vitest';
import type { PresenceDoc } from '../../src/coordination/daemon-presence.js';
import { newAllocation, type AllocationDoc, type EndedMove, type FleetDocs } from '../../src/coordination/fleet-allocations.js';
import type { Versioned } from '../../src/es/versioned.js';
import { fits, holdings } from '../../src/fleet/placement.js';
import { MOVE_WINDOW_MS, planMove, recentMoves, withEndedMove } from '../../src/fleet/rebalance-plan.js';

const FLEET = 'f';
const NOW = Date.parse('2026-01-01T00:00:00Z');
const at = (msAgo: number) => new Date(NOW - msAgo).toISOString();

function member(name: string, expiresInMs = 600_000, maxModels?: number): PresenceDoc {
  return {
    daemon: name,
    listen: '127.0.0.1:1',
    pid: 1,
    host: 'h',
    started_at: at(0),
    renewed_at: at(0),
    expires_at: at(-expiresInMs),
    fleet: FLEET,
    ...(maxModels === undefined ? {} : { max_models: maxModels }),
  };
}

const started = (model: string, daemon: string | null, changes: Partial<AllocationDoc> = {}, k = 0): Versioned<AllocationDoc> => ({
  id: `${FLEET}/${model}/${k}`,
  doc: { ...newAllocation(FLEET, model, k), daemon, state: daemon ? 'started' : 'unassigned', ...changes },
  seqNo: 0,
  primaryTerm: 1,
});

function fleetDocs(allocations: Array<Versioned<AllocationDoc>>): FleetDocs {
  const models = [...new Set(allocations.map((a) => a.doc.model_id))];
  const desired = new Map(
    models.map((m) => [
      m,
      {
        id: `${FLEET}/${m}`,
        doc: { kind: 'desired' as const, fleet: FLEET, model_id: m, allocations: 2, revision: 1, requested_at: '' },
        seqNo: 0,
        primaryTerm: 1,
      },
    ]),
  );
  return { desired, allocations };
}

const members = (...docs: PresenceDoc[]) => new Map(docs.map((d) => [d.daemon, d]));
/** Four one-allocation models on d1 and d2, two each: the fleet a third member joins. */
const twoByTwo = () => fleetDocs([started('a', 'd1'), started('b', 'd1'), started('c', 'd2'), started('d', 'd2')]);
const ended = (to: string, outcome: EndedMove['outcome'], msAgo: number): EndedMove => ({
  from: 'd1',
  to,
  since: at(msAgo + 1000),
  outcome,
  reason: null,
  ended_at: at(msAgo),
});

describe('planMove', () => {
  it('moves one started allocation of a most loaded member to the member that joined, and only that one plans it', () => {
    const daemons = members(member('d1'), member('d2'), member('d3'));
    const plan = planMove(twoByTwo(), daemons, 'd3', NOW, 6);
    expect(plan).not.toBeNull();
    expect(['d1', 'd2']).toContain(plan!.from);
    expect(plan!.alloc.doc.daemon).toBe(plan!.from);
    expect(planMove(twoByTwo(), daemons, 'd1', NOW, 6)).toBeNull();
    expect(planMove(twoByTwo(), daemons, 'd2', NOW, 6)).toBeNull();
  });

  it('leaves an imbalance of one alone: 2/1/1 and 2/1 stay', () => {
    const docs = fleetDocs([started('a', 'd1'), started('b', 'd1'), started('c', 'd2'), started('d', 'd3')]);
    const daemons = members(member('d1'), member('d2'), member('d3'));
    for (const me of ['d1', 'd2', 'd3']) expect(planMove(docs, daemons, me, NOW, 6)).toBeNull();
    const three = fleetDocs([started('a', 'd1'), started('b', 'd1'), started('c', 'd2')]);
    expect(planMove(three, members(member('d1'), member('d2')), 'd2', NOW, 6)).toBeNull();
  });

  it('starts none while a move is under way, an allocation is free, or its holder is gone: one at a time, failover first', () => {
    const daemons = members(member('d1'), member('d2'), member('d3'));
    const moving = twoByTwo();
    moving.allocations[3] = started('d', 'd2', { moving: { from: 'd2', to: 'd4', since: at(0) } });
    expect(planMove(moving, daemons, 'd3', NOW, 6)).toBeNull();
    const free = fleetDocs([...twoByTwo().allocations, started('e', null)]);
    expect(planMove(free, daemons, 'd3', NOW, 6)).toBeNull();
    expect(planMove(twoByTwo(), members(member('d1', -100), member('d2'), member('d3')), 'd3', NOW, 6)).toBeNull();
  });

  it('holds to the bound on moves per minute, counting moves ended within the minute, completed or abandoned', () => {
    const daemons = members(member('d1'), member('d2'), member('d3'));
    const docs = twoByTwo();
    docs.allocations[0] = started('a', 'd1', { moves: [ended('dx', 'completed', 10_000), ended('dy', 'abandoned', 20_000)] });
    expect(recentMoves(docs, NOW)).toBe(2);
    expect(planMove(docs, daemons, 'd3', NOW, 2)).toBeNull();
    expect(planMove(docs, daemons, 'd3', NOW, 3)).not.toBeNull();
    expect(planMove(docs, daemons, 'd3', NOW + MOVE_WINDOW_MS, 2), 'a minute later').not.toBeNull();
    expect(planMove(twoByTwo(), daemons, 'd3', NOW, 0), '0 moves none').toBeNull();
  });

  it('never targets a member whose lease lapsed, even one the reconcile still counts within its grace', () => {
    // liveFleetDaemons keeps a member one heartbeat past its lease: it counts, it is never a receiver.
    const daemons = members(member('d1'), member('d2'), member('d3', -200));
    expect(planMove(twoByTwo(), daemons, 'd3', NOW, 6)).toBeNull();
    const withD4 = members(member('d1'), member('d2'), member('d3', -200), member('d4'));
    expect(planMove(twoByTwo(), withD4, 'd4', NOW, 6)).not.toBeNull();
  });

  it('does not give a receiver again at once an allocation whose move to it was abandoned', () => {
    const daemons = members(member('d1'), member('d2', 600_000, 2), member('d3'));
    const docs = fleetDocs([
      started('a', 'd1', { moves: [ended('d3', 'abandoned', 1000)] }),
      started('b', 'd1', { moves: [ended('d3', 'abandoned', 1000)] }),
      started('c', 'd1', { moves: [ended('d3', 'abandoned', 1000)] }),
      started('d', 'd2'),
    ]);
    expect(planMove(docs, daemons, 'd3', NOW, 6)).toBeNull();
    docs.allocations[1] = started('b', 'd1');
    expect(planMove(docs, daemons, 'd3', NOW, 6)?.alloc.id).toBe(`${FLEET}/b/0`);
  });

  it('moves no allocation to a member holding, or receiving, another allocation of the model', () => {
    const docs = fleetDocs([started('a', 'd1'), started('a', 'd2', {}, 1), started('b', 'd1'), started('c', 'd1')]);
    const daemons = members(member('d1'), member('d2'), member('d3'));
    // d2 has one, d3 none: d3 is the lightest, and takes any of d1's.
    expect(planMove(docs, daemons, 'd3', NOW, 6)?.from).toBe('d1');
    const receiving = { ...started('a', 'd1', { moving: { from: 'd1', to: 'd3', since: at(0) } }) };
    const twin = started('a', 'd2', {}, 1).doc;
    expect(fits(member('d3'), twin, fleetDocs([receiving]), holdings(fleetDocs([receiving])))).toBe(false);
    expect(fits(member('d3'), receiving.doc, fleetDocs([receiving]), new Map()), 'the moving allocation itself (a takeover)').toBe(true);
  });
});

describe('withEndedMove', () => {
  it('keeps the latest ended moves only', () => {
    let doc = newAllocation(FLEET, 'a', 0);
    for (let i = 0; i < 20; i++) doc = { ...doc, moves: withEndedMove(doc, ended(`d${i}`, 'completed', 0)) };
    expect(doc.moves!.length).toBeLessThanOrEqual(8);
    expect(doc.moves!.at(-1)!.to).toBe('d19');
  });
});
