import { setTimeout as sleep } from 'node:timers/promises';
import type { AllocationStatus, FleetModelStatus, FleetStatus } from '../api/wire-types.js';
import { servesPlainHttp, type PresenceDoc } from '../coordination/daemon-presence.js';
import type { FleetDocs } from '../coordination/fleet-allocations.js';
import { ModelNotFoundError } from '../errors.js';
import type { Fleet } from './fleet.js';

/** The fleet as `status` shows it: each desired model, its allocations and who holds them. */
export function describeFleet(fleet: string, docs: FleetDocs, daemons: Map<string, PresenceDoc>): FleetStatus {
  const deployments: FleetModelStatus[] = [];
  for (const [modelId, desired] of [...docs.desired].sort(([a], [b]) => a.localeCompare(b))) {
    const allocations: AllocationStatus[] = [];
    for (let k = 0; k < desired.doc.allocations; k++) allocations.push(describeAllocation(docs, daemons, modelId, k));
    deployments.push({
      model_id: modelId,
      allocations: desired.doc.allocations,
      revision: desired.doc.revision,
      workers: desired.doc.workers ?? null,
      threads_per_worker: desired.doc.threads_per_worker ?? null,
      max_batch_size: desired.doc.max_batch_size ?? null,
      max_queue_delay_ms: desired.doc.max_queue_delay_ms ?? null,
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
    tls: d.tls === true,
  }));
  const problems = [mixedTlsProblem([...daemons.values()])].filter((p): p is string => p !== null);
  return { fleet, daemons: members.sort((a, b) => a.daemon.localeCompare(b.daemon)), deployments, problems };
}

/** Members with TLS do not forward to those without (the token would cross the network in clear): their allocations serve only local clients. */
export function mixedTlsProblem(daemons: readonly PresenceDoc[]): string | null {
  const plain = daemons.filter(servesPlainHttp).map((d) => d.daemon);
  const secure = daemons.filter((d) => d.tls).map((d) => d.daemon);
  if (plain.length === 0 || secure.length === 0) return null;
  return (
    `daemon(s) ${plain.sort().join(', ')} serve plain HTTP while ${secure.sort().join(', ')} serve TLS: ` +
    `the members with TLS do not forward inferences to the others, which would send the fleet token in clear; give every member daemon.tls`
  );
}

function describeAllocation(docs: FleetDocs, daemons: Map<string, PresenceDoc>, modelId: string, k: number): AllocationStatus {
  const doc = docs.allocations.find((a) => a.doc.model_id === modelId && a.doc.allocation === k)?.doc;
  const holderLive = doc?.daemon ? daemons.has(doc.daemon) : false;
  return {
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
    moving: doc?.moving ? { from: doc.moving.from, to: doc.moving.to, since: doc.moving.since } : null,
  };
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
