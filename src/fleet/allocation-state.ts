import type { AllocationDoc } from '../coordination/fleet-allocations.js';

/** The fields of an allocation nobody holds, as it is given back to the fleet. */
export function unheld(): Pick<AllocationDoc, 'daemon' | 'state' | 'phase' | 'pid' | 'claimed_at' | 'updated_at' | 'moving'> {
  // A move under way ends with its holder: the receiver sees its marker gone and stops its copy.
  return {
    daemon: null,
    state: 'unassigned',
    phase: null,
    pid: null,
    claimed_at: null,
    updated_at: new Date().toISOString(),
    moving: null,
  };
}

/** Whether two reports of a holder say the same: an unchanged one is not written again. */
export function sameReport(a: AllocationDoc, b: AllocationDoc): boolean {
  return (
    a.state === b.state &&
    a.phase === b.phase &&
    a.reason === b.reason &&
    a.generation === b.generation &&
    a.pid === b.pid &&
    a.revision === b.revision
  );
}

export function describeFailures(failures: AllocationDoc['failures']): string {
  return `failed to load on ${failures.length} daemon(s): ${failures.map((f) => `daemon '${f.daemon}': ${f.reason}`).join('; ')}`;
}
