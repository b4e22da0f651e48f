import type { FeederConfig } from '../config/config.js';
import { ModelNotFoundError, ModelStateError } from '../errors.js';
import type { Es } from '../es/es.js';
import { feedModel } from '../feed/feed-model.js';
import { logEvent, type Logger } from '../log/logger.js';
import { requireMeta } from '../store/meta.js';
import { validateModelId } from '../store/model-id.js';
import { desiredDeployments, recordDeployed, recordUndeployed } from '../store/desired-deployments.js';
import { Deployment } from './deployment.js';
import type { DeploymentStatus } from './status.js';
import { LoadLimiter } from './load-limiter.js';
import { DaemonMetrics } from './metrics.js';

export interface DaemonContext {
  es: Es;
  config: FeederConfig;
  logger: Logger;
}

/** The daemon's deployments, keyed by model id; their desired state is kept in Elasticsearch. */
export class Deployments {
  readonly metrics = new DaemonMetrics(() => [...this.#all.values()].map((d) => d.state));
  readonly #all = new Map<string, Deployment>();
  readonly #limiter: LoadLimiter;

  constructor(private readonly ctx: DaemonContext) {
    this.#limiter = new LoadLimiter(ctx.config.daemon.maxConcurrentLoads);
  }

  /** Deploys a model; deploying one that is already starting or started just returns it. */
  async deploy(modelId: string): Promise<Deployment> {
    validateModelId(modelId);
    const existing = this.#all.get(modelId);
    if (existing && (existing.state === 'starting' || existing.state === 'started')) return existing;
    const { meta } = await requireMeta(this.ctx.es, modelId);
    if (meta.state !== 'ready') {
      throw new ModelStateError(`model '${modelId}' cannot be deployed: it is ${meta.state === 'uploading' ? 'still uploading' : 'being deleted'}`);
    }
    await recordDeployed(this.ctx.es, this.ctx.config.daemon.name, modelId, meta.generation);
    const deployment = existing ?? this.#create(modelId);
    deployment.start();
    return deployment;
  }

  async undeploy(modelId: string): Promise<DeploymentStatus> {
    const deployment = this.require(modelId);
    await recordUndeployed(this.ctx.es, this.ctx.config.daemon.name, modelId);
    await deployment.stop();
    this.#all.delete(modelId);
    logEvent(this.ctx.logger, { action: 'undeploy', outcome: 'success', modelId }, `model '${modelId}' undeployed`);
    return deployment.status();
  }

  require(modelId: string): Deployment {
    const deployment = this.#all.get(validateModelId(modelId));
    if (!deployment) throw new ModelNotFoundError(`model '${modelId}' is not deployed on this daemon; 'feeder status' lists the deployments`);
    return deployment;
  }

  list(): DeploymentStatus[] {
    return [...this.#all.values()].map((d) => d.status()).sort((a, b) => a.model_id.localeCompare(b.model_id));
  }

  /** Brings back what should be running after a restart of the daemon. */
  async restore(): Promise<void> {
    for (const modelId of await desiredDeployments(this.ctx.es, this.ctx.config.daemon.name)) {
      await this.deploy(modelId).catch((error: Error) => {
        logEvent(this.ctx.logger, { action: 'deployment-restore', outcome: 'failure', modelId, error: error.message }, `could not bring back model '${modelId}': ${error.message}`);
      });
    }
  }

  /** Stops every native process, leaving the desired state as it is so a restart brings them back. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#all.values()].map((d) => d.stop()));
  }

  #create(modelId: string): Deployment {
    const { daemon } = this.ctx.config;
    const deployment = new Deployment(modelId, {
      feed: (options) => feedModel(this.ctx, options),
      limiter: this.#limiter,
      metrics: this.metrics,
      logger: this.ctx.logger,
      maxRestarts: daemon.maxRestarts,
      restartBackoffMs: daemon.restartBackoffMs,
      inferenceTimeoutMs: daemon.inferenceTimeoutMs,
    });
    this.#all.set(modelId, deployment);
    return deployment;
  }
}
