import { setTimeout as sleep } from 'node:timers/promises';
import {
  ChunkMissingError,
  ElasticsearchUnreachableError,
  FeederError,
  InvalidArgumentError,
  ModelStateError,
  NativeProcessError,
  TimeoutError,
  UnloadableModelError,
} from '../errors.js';
import { isTransient } from '../es/retry.js';
import type { FeedOptions, FeedResult } from '../feed/feed-model.js';
import { logEvent, type Logger } from '../log/logger.js';
import { createProgress } from '../log/progress.js';
import type { NativeExit, NativeProcess } from '../native/native-process.js';
import type { ControlCode, ResponseFrame } from '../native/protocol.js';
import type { InferenceInputs } from '../native/token-ids.js';
import { overcommitment, type Parallelism } from '../native/parallelism.js';
import type { ModelMeta } from '../model/meta.js';
import { TextModel } from '../nlp/text-model.js';
import { InferenceQueue, round, type BatchingOverrides, type InferenceLimits, type InferOptions } from './inference-queue.js';
import type { LoadLimiter } from './load-limiter.js';
import type { DaemonMetrics } from '../daemon/metrics.js';
import type { RestartPolicy } from './restart-policy.js';
import { rollOver, type RolloverHost } from './rollover.js';
import { DeploymentStateMachine } from './state-machine.js';
import type { DeploymentState, DeploymentStatus, RolloverStatus } from '../api/wire-types.js';

export interface DeploymentDeps {
  feed: (options: FeedOptions) => Promise<FeedResult>;
  /** The model's meta document as stored now. */
  readMeta: () => Promise<ModelMeta>;
  /** Records which generations this deployment loads or serves, so garbage collection spares them. */
  pin: (generations: number[]) => Promise<void>;
  /** Removes replaced generations that no deployment pins any more. */
  collectGarbage: () => Promise<void>;
  limiter: LoadLimiter;
  metrics: DaemonMetrics;
  logger: Logger;
  restarts: RestartPolicy;
  inference: InferenceLimits;
  /** Given to every native process of this deployment at its spawn. */
  parallelism: Parallelism;
}

/**
 * One model's deployment. A supervisor loop loads the pinned generation into a native process,
 * serves it, and restarts it with backoff when it dies (within the restart policy's budget); a
 * rollover loads a newer generation beside it and switches inference over once it is verified.
 */
export class Deployment {
  readonly #machine: DeploymentStateMachine;
  readonly #inference: InferenceQueue;
  /** The generation loaded, and reloaded on restarts; changed only by a rollover or a replace that removed it mid-load. */
  #meta: ModelMeta | null = null;
  #serving: FeedResult | null = null;
  #rollover: RolloverStatus | null = null;
  /** The text model of each loaded process of a model stored with a task, probed before it serves. */
  readonly #textModels = new WeakMap<FeedResult, TextModel>();
  readonly #retiring = new Set<NativeProcess>();
  #bytes = 0;
  #total: number | null = null;
  #throughput: number | null = null;
  #abort = new AbortController();
  /** Aborted when a rollover installs a process while the supervisor was still (re)loading. */
  #superseded = new AbortController();
  #supervisor: Promise<void> | null = null;
  #rolling: Promise<void> = Promise.resolve();
  #pins: Promise<void> = Promise.resolve();

  constructor(
    readonly modelId: string,
    private readonly deps: DeploymentDeps,
  ) {
    this.#machine = new DeploymentStateMachine(modelId, deps.logger);
    this.#inference = new InferenceQueue(modelId, deps.inference, deps.metrics);
  }

  get state(): DeploymentState {
    return this.#machine.state;
  }

  get parallelism(): Parallelism {
    return this.deps.parallelism;
  }

  /** The generation served (or being loaded, while starting). */
  get generation(): number | null {
    return this.#meta?.generation ?? null;
  }

  /** Starts loading `meta` unless already starting or started: repeating a deploy is not an error. */
  start(meta: ModelMeta): void {
    if (this.#machine.is('starting', 'started', 'stopping')) return;
    this.deps.restarts.reset();
    this.#meta = meta;
    this.#rollover = null;
    // A rollover still loading under the failed run's signal must end with it, or a stop would wait it out.
    this.#abort.abort(new ModelStateError(`deployment of '${this.modelId}' is being started again`));
    this.#abort = new AbortController();
    this.#supervise();
  }

  /** Loads `meta`, a newer generation, beside the one serving, and switches to it once verified. */
  rollTo(meta: ModelMeta): void {
    if (!this.#machine.is('started') || meta.generation === this.generation || this.#rollover?.state === 'loading') return;
    this.#rollover = { generation: meta.generation, state: 'loading', reason: null };
    this.#machine.notify();
    this.#rolling = rollOver(this.#rolloverHost(), meta, this.#abort.signal).catch((error: unknown) => this.#failUnexpectedly(error));
  }

  /** SIGTERM to every native process of this deployment (SIGKILL after the grace delay); resolves once all are gone. */
  async stop(): Promise<void> {
    if (this.#machine.is('stopped')) return;
    const failedReason = this.#machine.is('failed') ? this.#machine.reason : null;
    this.#machine.to('stopping');
    this.#abort.abort(new ModelStateError(`deployment of '${this.modelId}' is being stopped`));
    await Promise.all([this.#serving?.native.stop(), ...[...this.#retiring].map((n) => n.stop())]);
    await Promise.all([this.#supervisor, this.#rolling]);
    this.#serving = null;
    this.#machine.to('stopped', failedReason);
  }

  async infer(inputs: InferenceInputs, options: InferOptions = {}): Promise<ResponseFrame> {
    return this.#inference.run(this.#requireServing().native, inputs, options);
  }

  /** Batching settings of this deployment's own; those not given stay as they are. */
  configure(overrides: BatchingOverrides): void {
    this.#inference.configure(overrides);
  }

  /** The batching its deploys named; the rest is the config's. */
  get batching(): BatchingOverrides {
    return this.#inference.overrides;
  }

  /** The tokenizer and task of the generation serving; a model stored without a task has none. */
  textModel(): TextModel {
    const model = this.#textModels.get(this.#requireServing());
    if (!model) {
      throw new InvalidArgumentError(
        `model '${this.modelId}' was stored without a task or tokenizer, so it takes token ids (POST /deployments/${this.modelId}/infer, 'feeder infer --tokens'), not text; import it with 'feeder import', or upload it with --task and --tokenizer`,
      );
    }
    return model;
  }

  /** A control request (0 clear the cache, 1 process stats): answered by the process, counted as no inference. */
  async control(control: ControlCode): Promise<ResponseFrame> {
    return this.#requireServing().native.request({ control }, { timeoutMs: this.deps.inference.timeoutMs });
  }

  #requireServing(): FeedResult {
    const serving = this.#serving;
    if (!this.#machine.is('started') || !serving) {
      throw new ModelStateError(`model '${this.modelId}' is not started (state ${this.#machine.state}); deploy it and wait for 'started'`);
    }
    return serving;
  }

  status(): DeploymentStatus {
    return {
      model_id: this.modelId,
      state: this.#machine.state,
      phase: this.#machine.phase,
      reason: this.#machine.reason,
      pid: this.#serving?.native.pid ?? null,
      generation: this.generation,
      rollover: this.#rollover,
      bytes_streamed: this.#bytes,
      total_bytes: this.#total,
      throughput_mib_s: this.#throughput,
      restarts: this.deps.restarts.count,
      workers: this.deps.parallelism.workers,
      threads_per_worker: this.deps.parallelism.threadsPerWorker,
      overcommitment: overcommitment(this.deps.parallelism),
      ...this.#inference.stats(),
      number_of_pending_requests: this.#inference.pending,
      ...this.#inference.settings(),
      updated_at: this.#machine.updatedAt,
    };
  }

  /** Resolves with the status once `until` holds for it, or when `timeoutMs` has passed. */
  async waitUntil(until: (status: DeploymentStatus) => boolean, timeoutMs: number): Promise<DeploymentStatus> {
    await this.#machine.waitUntil(() => until(this.status()), timeoutMs);
    return this.status();
  }

  #supervise(): void {
    const signal = this.#abort.signal;
    const run = async () => {
      let crash: FeederError | null = null;
      while (!signal.aborted) {
        if (!this.#serving) {
          const loaded = await this.#loadUntilUp(signal, crash);
          if (loaded) this.#serve(loaded);
          // Nothing serves: failed, or stopped. (A rollover may have installed its process instead.)
          else if (!this.#serving) return;
        }
        const { native, exit } = await this.#untilServingEnds();
        if (signal.aborted) return;
        crash = native.failureOf('while serving');
        logEvent(
          this.deps.logger,
          {
            action: 'native-exit',
            outcome: 'failure',
            modelId: this.modelId,
            pid: native.pid,
            exit_code: exit.exitCode,
            signal: exit.signal,
          },
          crash.message,
        );
      }
    };
    this.#supervisor = run()
      .catch((error: unknown) => this.#failUnexpectedly(error))
      .finally(() => (this.#supervisor = null));
  }

  /** Loads the pinned generation, retrying what a retry may cure; null when it gave up, was stopped or superseded. */
  async #loadUntilUp(signal: AbortSignal, crash: FeederError | null): Promise<FeedResult | null> {
    this.#superseded = new AbortController();
    const attempt = AbortSignal.any([signal, this.#superseded.signal]);
    let failure = crash;
    for (;;) {
      // Each turn follows I/O (a backoff, a re-read of the meta document): a stop may have come meanwhile.
      if (attempt.aborted) return null;
      if (failure && !(await this.#backOffBeforeRestart(failure, attempt))) return null;
      try {
        return await this.#loadOnce(this.#meta!, attempt);
      } catch (error) {
        if (attempt.aborted) return null;
        if (await this.#followReplacedGeneration(error)) {
          failure = null;
          continue;
        }
        if (!isWorthRetrying(error)) return this.#fail(error as Error);
        failure = error as FeederError;
      }
    }
  }

  #loadOnce(meta: ModelMeta, signal: AbortSignal): Promise<FeedResult> {
    this.#machine.to('starting');
    this.#machine.setPhase('queued');
    return this.deps.limiter.run(signal, () => {
      this.#machine.setPhase('loading');
      this.#bytes = 0;
      return this.#feedAndProbe({
        modelId: this.modelId,
        meta,
        signal,
        onProgress: this.#progressReporter(),
        parallelism: this.deps.parallelism,
      });
    });
  }

  /** Feeds the model; one stored with a task must also answer a probe forward with its task's shape. */
  async #feedAndProbe(options: FeedOptions): Promise<FeedResult> {
    const loaded = await this.deps.feed(options);
    if (!loaded.assets) return loaded;
    try {
      const model = TextModel.fromAssets(this.modelId, loaded.assets);
      await model.probe((batch) => loaded.native.request(batch.inputs, { timeoutMs: this.deps.inference.timeoutMs }));
      this.#textModels.set(loaded, model);
      return loaded;
    } catch (error) {
      await loaded.native.stop();
      throw error;
    }
  }

  /**
   * A replace that committed between our read of the meta document and our pin may have removed
   * the generation we were loading: then load the one that replaced it, without counting a restart.
   */
  async #followReplacedGeneration(error: unknown): Promise<boolean> {
    if (!(error instanceof ChunkMissingError)) return false;
    const now = await this.deps.readMeta().catch(() => null);
    if (!now || now.state !== 'ready' || now.generation === this.generation) return false;
    logEvent(
      this.deps.logger,
      { action: 'deployment-generation', outcome: 'success', modelId: this.modelId, from: this.generation, to: now.generation },
      `generation ${this.generation} of model '${this.modelId}' was replaced while loading; loading generation ${now.generation}`,
    );
    this.#meta = now;
    await this.#updatePins();
    return true;
  }

  #serve(loaded: FeedResult): void {
    if (this.#serving) {
      // A rollover installed a newer process while this (re)load finished: that one serves.
      void loaded.native.stop();
      return;
    }
    this.#serving = loaded;
    this.#meta = loaded.meta;
    this.#total = loaded.loaded.bytes;
    this.#throughput = round(loaded.loaded.bytes / 1024 ** 2 / (loaded.durationMs / 1000));
    this.deps.metrics.throughput.set({ model_id: this.modelId }, this.#throughput);
    this.#machine.to('started');
    void this.deps.collectGarbage();
  }

  /** Resolves when the process serving ends; a process replaced by a rollover is followed by the new one. */
  async #untilServingEnds(): Promise<{ native: NativeProcess; exit: NativeExit }> {
    for (;;) {
      const current = this.#serving!;
      const exit = await current.native.exited;
      if (this.#serving !== current) continue;
      this.#serving = null;
      return { native: current.native, exit };
    }
  }

  /** Waits the backoff delay before the next attempt; false once the restart budget is spent. */
  async #backOffBeforeRestart(error: FeederError, signal: AbortSignal): Promise<boolean> {
    const { restarts } = this.deps;
    const next = restarts.next();
    if (!next) {
      this.#fail(new NativeProcessError(`gave up after ${restarts.count} restarts: ${error.message}`));
      return false;
    }
    this.deps.metrics.restarts.inc({ model_id: this.modelId });
    logEvent(
      this.deps.logger,
      {
        action: 'native-restart',
        outcome: 'unknown',
        modelId: this.modelId,
        restart: next.restart,
        max_restarts: restarts.maxRestarts,
        window_ms: restarts.windowMs,
        delay_ms: next.delayMs,
        reason: error.message,
      },
      `restarting model '${this.modelId}' (restart ${next.restart} of ${restarts.maxRestarts} within ${restarts.windowMs / 1000} s) in ${next.delayMs} ms: ${error.message}`,
    );
    this.#machine.to('starting');
    await sleep(next.delayMs, undefined, { signal }).catch(() => {});
    return !signal.aborted;
  }

  /** A bug of ours must not take the daemon down with an unhandled rejection: it fails this deployment, loudly. */
  #failUnexpectedly(error: unknown): void {
    this.deps.logger.error(
      { err: error, feeder: { model_id: this.modelId } },
      `deployment of '${this.modelId}' hit an internal error: ${(error as Error)?.message}`,
    );
    if (!this.#machine.is('stopping', 'stopped', 'failed')) this.#machine.to('failed', `internal error: ${(error as Error)?.message}`);
  }

  #fail(error: Error): null {
    this.#machine.to('failed', error.message);
    return null;
  }

  #rolloverHost(): RolloverHost {
    return {
      modelId: this.modelId,
      logger: this.deps.logger,
      load: async (meta, signal) => {
        await this.#writePins(meta.generation);
        return this.deps.limiter.run(signal, () =>
          this.#feedAndProbe({ modelId: this.modelId, meta, signal, parallelism: this.deps.parallelism }),
        );
      },
      install: (candidate) => this.#install(candidate),
      queuedFor: (native) => this.#inference.queuedFor(native),
      retire: async (native, retire) => {
        this.#retiring.add(native);
        await retire().finally(() => this.#retiring.delete(native));
      },
      fail: (reason) => {
        this.#rollover = { generation: this.#rollover?.generation ?? 0, state: 'failed', reason };
        this.#machine.notify();
        void this.#updatePins();
      },
    };
  }

  /** Switches inference to `candidate` at once; returns what served before, for the caller to drain and stop. */
  #install(candidate: FeedResult): FeedResult | null {
    const old = this.#serving;
    this.#serving = candidate;
    this.#meta = candidate.meta;
    this.#rollover = null;
    this.#total = candidate.loaded.bytes;
    if (!this.#machine.is('started')) {
      // Crashed meanwhile: the supervisor was reloading the old generation, or had given up.
      this.#superseded.abort();
      this.#machine.to('starting');
      this.#machine.to('started');
      if (!this.#supervisor) this.#supervise();
    }
    this.#machine.notify();
    void this.#updatePins().then(() => this.deps.collectGarbage());
    return old;
  }

  /** Pins the generation served, and `loading` if a rollover loads one; writes are kept in order. */
  #updatePins(loading?: number): Promise<void> {
    return this.#writePins(loading).catch((error: Error) => {
      this.deps.logger.warn(
        { err: error, feeder: { model_id: this.modelId, generation: this.generation, loading } },
        `could not record the generations model '${this.modelId}' uses: ${error.message}`,
      );
    });
  }

  /** The same, but a failure is the caller's: a rollover must not stream a generation it could not pin. */
  #writePins(loading?: number): Promise<void> {
    const generations = [this.generation!, ...(loading !== undefined && loading !== this.generation ? [loading] : [])];
    const write = this.#pins.then(() => this.deps.pin(generations));
    this.#pins = write.catch(() => {});
    return write;
  }

  #progressReporter(): (sent: number, total: number) => void {
    const progress = createProgress({
      label: `loading ${this.modelId}`,
      logger: this.deps.logger,
      bar: false,
      fields: { model_id: this.modelId },
    });
    let reported = 0;
    return (sent, total) => {
      this.deps.metrics.bytesStreamed.inc({ model_id: this.modelId }, sent - reported);
      reported = sent;
      this.#bytes = sent;
      this.#total = total;
      progress.update(sent, total);
    };
  }
}

/**
 * A process that died or hung, or a cluster that hiccupped, may do better next time; a damaged
 * model, or one the runtime cannot load, will not.
 */
function isWorthRetrying(error: unknown): boolean {
  return (
    (error instanceof NativeProcessError && !(error instanceof UnloadableModelError)) ||
    error instanceof TimeoutError ||
    error instanceof ElasticsearchUnreachableError ||
    isTransient(error)
  );
}
