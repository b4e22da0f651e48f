import { availableParallelism } from 'node:os';
import { InvalidArgumentError } from '../errors.js';

/**
 * How one deployment's native process uses the host's cores: `workers` forward()s at once on the
 * one loaded model (Elastic's number_of_allocations on one host), each with `threadsPerWorker`
 * intra-op threads (Elastic's threads_per_allocation). Our "allocation" is a fleet copy of the
 * model on a daemon (`deploy --allocations`), hence the other names.
 */
export interface Parallelism {
  workers: number;
  threadsPerWorker: number;
}

/** Elastic's limit on threads_per_allocation. */
export const MAX_THREADS_PER_WORKER = 32;
/** More workers than this on one host is a mistake rather than a setting. */
export const MAX_WORKERS = 256;

/** How the daemon tells the native process (docs/native-protocol.md); a flag in deploy.args wins. */
export const PARALLELISM_ENV = ['FEEDER_WORKERS', 'FEEDER_THREADS_PER_WORKER'] as const;

/**
 * One single-threaded worker per core: measured on a shared 2-core host, workers cost nothing per
 * row while intra-op threads lost most of their CPU to waiting for each other (docs/operations.md,
 * "Workers and threads").
 */
export function defaultParallelism(cores = availableParallelism()): Parallelism {
  return { workers: Math.max(1, Math.min(cores, MAX_WORKERS)), threadsPerWorker: 1 };
}

/** How a message names the two settings: the API's keys, or the CLI's flags. */
export interface ParallelismNames {
  workers: string;
  threadsPerWorker: string;
}

const BODY_KEYS: ParallelismNames = { workers: 'workers', threadsPerWorker: 'threads_per_worker' };

/** Fills what the deploy did not name with the host's defaults; refuses a value no process can run. */
export function resolveParallelism(given: Partial<Parallelism> | undefined, names = BODY_KEYS): Parallelism {
  const cores = availableParallelism();
  const defaults = defaultParallelism(cores);
  const threadsPerWorker = given?.threadsPerWorker ?? defaults.threadsPerWorker;
  // Threads named alone: as many workers as the cores hold, at least one.
  const workers = given?.workers ?? Math.max(1, Math.floor(cores / threadsPerWorker));
  return validateParallelism({ workers, threadsPerWorker }, names);
}

/** Refuses what no process can run; N × T beyond the cores runs, slower, and is only warned about (overcommitment). */
export function validateParallelism(p: Parallelism, names = BODY_KEYS): Parallelism {
  const { workers, threadsPerWorker: t } = p;
  if (!Number.isSafeInteger(t) || t < 1 || t > MAX_THREADS_PER_WORKER || (t & (t - 1)) !== 0)
    throw new InvalidArgumentError(
      `${names.threadsPerWorker} must be a power of 2 from 1 to ${MAX_THREADS_PER_WORKER} (as Elastic's threads_per_allocation); got ${JSON.stringify(t)}`,
    );
  if (!Number.isSafeInteger(workers) || workers < 1 || workers > MAX_WORKERS)
    throw new InvalidArgumentError(`${names.workers} must be a whole number from 1 to ${MAX_WORKERS}; got ${JSON.stringify(workers)}`);
  return p;
}

/** Why `p` oversubscribes the host, or null when workers × threads fit its cores. */
export function overcommitment(p: Parallelism, cores = availableParallelism()): string | null {
  const wanted = p.workers * p.threadsPerWorker;
  if (wanted <= cores) return null;
  return `${p.workers} workers × ${p.threadsPerWorker} threads = ${wanted} threads on ${cores} cores: they will take turns, and each answer will be slower`;
}

export function sameParallelism(a: Parallelism, b: Parallelism): boolean {
  return a.workers === b.workers && a.threadsPerWorker === b.threadsPerWorker;
}

export function parallelismEnv(p: Parallelism): Record<(typeof PARALLELISM_ENV)[number], string> {
  return { FEEDER_WORKERS: String(p.workers), FEEDER_THREADS_PER_WORKER: String(p.threadsPerWorker) };
}
