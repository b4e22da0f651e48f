// The control API's wire types: what `GET /deployments/<id>` and the other answers carry. The CLI
// imports these without importing the daemon that produces them.

import type { ErrorCode } from '../errors.js';
import type { NestedNumbers } from '../native/protocol.js';

export type DeploymentState = 'starting' | 'started' | 'stopping' | 'stopped' | 'failed';

export const DEPLOYMENT_STATES: readonly DeploymentState[] = ['starting', 'started', 'stopping', 'stopped', 'failed'];

/** While starting: waiting for a load slot, or streaming. */
export type DeploymentPhase = 'queued' | 'loading' | null;

/** A replacement generation being loaded beside the one that serves, or the reason it failed. */
export interface RolloverStatus {
  generation: number;
  state: 'loading' | 'failed';
  reason: string | null;
}

export interface DeploymentStatus {
  model_id: string;
  state: DeploymentState;
  phase: DeploymentPhase;
  reason: string | null;
  pid: number | null;
  /** The generation of the model being served (or loaded, while starting). */
  generation: number | null;
  rollover: RolloverStatus | null;
  bytes_streamed: number;
  total_bytes: number | null;
  throughput_mib_s: number | null;
  /** Restarts within the last `daemon.restartWindowMs`. */
  restarts: number;
  /** forward()s at once on the one loaded model (Elastic's number_of_allocations on one host). */
  workers: number;
  /** Intra-op threads of each (Elastic's threads_per_allocation). */
  threads_per_worker: number;
  /** Why workers × threads oversubscribe the daemon's cores, or null when they fit. */
  overcommitment: string | null;
  // The inference path, named as Elastic ML's deployment stats name them.
  inference_count: number;
  error_count: number;
  rejected_execution_count: number;
  timeout_count: number;
  number_of_pending_requests: number;
  inference_latency_ms: { mean: number | null; last: number | null };
  /** Dynamic batching: rows one frame carries at most, and how long a request may wait for others. */
  max_batch_size: number;
  max_queue_delay_ms: number;
  updated_at: string;
}

export interface DeploymentList {
  deployments: DeploymentStatus[];
}

/** The native process's answer to one inference, as the daemon passes it on. */
export type InferAnswer =
  | { type: 'result'; request_id: string; result: { inference: NestedNumbers[] }; time_ms: number }
  | { type: 'error'; request_id: string; error: { error: string } };

/** The body of every error answer. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

/** One allocation of a fleet deployment, as `GET /fleet` shows it. */
export interface AllocationStatus {
  allocation: number;
  /** The daemon holding it, or null while none does. */
  daemon: string | null;
  /** Whether the holder's lease is live. */
  daemon_live: boolean;
  state: 'unassigned' | 'starting' | 'started' | 'failed';
  phase: string | null;
  reason: string | null;
  generation: number | null;
  pid: number | null;
  /** When its holder claimed it. */
  claimed_at: string | null;
  /** The daemons it failed to load on, with their reasons. */
  failures: Array<{ daemon: string; reason: string }>;
  /** A move under way: a copy loading on `to` while `from` serves; null when none. */
  moving: { from: string; to: string; since: string } | null;
}

export interface FleetModelStatus {
  model_id: string;
  /** Allocations asked for. */
  allocations: number;
  revision: number;
  /** What the deploy named; null: each holder's own default (its cores, one thread each). */
  workers: number | null;
  threads_per_worker: number | null;
  /** The batching the deploy named, the same on every allocation; null: each holder's config (`deploy.maxBatchSize`, `deploy.maxQueueDelayMs`). */
  max_batch_size: number | null;
  max_queue_delay_ms: number | null;
  state: 'starting' | 'partially_started' | 'started' | 'failed';
  items: AllocationStatus[];
}

export interface FleetMember {
  daemon: string;
  /** Where other daemons and clients reach it: its advertised address. */
  listen: string;
  host: string;
  pid: number;
  max_models: number | null;
  serving: number;
  expires_at: string;
  /** It serves TLS (`daemon.tls`). */
  tls: boolean;
}

export interface FleetStatus {
  fleet: string;
  daemons: FleetMember[];
  deployments: FleetModelStatus[];
  /** What is wrong with the fleet as a whole (members with and without TLS), each with its fix; empty when nothing is. */
  problems: string[];
}
