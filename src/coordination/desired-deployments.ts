import { abortable, type Es } from '../es/es.js';
import { hasStatus } from '../es/translate.js';
import { sourceOf } from '../es/versioned.js';
import { DEPLOYMENTS_INDEX } from '../model/layout.js';
import type { Parallelism } from '../native/parallelism.js';
import type { BatchingOverrides } from '../deployments/inference-queue.js';

/**
 * What a daemon should be running, one document per daemon and model, so that a restarted daemon
 * brings it back. `generations` are the model generations its deployment is loading or serving:
 * they are pinned, and garbage collection of a replaced generation waits until no document names it.
 */
interface DesiredDoc {
  daemon: string;
  model_id: string;
  desired: 'started';
  requested_at: string;
  generations: number[];
  /** What `feeder deploy --workers --threads-per-worker` named; absent: the host's defaults. */
  workers?: number;
  threads_per_worker?: number;
  /** What `feeder deploy --max-batch-size --max-queue-delay` named; absent: the config's `deploy.maxBatchSize`, `deploy.maxQueueDelayMs`. */
  max_batch_size?: number;
  max_queue_delay_ms?: number;
}

/** A deployment to bring back, with the settings it was deployed with. */
export interface DesiredDeployment {
  modelId: string;
  parallelism: Partial<Parallelism>;
  batching: BatchingOverrides;
}

const docId = (daemon: string, modelId: string) => `${daemon}/${modelId}`;

/** Records that `daemon` should run `modelId`, loading `generation`. */
export async function recordDeployed(
  es: Es,
  daemon: string,
  modelId: string,
  generation: number,
  parallelism: Partial<Parallelism> = {},
  batching: BatchingOverrides = {},
): Promise<void> {
  const document: DesiredDoc = {
    daemon,
    model_id: modelId,
    desired: 'started',
    requested_at: new Date().toISOString(),
    generations: [generation],
    ...(parallelism.workers !== undefined ? { workers: parallelism.workers } : {}),
    ...(parallelism.threadsPerWorker !== undefined ? { threads_per_worker: parallelism.threadsPerWorker } : {}),
    ...batchingFields(batching),
  };
  await es.call(`recording the deployment of '${modelId}'`, (c) =>
    c.index({ index: DEPLOYMENTS_INDEX, id: docId(daemon, modelId), document, refresh: true }),
  );
}

/**
 * Changes which generations the deployment pins. An update, never a create: a deployment that was
 * undeployed meanwhile must not be brought back by a late pin change.
 */
export async function pinGenerations(es: Es, daemon: string, modelId: string, generations: number[]): Promise<void> {
  try {
    await es.call(`pinning generations ${generations.join(', ')} of '${modelId}'`, (c) =>
      c.update({ index: DEPLOYMENTS_INDEX, id: docId(daemon, modelId), doc: { generations }, refresh: true }),
    );
  } catch (error) {
    if (!hasStatus(error, 404)) throw error;
  }
}

/**
 * Records the batching a deploy of a running deployment named, which it applied live. An update,
 * never a create, as for the pins; the fields it does not name stay as recorded.
 */
export async function recordBatching(es: Es, daemon: string, modelId: string, batching: BatchingOverrides): Promise<void> {
  const doc = batchingFields(batching);
  if (Object.keys(doc).length === 0) return;
  try {
    await es.call(`recording the batching of '${modelId}'`, (c) =>
      c.update({ index: DEPLOYMENTS_INDEX, id: docId(daemon, modelId), doc, refresh: true }),
    );
  } catch (error) {
    if (!hasStatus(error, 404)) throw error;
  }
}

/** The fields of a desired-state document (on a daemon's or a fleet's) for the batching a deploy named. */
export function batchingFields(batching: BatchingOverrides): { max_batch_size?: number; max_queue_delay_ms?: number } {
  return {
    ...(batching.maxBatchSize !== undefined ? { max_batch_size: batching.maxBatchSize } : {}),
    ...(batching.maxQueueDelayMs !== undefined ? { max_queue_delay_ms: batching.maxQueueDelayMs } : {}),
  };
}

/** The batching a desired-state document (a daemon's or a fleet's) records. */
export function batchingOf(doc: { max_batch_size?: number; max_queue_delay_ms?: number }): BatchingOverrides {
  return {
    ...(doc.max_batch_size !== undefined ? { maxBatchSize: doc.max_batch_size } : {}),
    ...(doc.max_queue_delay_ms !== undefined ? { maxQueueDelayMs: doc.max_queue_delay_ms } : {}),
  };
}

export async function recordUndeployed(es: Es, daemon: string, modelId: string): Promise<void> {
  try {
    await es.call(`recording the undeployment of '${modelId}'`, (c) =>
      c.delete({ index: DEPLOYMENTS_INDEX, id: docId(daemon, modelId), refresh: true }),
    );
  } catch (error) {
    if (!hasStatus(error, 404)) throw error;
  }
}

export async function desiredDeployments(es: Es, daemon: string): Promise<string[]> {
  return searchDesired(es, { term: { daemon } }).then((docs) => docs.map((d) => d.model_id));
}

/** What `daemon` should be running, with the settings each was deployed with. */
export async function desiredWithSettings(es: Es, daemon: string): Promise<DesiredDeployment[]> {
  const docs = await searchDesired(es, { term: { daemon } });
  return docs.map((d) => ({ modelId: d.model_id, parallelism: parallelismOf(d), batching: batchingOf(d) }));
}

function parallelismOf(doc: DesiredDoc): Partial<Parallelism> {
  return {
    ...(doc.workers !== undefined ? { workers: doc.workers } : {}),
    ...(doc.threads_per_worker !== undefined ? { threadsPerWorker: doc.threads_per_worker } : {}),
  };
}

/** The daemons that should be running `modelId`. */
export async function daemonsRunning(es: Es, modelId: string, signal?: AbortSignal): Promise<string[]> {
  return searchDesired(es, { term: { model_id: modelId } }, signal).then((docs) => docs.map((d) => d.daemon));
}

/** The generations of `modelId` that some deployment is loading or serving. */
export async function pinnedGenerations(es: Es, modelId: string): Promise<Set<number>> {
  const docs = await searchDesired(es, { term: { model_id: modelId } });
  return new Set(docs.flatMap((d) => d.generations ?? []));
}

async function searchDesired(es: Es, query: object, signal?: AbortSignal): Promise<DesiredDoc[]> {
  const result = await es.call('reading the desired deployments', (c) =>
    c.search<DesiredDoc>(
      { index: DEPLOYMENTS_INDEX, size: 10_000, query, ignore_unavailable: true, allow_no_indices: true },
      abortable(signal),
    ),
  );
  return result.hits.hits.map((h) => sourceOf(h));
}
