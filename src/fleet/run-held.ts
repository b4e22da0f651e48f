import type { DeploymentStatus } from '../api/wire-types.js';
import {
  desiredSettings,
  writeFenced,
  type AllocationDoc,
  type FleetDeploySettings,
  type FleetDocs,
} from '../coordination/fleet-allocations.js';
import { resolveParallelism, sameParallelism } from '../native/parallelism.js';
import type { Versioned } from '../es/versioned.js';
import type { Deployment } from '../deployments/deployment.js';
import { logEvent } from '../log/logger.js';
import { requireMeta } from '../model/meta.js';
import { describeFailures, sameReport, unheld } from './allocation-state.js';
import type { Member } from './member.js';

/** Runs an allocation this daemon holds, and writes its state into the allocation document when it changed. */
export async function runHeld(member: Member, alloc: Versioned<AllocationDoc>, docs: FleetDocs): Promise<void> {
  const desired = docs.desired.get(alloc.doc.model_id);
  if (!desired || alloc.doc.state === 'failed') return;
  const local = await ensureRunning(member, alloc, desired.doc.revision, desiredSettings(desired.doc));
  if (!local) return;
  const status = local.status();
  if (status.state === 'failed') {
    await giveUp(member, alloc, status.reason ?? 'the deployment failed');
    return;
  }
  await reportState(member, alloc, status);
}

/** The local deployment of what `alloc` holds, deployed again when it is missing, stopped or of an older revision; null once given up. */
async function ensureRunning(
  member: Member,
  alloc: Versioned<AllocationDoc>,
  revision: number,
  settings: FleetDeploySettings,
): Promise<Deployment | null> {
  const modelId = alloc.doc.model_id;
  const held = member.held.get(modelId);
  const local = member.deployments.get(modelId);
  if (held && local && local.state !== 'stopped' && held.revision >= revision) return local;
  try {
    return await deployHeld(member, alloc, revision, settings);
  } catch (error) {
    await giveUp(member, alloc, (error as Error).message);
    return null;
  }
}

/** Deploys the model of `alloc` here, recorded as held first. */
export async function deployHeld(
  member: Member,
  alloc: Versioned<AllocationDoc>,
  revision: number,
  { parallelism, batching }: FleetDeploySettings,
): Promise<Deployment> {
  const modelId = alloc.doc.model_id;
  // Recorded before the first wait: a lease lapsing meanwhile drops it, and the allocation is then claimed again before it runs.
  member.held.set(modelId, { allocation: alloc.doc.allocation, revision, bytes: member.held.get(modelId)?.bytes ?? null });
  // A deploy that changed the workers or threads: the process takes them only at its spawn.
  const running = member.deployments.get(modelId)?.parallelism;
  if (running && !sameParallelism(running, resolveParallelism(parallelism))) await member.deployments.stopLocally(modelId);
  // All of the batching, the config's defaults filled in: a deploy that no longer names a setting takes it back to the default, as for workers.
  const { maxBatchSize, maxQueueDelayMs } = member.ctx.config.deploy;
  const local = await member.deployments.deploy(modelId, parallelism, { maxBatchSize, maxQueueDelayMs, ...batching });
  // Reported as soon as the load ends, not at the next period: a deploy waiting on the fleet sees it then.
  void local
    .waitUntil((st) => st.state !== 'starting', member.ctx.config.deploy.timeoutMs)
    .then(
      () => member.nudge(),
      () => undefined,
    );
  const { meta } = await requireMeta(member.ctx.es, modelId);
  const held = member.held.get(modelId);
  if (held) held.bytes = meta.total_length;
  return local;
}

async function reportState(member: Member, alloc: Versioned<AllocationDoc>, status: DeploymentStatus): Promise<void> {
  const next: AllocationDoc = {
    ...alloc.doc,
    state: status.state === 'started' ? 'started' : 'starting',
    phase: status.phase,
    reason: status.reason,
    generation: status.generation,
    pid: status.pid,
    revision: member.held.get(alloc.doc.model_id)?.revision ?? alloc.doc.revision,
  };
  if (sameReport(alloc.doc, next)) return;
  await writeFenced(member.ctx.es, alloc.id, { ...next, updated_at: new Date().toISOString() }, alloc, `reporting allocation ${alloc.id}`);
}

/**
 * The allocation failed to load here: it is given back with this daemon's reason, so that another
 * daemon may try; once `maxAllocationAttempts` daemons (or every live one) failed, it is failed.
 */
async function giveUp(member: Member, alloc: Versioned<AllocationDoc>, reason: string): Promise<void> {
  const { name } = member;
  const modelId = alloc.doc.model_id;
  await member.stopLocal(modelId, 'it failed to load');
  const failures = [...alloc.doc.failures, { daemon: name, reason, at: new Date().toISOString() }];
  const exhausted = failures.length >= member.ctx.config.daemon.maxAllocationAttempts;
  const doc: AllocationDoc = {
    ...alloc.doc,
    ...unheld(),
    failures,
    state: exhausted ? 'failed' : 'unassigned',
    reason: exhausted ? describeFailures(failures) : `failed on daemon '${name}': ${reason}; another daemon may try`,
  };
  logEvent(
    member.ctx.logger,
    { action: 'fleet-allocation', outcome: 'failure', modelId, allocation: alloc.doc.allocation, daemon: name, error: reason },
    `allocation ${alloc.doc.allocation} of model '${modelId}' failed on daemon '${name}' (${reason}); ${exhausted ? `it failed on ${failures.length} daemon(s), the deployment is failed` : 'giving it back to the fleet'}`,
  );
  await writeFenced(member.ctx.es, alloc.id, doc, alloc, `giving back allocation ${alloc.id}`);
}
