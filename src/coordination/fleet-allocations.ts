import { abortable, type Es } from '../es/es.js';
import { hasStatus } from '../es/translate.js';
import { ifVersion, sourceOf, versionedHit, versionedWrite, type Versioned } from '../es/versioned.js';
import { FLEET_INDEX } from '../model/layout.js';
import type { Parallelism } from '../native/parallelism.js';
import type { BatchingOverrides } from '../deployments/inference-queue.js';
import { batchingFields, batchingOf } from './desired-deployments.js';

/**
 * A fleet's desired deployments and their allocations, in `.feeder-fleet`. A desired document says
 * how many allocations of a model the fleet should run; one allocation document per allocation says
 * which daemon holds it. Every change to an allocation is a write fenced by the `_seq_no` and
 * `_primary_term` it was read at, so two daemons claiming one allocation cannot both succeed.
 */
export interface DesiredFleetDoc {
  kind: 'desired';
  fleet: string;
  model_id: string;
  allocations: number;
  /** Raised by every `deploy` of the model: a holder that applied an older one deploys again (a rollover, when a newer generation is stored). */
  revision: number;
  requested_at: string;
  /** What `feeder deploy --workers --threads-per-worker` named; absent: each holder's own defaults (its cores). */
  workers?: number;
  threads_per_worker?: number;
  /** What `feeder deploy --max-batch-size --max-queue-delay` named; absent: each holder's config (`deploy.maxBatchSize`, `deploy.maxQueueDelayMs`). */
  max_batch_size?: number;
  max_queue_delay_ms?: number;
}

/** What a fleet deploy named of the settings of each allocation's deployment. */
export interface FleetDeploySettings {
  parallelism: Partial<Parallelism>;
  batching: BatchingOverrides;
}

export type AllocationState = 'unassigned' | 'starting' | 'started' | 'failed';

export interface AllocationFailure {
  daemon: string;
  reason: string;
  at: string;
}

export interface AllocationDoc {
  kind: 'allocation';
  fleet: string;
  model_id: string;
  allocation: number;
  /** The daemon holding it, or null while nobody does. */
  daemon: string | null;
  state: AllocationState;
  phase: string | null;
  reason: string | null;
  generation: number | null;
  pid: number | null;
  /** The revision of the desired document the holder applied. */
  revision: number;
  /** Loads that failed on some daemon; a daemon listed here does not claim the allocation again. */
  failures: AllocationFailure[];
  claimed_at: string | null;
  updated_at: string;
  /** A move under way: a second copy loading on `to` while the holder's copy serves. Absent in older documents. */
  moving?: AllocationMove | null;
  /** The latest moves of this allocation, ended: the fleet's bound on moves per period counts them. */
  moves?: EndedMove[];
}

export interface AllocationMove {
  /** The holder whose copy serves until the receiver's copy is started. */
  from: string;
  /** The receiving daemon, which claimed the move and loads the new copy. */
  to: string;
  since: string;
}

export interface EndedMove extends AllocationMove {
  outcome: 'completed' | 'abandoned';
  reason: string | null;
  ended_at: string;
}

export const desiredId = (fleet: string, modelId: string) => `${fleet}/${modelId}`;
export const allocationId = (fleet: string, modelId: string, allocation: number) => `${fleet}/${modelId}/${allocation}`;

export interface FleetDocs {
  desired: Map<string, Versioned<DesiredFleetDoc>>;
  allocations: Array<Versioned<AllocationDoc>>;
}

/** Everything the fleet has recorded, read in one search. */
export async function readFleet(es: Es, fleet: string, modelId?: string): Promise<FleetDocs> {
  const filter: object[] = [{ term: { fleet } }];
  if (modelId !== undefined) filter.push({ term: { model_id: modelId } });
  const result = await es.call(`reading the deployments of fleet '${fleet}'`, (c) =>
    c.search<DesiredFleetDoc | AllocationDoc>({
      index: FLEET_INDEX,
      size: 10_000,
      seq_no_primary_term: true,
      query: { bool: { filter } },
      ignore_unavailable: true,
      allow_no_indices: true,
    }),
  );
  const docs: FleetDocs = { desired: new Map(), allocations: [] };
  for (const hit of result.hits.hits) {
    const { doc, ...version } = versionedHit(hit);
    if (doc.kind === 'desired') docs.desired.set(doc.model_id, { ...version, doc });
    else docs.allocations.push({ ...version, doc });
  }
  docs.allocations.sort((a, b) => a.doc.model_id.localeCompare(b.doc.model_id) || a.doc.allocation - b.doc.allocation);
  return docs;
}

/** Records (or raises the revision of) the fleet's desired deployment of a model. */
export async function putDesired(
  es: Es,
  fleet: string,
  modelId: string,
  allocations: number,
  { parallelism, batching }: FleetDeploySettings = { parallelism: {}, batching: {} },
): Promise<DesiredFleetDoc> {
  const id = desiredId(fleet, modelId);
  for (;;) {
    const current = await getVersioned<DesiredFleetDoc>(es, id);
    const doc: DesiredFleetDoc = {
      kind: 'desired',
      fleet,
      model_id: modelId,
      allocations,
      revision: (current?.doc.revision ?? 0) + 1,
      requested_at: new Date().toISOString(),
      ...(parallelism.workers !== undefined ? { workers: parallelism.workers } : {}),
      ...(parallelism.threadsPerWorker !== undefined ? { threads_per_worker: parallelism.threadsPerWorker } : {}),
      ...batchingFields(batching),
    };
    const written = await writeFenced(es, id, doc, current, `recording the fleet deployment of '${modelId}'`);
    if (written) return doc;
  }
}

/** The workers, threads and batching a fleet's desired deployment names; none without one. */
export function desiredSettings(doc: DesiredFleetDoc | undefined): FleetDeploySettings {
  if (!doc) return { parallelism: {}, batching: {} };
  const parallelism = {
    ...(doc.workers !== undefined ? { workers: doc.workers } : {}),
    ...(doc.threads_per_worker !== undefined ? { threadsPerWorker: doc.threads_per_worker } : {}),
  };
  return { parallelism, batching: batchingOf(doc) };
}

export async function deleteDesired(es: Es, fleet: string, modelId: string): Promise<boolean> {
  try {
    await es.call(`removing the fleet deployment of '${modelId}'`, (c) =>
      c.delete({ index: FLEET_INDEX, id: desiredId(fleet, modelId), refresh: true }),
    );
    return true;
  } catch (error) {
    if (hasStatus(error, 404)) return false;
    throw error;
  }
}

export function newAllocation(fleet: string, modelId: string, allocation: number): AllocationDoc {
  return {
    kind: 'allocation',
    fleet,
    model_id: modelId,
    allocation,
    daemon: null,
    state: 'unassigned',
    phase: null,
    reason: null,
    generation: null,
    pid: null,
    revision: 0,
    failures: [],
    claimed_at: null,
    updated_at: new Date().toISOString(),
    moving: null,
    moves: [],
  };
}

/**
 * Writes `doc` under `id` only over the version `previous` was read at (only if absent when
 * `previous` is null). Returns the new version, or null when another writer came first.
 */
export async function writeFenced<T>(
  es: Es,
  id: string,
  doc: T,
  previous: Versioned<unknown> | null,
  doing: string,
): Promise<Versioned<T> | null> {
  try {
    const written = await es.call(doing, (c) =>
      c.index({
        index: FLEET_INDEX,
        id,
        document: doc,
        refresh: true,
        ...(previous ? ifVersion(previous) : { op_type: 'create' as const }),
      }),
    );
    return versionedWrite(doc, written);
  } catch (error) {
    if (hasStatus(error, 409)) return null;
    throw error;
  }
}

/** Deletes `id` only at the version it was read at; false when another writer came first. */
export async function deleteFenced(es: Es, previous: Versioned<unknown>, doing: string): Promise<boolean> {
  try {
    await es.call(doing, (c) => c.delete({ index: FLEET_INDEX, id: previous.id, ...ifVersion(previous), refresh: true }));
    return true;
  } catch (error) {
    if (hasStatus(error, 409) || hasStatus(error, 404)) return false;
    throw error;
  }
}

async function getVersioned<T>(es: Es, id: string): Promise<Versioned<T> | null> {
  const found = await es.call(`reading ${id} of the fleet`, (c) => c.get<T>({ index: FLEET_INDEX, id }, { ignore: [404] }));
  return found.found ? versionedHit(found) : null;
}

/** The fleets that should be running `modelId`: a delete of the model is refused while any does. */
export async function fleetsDesiring(es: Es, modelId: string, signal?: AbortSignal): Promise<string[]> {
  const result = await es.call(`reading the fleets that run '${modelId}'`, (c) =>
    c.search<DesiredFleetDoc>(
      {
        index: FLEET_INDEX,
        size: 1000,
        query: { bool: { filter: [{ term: { kind: 'desired' } }, { term: { model_id: modelId } }] } },
        ignore_unavailable: true,
        allow_no_indices: true,
      },
      abortable(signal),
    ),
  );
  return result.hits.hits.map((h) => sourceOf(h).fleet);
}
