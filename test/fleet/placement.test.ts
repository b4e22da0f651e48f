// The pure placement functions, on documents built here: every daemon of a fleet runs them on what
// it read, and the fleet works only if they agree and spread the allocations.
import { describe, expect, it } from 'vitest';
import type { PresenceDoc } from '../../src/coordination/daemon-presence.js';
import { newAllocation, type AllocationDoc, type FleetDocs } from '../../src/coordination/fleet-allocations.js';
import type { Versioned } from '../../src/es/versioned.js';
import {
  claimOrder,
  fits,
  goneHolder,
  heldBytes,
  holdings,
  isClaimable,
  nobodyLeftToTry,
  preferredDaemon,
  rank,
} from '../../src/fleet/placement.js';

const FLEET = 'f';

/** A member whose lease runs out `expiresInMs` from now (already ran out when negative). */
function daemon(name: string, maxModels?: number, expiresInMs = 60_000): PresenceDoc {
  const now = new Date().toISOString();
  return {
    daemon: name,
    listen: '127.0.0.1:1',
    pid: 1,
    host: 'h',
    started_at: now,
    renewed_at: now,
    expires_at: new Date(Date.now() + expiresInMs).toISOString(),
    fleet: FLEET,
    ...(maxModels === undefined ? {} : { max_models: maxModels }),
  };
}

function alloc(modelId: string, k: number, changes: Partial<AllocationDoc> = {}): Versioned<AllocationDoc> {
  return { id: `${FLEET}/${modelId}/${k}`, doc: { ...newAllocation(FLEET, modelId, k), ...changes }, seqNo: 0, primaryTerm: 1 };
}

function fleetDocs(models: string[], allocations: Array<Versioned<AllocationDoc>>): FleetDocs {
  const desired = new Map(
    models.map((m) => [
      m,
      {
        id: `${FLEET}/${m}`,
        doc: { kind: 'desired' as const, fleet: FLEET, model_id: m, allocations: 1, revision: 1, requested_at: '' },
        seqNo: 0,
        primaryTerm: 1,
      },
    ]),
  );
  return { desired, allocations };
}

const live = (...names: string[]) => new Map(names.map((n) => [n, daemon(n)]));
const failure = (name: string) => ({ daemon: name, reason: 'no', at: '' });

describe('rank', () => {
  it('is FNV-1a of daemon NUL id, so that daemons of every version agree on it', () => {
    // Reference values computed apart from this code.
    expect(rank('d1', 'fleet/m/0')).toBe(1570859453);
    expect(rank('d2', 'fleet/m/0')).toBe(3583780676);
  });

  it('gives each daemon its own order of the same allocations', () => {
    const ids = Array.from({ length: 20 }, (_, k) => ({ id: `${FLEET}/m/${k}` }));
    const a = claimOrder('d1', ids).map((x) => x.id);
    const b = claimOrder('d2', ids).map((x) => x.id);
    expect([...a].sort()).toEqual([...ids.map((x) => x.id)].sort());
    expect(a).not.toEqual(b);
    expect(claimOrder('d1', [...ids].reverse()).map((x) => x.id)).toEqual(a);
  });
});

describe('preferredDaemon', () => {
  it('picks one of the lightest daemons, the same one whatever order the candidates were read in', () => {
    const candidates = ['d1', 'd2', 'd3', 'd4'].map((n) => daemon(n));
    const counts = new Map([
      ['d1', 2],
      ['d2', 0],
      ['d3', 0],
      ['d4', 1],
    ]);
    for (let k = 0; k < 20; k++) {
      const id = `${FLEET}/m/${k}`;
      const chosen = preferredDaemon(candidates, counts, id).daemon;
      expect(['d2', 'd3']).toContain(chosen);
      expect(preferredDaemon([...candidates].reverse(), counts, id).daemon).toBe(chosen);
    }
  });

  it('spreads allocations among equally loaded daemons', () => {
    const candidates = ['d1', 'd2', 'd3'].map((n) => daemon(n));
    const chosen = new Set(Array.from({ length: 30 }, (_, k) => preferredDaemon(candidates, new Map(), `${FLEET}/m${k}/0`).daemon));
    expect(chosen).toEqual(new Set(['d1', 'd2', 'd3']));
  });
});

describe('holdings and fits', () => {
  it('counts the allocations each daemon holds', () => {
    const docs = fleetDocs(
      ['a', 'b'],
      [alloc('a', 0, { daemon: 'd1' }), alloc('b', 0, { daemon: 'd1' }), alloc('a', 1, { daemon: 'd2' }), alloc('b', 1)],
    );
    expect(holdings(docs)).toEqual(
      new Map([
        ['d1', 2],
        ['d2', 1],
      ]),
    );
  });

  it('refuses a daemon that failed on the allocation, is full, or holds another allocation of the model', () => {
    const free = alloc('a', 1);
    const docs = fleetDocs(['a', 'b'], [alloc('a', 0, { daemon: 'd1' }), free, alloc('b', 0, { daemon: 'd3' })]);
    const counts = holdings(docs);
    expect(fits(daemon('d1'), free.doc, docs, counts)).toBe(false);
    expect(fits(daemon('d2'), free.doc, docs, counts)).toBe(true);
    expect(fits(daemon('d2'), { ...free.doc, failures: [failure('d2')] }, docs, counts)).toBe(false);
    expect(fits(daemon('d3', 1), free.doc, docs, counts)).toBe(false);
    expect(fits(daemon('d3', 2), free.doc, docs, counts)).toBe(true);
  });

  it('adds up the bytes held, a model of unknown size as none', () => {
    const held = new Map([
      ['a', { bytes: 100 }],
      ['b', { bytes: null }],
      ['c', { bytes: 23 }],
    ]);
    expect(heldBytes(held)).toBe(123);
  });
});

describe('what may be claimed', () => {
  it('is an allocation desired, not failed, held by nobody or by a daemon whose lease is gone', () => {
    const daemons = live('d1', 'd2');
    const docs = fleetDocs(['a'], []);
    expect(isClaimable(alloc('a', 0).doc, docs, 'd1', daemons)).toBe(true);
    expect(isClaimable(alloc('a', 0, { daemon: 'gone' }).doc, docs, 'd1', daemons)).toBe(true);
    expect(isClaimable(alloc('a', 0, { daemon: 'd2' }).doc, docs, 'd1', daemons)).toBe(false);
    expect(isClaimable(alloc('a', 0, { daemon: 'd1' }).doc, docs, 'd1', daemons)).toBe(false);
    expect(isClaimable(alloc('a', 0, { state: 'failed' }).doc, docs, 'd1', daemons)).toBe(false);
    expect(isClaimable(alloc('undeployed', 0).doc, docs, 'd1', daemons)).toBe(false);
  });

  it('names the holder taken over only when it is another daemon and not live', () => {
    const daemons = live('d1', 'd2');
    expect(goneHolder(alloc('a', 0, { daemon: 'gone' }).doc, 'd1', daemons)).toBe('gone');
    expect(goneHolder(alloc('a', 0, { daemon: 'd2' }).doc, 'd1', daemons)).toBeNull();
    expect(goneHolder(alloc('a', 0).doc, 'd1', daemons)).toBeNull();
    expect(goneHolder(alloc('a', 0, { daemon: 'd1' }).doc, 'd1', live('d2'))).toBeNull();
  });

  it("takes over a holder whose lease ran out even while the reconcile's grace still counts it as a member", () => {
    // The members are read with one heartbeat of grace (for "every member failed it"); a takeover
    // waiting that heartbeat too would add it to every failover.
    const daemons = new Map([
      ['d1', daemon('d1')],
      ['late', daemon('late', undefined, -200)],
    ]);
    expect(goneHolder(alloc('a', 0, { daemon: 'late' }).doc, 'd1', daemons)).toBe('late');
    expect(isClaimable(alloc('a', 0, { daemon: 'late' }).doc, fleetDocs(['a'], []), 'd1', daemons)).toBe(true);
    expect(nobodyLeftToTry(alloc('a', 0, { failures: [failure('d1')] }).doc, daemons), 'the late one may still try it').toBe(false);
  });

  it('leaves nobody to try once every live daemon failed on it, and not before', () => {
    const daemons = live('d1', 'd2');
    expect(nobodyLeftToTry(alloc('a', 0).doc, daemons)).toBe(false);
    expect(nobodyLeftToTry(alloc('a', 0, { failures: [failure('d1')] }).doc, daemons)).toBe(false);
    expect(nobodyLeftToTry(alloc('a', 0, { failures: [failure('d1'), failure('d2')] }).doc, daemons)).toBe(true);
    expect(nobodyLeftToTry(alloc('a', 0, { failures: [failure('old'), failure('d1'), failure('d2')] }).doc, daemons)).toBe(true);
  });
});
