import { formatBytes } from '../config/units.js';
import type { DeploymentStatus, FleetModelStatus, FleetStatus } from '../api/wire-types.js';
import { InvalidArgumentError } from '../errors.js';
import { MAX_ROWS, parseTokenList, type TokenBatch } from '../native/token-ids.js';
import type { StrayRemoval, VerifyReport } from '../maintenance/verify.js';

/** A flag given once or repeated: one row of ids per occurrence. */
export function parseTokenRows(value: string | string[], flag: string): TokenBatch {
  const rows = Array.isArray(value) ? value : [value];
  if (rows.length > MAX_ROWS) throw new InvalidArgumentError(`${flag} may be given at most ${MAX_ROWS} times (one row each)`);
  return rows.map((row) => parseTokenList(row, flag));
}

export function describeStatus(s: DeploymentStatus): string {
  const parts = [`${s.model_id}: ${s.state}${s.phase ? ` (${s.phase})` : ''}`];
  if (s.generation !== null) parts.push(`generation ${s.generation}`);
  if (s.rollover?.state === 'loading') parts.push(`rolling over to generation ${s.rollover.generation}`);
  if (s.pid) parts.push(`pid ${s.pid}`);
  parts.push(`${s.workers} workers × ${s.threads_per_worker} threads`);
  if (s.total_bytes) parts.push(`${formatBytes(s.bytes_streamed)} of ${formatBytes(s.total_bytes)} streamed`);
  if (s.throughput_mib_s) parts.push(`${s.throughput_mib_s} MiB/s`);
  parts.push(`${s.restarts} restarts`, `${s.inference_count} inferences`);
  if (s.number_of_pending_requests) parts.push(`${s.number_of_pending_requests} pending`);
  if (s.rejected_execution_count || s.timeout_count || s.error_count)
    parts.push(`${s.rejected_execution_count} rejected, ${s.timeout_count} timed out, ${s.error_count} errors`);
  if (s.inference_latency_ms.mean !== null) parts.push(`mean latency ${s.inference_latency_ms.mean} ms`);
  if (s.max_batch_size !== undefined) parts.push(describeBatching(s));
  if (s.reason) parts.push(`reason: ${s.reason}`);
  return parts.join(', ');
}

function describeBatching(s: Pick<DeploymentStatus, 'max_batch_size' | 'max_queue_delay_ms'>): string {
  if (s.max_batch_size === 1) return 'batching off (max batch size 1)';
  return `batches of up to ${s.max_batch_size} rows${s.max_queue_delay_ms ? `, queue delay up to ${s.max_queue_delay_ms} ms` : ''}`;
}

/** Why a deploy did not do what it was asked, or null when it did. */
export function deployFailure(s: DeploymentStatus): string | null {
  if (s.state === 'failed' || s.state === 'stopped') return `deploying model '${s.model_id}' failed: ${s.reason ?? s.state}`;
  if (s.rollover?.state === 'failed') {
    return `rollover of model '${s.model_id}' to generation ${s.rollover.generation} failed: ${s.rollover.reason}; generation ${s.generation} keeps serving`;
  }
  return null;
}

/** `models verify` for a person: the verdict, then its warnings, then what --remove-strays did. */
export function describeVerifyReport(report: VerifyReport, removal: StrayRemoval | null): string {
  const lines =
    report.problems.length === 0
      ? [`model '${report.modelId}' is intact: ${report.chunks} chunks, ${formatBytes(report.bytes)}, sha256 ${report.sha256}`]
      : [`model '${report.modelId}' is damaged:`, ...report.problems.map((p) => `  - ${p}`)];
  lines.push(...report.warnings.map((w) => `warning: ${w}`));
  if (removal && 'kept' in removal) lines.push(`the stray documents were not removed: ${removal.kept}`);
  else if (removal) lines.push(describeRemoved(removal.removed));
  return lines.map((line) => `${line}\n`).join('');
}

function describeRemoved(ids: readonly string[]): string {
  if (ids.length === 0) return 'no stray chunk documents to remove';
  return `removed ${ids.length} stray chunk document${ids.length === 1 ? '' : 's'}: ${ids.map((id) => `'${id}'`).join(', ')}`;
}

export function isFleetStatus(s: DeploymentStatus | FleetModelStatus): s is FleetModelStatus {
  return Array.isArray((s as FleetModelStatus).items);
}

/** A fleet deployment: the model's state, then one line per allocation. */
export function describeFleetModel(s: FleetModelStatus): string {
  const started = s.items.filter((i) => i.state === 'started').length;
  const workers = `${s.workers !== null ? `${s.workers} workers` : "workers as the host's cores"} × ${s.threads_per_worker ?? 1} threads each`;
  const lines = [
    `${s.model_id}: ${s.state.replace('_', ' ')}, ${started} of ${s.allocations} allocation(s) started, ${workers}, ${describeFleetBatching(s)}`,
  ];
  for (const i of s.items) {
    const parts = [`  #${i.allocation}: ${i.state}${i.phase ? ` (${i.phase})` : ''}`];
    if (i.daemon) parts.push(`on daemon '${i.daemon}'${i.daemon_live ? '' : ' (gone)'}`);
    if (i.generation !== null) parts.push(`generation ${i.generation}`);
    if (i.pid) parts.push(`pid ${i.pid}`);
    if (i.moving) parts.push(`moving to daemon '${i.moving.to}' since ${i.moving.since}`);
    if (i.reason) parts.push(`reason: ${i.reason}`);
    lines.push(parts.join(', '));
  }
  return lines.join('\n');
}

/** What the deploy named, as a daemon's status shows it; what it left to each holder's config, said so. */
function describeFleetBatching(s: FleetModelStatus): string {
  const { max_batch_size: size, max_queue_delay_ms: delay } = s;
  if (size !== null && delay !== null) return describeBatching({ max_batch_size: size, max_queue_delay_ms: delay });
  const rows = size === null ? "each daemon's deploy.maxBatchSize" : String(size);
  return `batches of up to ${rows} rows, queue delay up to ${delay === null ? "each daemon's deploy.maxQueueDelayMs" : `${delay} ms`}`;
}

export function describeFleet(f: FleetStatus): string {
  const daemons = f.daemons.map((d) => `${d.daemon} (${d.listen}, ${d.serving} allocation(s))`).join(', ');
  const lines = [`fleet '${f.fleet}': ${f.daemons.length} live daemon(s)${daemons ? `: ${daemons}` : ''}`];
  for (const problem of f.problems ?? []) lines.push(`warning: ${problem}`);
  if (f.deployments.length === 0) lines.push('no deployments');
  for (const d of f.deployments) lines.push(describeFleetModel(d));
  return lines.join('\n');
}

/** Why a fleet deploy did not do what it was asked, or null when it did. */
export function fleetDeployFailure(s: FleetModelStatus): string | null {
  if (s.state !== 'failed') return null;
  const reasons = s.items.filter((i) => i.state === 'failed').map((i) => `allocation ${i.allocation}: ${i.reason}`);
  return `deploying model '${s.model_id}' in the fleet failed: ${reasons.join('; ')}`;
}
