import type { FeederConfig } from '../config/config.js';
import { ModelNotFoundError, ModelStateError, UnavailableError } from '../errors.js';
import type { Es } from '../es/es.js';
import { feedModel } from '../feed/feed-model.js';
import { logEvent, type Logger } from '../log/logger.js';
import {
  desiredWithSettings,
  pinGenerations,
  recordBatching,
  recordDeployed,
  recordUndeployed,
} from '../coordination/desired-deployments.js';
import { collectModelGarbage } from '../model/garbage.js';
import { requireMeta, type ModelMeta } from '../model/meta.js';
import { validateModelId } from '../model/model-id.js';
import { Deployment } from './deployment.js';
import { definedOnly, type BatchingOverrides } from './inference-queue.js';
import { KeyedLock } from './keyed-lock.js';
import { LoadLimiter } from './load-limiter.js';
import { DaemonMetrics } from '../daemon/metrics.js';
import { RestartPolicy } from './restart-policy.js';
import type { DeploymentStatus } from '../api/wire-types.js';
import { overcommitment, resolveParallelism, sameParallelism, type Parallelism } from '../native/parallelism.js';

export interface DaemonContext {
  es: Es;
  config: FeederConfig;
  logger: Logger;
}

/**
 * The daemon's deployments, keyed by model id; their desired state is kept in Elasticsearch.
 * Commands for one model run one at a time (deploy, undeploy, restore), so the map, the native
 * processes and the desired-state documents always change together.
 */
export class Deployments {
  readonly metrics = new DaemonMetrics(() => [...this.#all.values()].map((d) => d.status()));
  readonly #all = new Map<string, Deployment>();
  readonly #limiter: LoadLimiter;
  readonly #commands = new KeyedLock();
  #closing = false;

  constructor(private readonly ctx: DaemonContext) {
    this.#limiter = new LoadLimiter(ctx.config.daemon.maxConcurrentLoads);
  }

  /**
   * Deploys a model. One that is already starting is joined; one that is started stays as it is,
   * unless a newer generation is stored: then it rolls over to that one. `given` is what the deploy
   * named of workers and threads (the rest are the host's defaults); a running deployment keeps its own.
   * `batching` is what it named of the batching: applied at once, also to a running deployment, and
   * added to what earlier deploys of it named (the rest are the config's defaults).
   */
  async deploy(modelId: string, given: Partial<Parallelism> = {}, batching: BatchingOverrides = {}): Promise<Deployment> {
    validateModelId(modelId);
    const parallelism = resolveParallelism(given);
    return this.#command(modelId, async () => {
      const existing = this.#all.get(modelId);
      if (existing?.state === 'starting' || existing?.state === 'started') {
        requireSameParallelism(existing, given);
        // Batching is the daemon's, not the process's: it changes live, and is recorded for a restart.
        existing.configure(batching);
        await recordBatching(this.ctx.es, this.ctx.config.daemon.name, modelId, batching);
      }
      if (existing?.state === 'starting') return existing;
      const { meta: seen } = await requireMeta(this.ctx.es, modelId);
      requireDeployable(seen);
      if (existing?.state === 'started') {
        existing.rollTo(seen);
        return existing;
      }
      // A failed or stopped one starts again as it was, unless this deploy asks for other settings.
      const overrides = { ...existing?.batching, ...definedOnly(batching) };
      await recordDeployed(this.ctx.es, this.ctx.config.daemon.name, modelId, seen.generation, given, overrides);
      const meta = await this.#confirmDeployable(seen, !existing);
      const deployment = existing && sameParallelism(existing.parallelism, parallelism) ? existing : this.#create(modelId, parallelism);
      deployment.configure(overrides);
      deployment.start(meta);
      return deployment;
    });
  }

  async undeploy(modelId: string): Promise<DeploymentStatus> {
    validateModelId(modelId);
    return this.#command(modelId, async () => {
      const deployment = this.require(modelId);
      await recordUndeployed(this.ctx.es, this.ctx.config.daemon.name, modelId);
      await deployment.stop();
      this.#all.delete(modelId);
      logEvent(this.ctx.logger, { action: 'undeploy', outcome: 'success', modelId }, `model '${modelId}' undeployed`);
      void this.#collectGarbage(modelId);
      return deployment.status();
    });
  }

  /**
   * Reads the meta document again now that the desired-state document is written: a delete marks the
   * model `deleting` before it looks for desired-state documents, so of the two at the same moment
   * one sees the other, and never both succeed. What this deploy wrote is taken back if it lost.
   */
  async #confirmDeployable(seen: ModelMeta, wroteDesired: boolean): Promise<ModelMeta> {
    const { es, config } = this.ctx;
    let meta: ModelMeta;
    try {
      meta = (await requireMeta(es, seen.model_id)).meta;
      requireDeployable(meta);
    } catch (error) {
      if (wroteDesired) await recordUndeployed(es, config.daemon.name, seen.model_id);
      throw error;
    }
    if (meta.generation !== seen.generation) await pinGenerations(es, config.daemon.name, meta.model_id, [meta.generation]);
    return meta;
  }

  require(modelId: string): Deployment {
    const deployment = this.#all.get(validateModelId(modelId));
    if (!deployment)
      throw new ModelNotFoundError(`model '${modelId}' is not deployed on this daemon; 'feeder status' lists the deployments`);
    return deployment;
  }

  get(modelId: string): Deployment | undefined {
    return this.#all.get(modelId);
  }

  /**
   * Stops a deployment's native processes without a word to Elasticsearch: a fleet member whose
   * lease lapsed must stop serving even while the cluster cannot be reached. False when there was none.
   */
  async stopLocally(modelId: string): Promise<boolean> {
    const deployment = this.#all.get(modelId);
    if (!deployment) return false;
    this.#all.delete(modelId);
    await deployment.stop();
    return true;
  }

  list(): DeploymentStatus[] {
    return [...this.#all.values()].map((d) => d.status()).sort((a, b) => a.model_id.localeCompare(b.model_id));
  }

  /** Brings back what should be running after a restart of the daemon; a stop (`signal`) cuts it short. */
  async restore(signal: AbortSignal): Promise<void> {
    for (const { modelId, parallelism, batching } of await desiredWithSettings(this.ctx.es, this.ctx.config.daemon.name)) {
      if (signal.aborted) return;
      await this.deploy(modelId, parallelism, batching).catch((error: Error) => {
        logEvent(
          this.ctx.logger,
          { action: 'deployment-restore', outcome: 'failure', modelId, error: error.message },
          `could not bring back model '${modelId}': ${error.message}`,
        );
      });
    }
  }

  /**
   * Refuses new commands, lets those under way finish, then stops every native process. The
   * desired state stays as it is, so a restart brings the deployments back.
   */
  async stopAll(): Promise<void> {
    this.#closing = true;
    await this.#commands.idle();
    await Promise.all([...this.#all.values()].map((d) => d.stop()));
  }

  #command<T>(modelId: string, task: () => Promise<T>): Promise<T> {
    const refuseIfClosing = () => {
      if (this.#closing)
        throw new UnavailableError('the feeder daemon is shutting down and takes no new commands; run it again after it has stopped');
    };
    refuseIfClosing();
    return this.#commands.run(modelId, async () => {
      refuseIfClosing();
      return task();
    });
  }

  #create(modelId: string, parallelism: Parallelism): Deployment {
    const { es, config, logger } = this.ctx;
    const { daemon, deploy } = config;
    const overcommit = overcommitment(parallelism);
    if (overcommit) logger.warn({ feeder: { model_id: modelId } }, `model '${modelId}': ${overcommit}`);
    const deployment = new Deployment(modelId, {
      feed: (options) => feedModel(this.ctx, options),
      readMeta: async () => (await requireMeta(es, modelId)).meta,
      pin: (generations) => pinGenerations(es, daemon.name, modelId, generations),
      collectGarbage: () => this.#collectGarbage(modelId),
      limiter: this.#limiter,
      metrics: this.metrics,
      logger,
      restarts: new RestartPolicy(daemon.maxRestarts, daemon.restartWindowMs, daemon.restartBackoffMs),
      // Up to one request per worker at the native process at once: each worker answers one at a time.
      inference: {
        queueCapacity: deploy.queueCapacity,
        timeoutMs: daemon.inferenceTimeoutMs,
        maxBatchSize: deploy.maxBatchSize,
        maxQueueDelayMs: deploy.maxQueueDelayMs,
        inFlight: parallelism.workers,
      },
      parallelism,
    });
    this.#all.set(modelId, deployment);
    return deployment;
  }

  /** Old generations go once nothing pins them; a failure only delays that to the next try. */
  async #collectGarbage(modelId: string): Promise<void> {
    try {
      await collectModelGarbage(this.ctx.es, modelId, this.ctx.logger);
    } catch (error) {
      this.ctx.logger.warn(
        { err: error, feeder: { model_id: modelId } },
        `could not remove the replaced generations of model '${modelId}' yet: ${(error as Error).message}`,
      );
    }
  }
}

/** Workers and threads are the process's from its spawn: changing them is an undeploy and a deploy. */
function requireSameParallelism(existing: Deployment, given: Partial<Parallelism>): void {
  const { workers, threadsPerWorker } = existing.parallelism;
  const differs =
    (given.workers !== undefined && given.workers !== workers) ||
    (given.threadsPerWorker !== undefined && given.threadsPerWorker !== threadsPerWorker);
  if (!differs) return;
  throw new ModelStateError(
    `model '${existing.modelId}' is ${existing.state} with ${workers} workers × ${threadsPerWorker} threads; undeploy it first to run it with other settings`,
  );
}

export function requireDeployable(meta: ModelMeta): void {
  if (meta.state === 'ready') return;
  const why =
    meta.state === 'uploading'
      ? "it is still uploading; finish it with 'feeder upload --resume'"
      : `it is being deleted; run 'feeder models delete ${meta.model_id}' to finish the delete`;
  throw new ModelStateError(`model '${meta.model_id}' cannot be deployed: ${why}`);
}
