import { setTimeout as sleep } from 'node:timers/promises';
import type { FeederConfig } from '../config/config.js';
import { formatBytes } from '../config/units.js';
import { AbortedError, FeederError, IntegrityError, InvalidArgumentError, NativeProcessError, TimeoutError } from '../errors.js';
import type { Es } from '../es/es.js';
import { DEFAULT_RETRY, type RetryOptions } from '../es/retry.js';
import { logEvent, type Logger } from '../log/logger.js';
import type { LoadedFrame } from '../native/protocol.js';
import { resolveCommand } from '../native/command-path.js';
import type { Parallelism } from '../native/parallelism.js';
import { nativeEnvironment } from '../native/native-env.js';
import { NativeProcess } from '../native/native-process.js';
import { StdinClosedError } from '../native/stdin-writer.js';
import { ChunkGauge, readChunks } from '../chunks/chunk-reader.js';
import { storedEncoding } from '../chunks/codec/index.js';
import { readAssets, type ModelAssets } from '../model/assets.js';
import { requireMeta, requireReadyMeta, type ModelMeta, type ReadyMeta } from '../model/meta.js';
import { validateModelId } from '../model/model-id.js';
import { encodeSizeHeader } from './header.js';
import { StallWatch, stalledError, waitingForElasticsearch, waitingForNative, type StallPoint } from './stall-watch.js';

export interface FeedContext {
  es: Es;
  config: FeederConfig;
  logger: Logger;
}

export interface FeedOptions {
  modelId: string;
  /** The meta document as the caller already read it (to pin the generation it loads); read here otherwise. */
  meta?: ModelMeta;
  signal?: AbortSignal;
  /** Overrides `deploy.timeoutMs`: from spawn to a verified `loaded` report. */
  timeoutMs?: number;
  onProgress?: (sent: number, total: number) => void;
  /** Counts chunks held in memory (tests and benchmarks read its peak). */
  gauge?: ChunkGauge;
  /** The deployment's workers and threads, for the native process; none: its own defaults. */
  parallelism?: Parallelism;
}

export interface FeedResult {
  native: NativeProcess;
  meta: ReadyMeta;
  loaded: LoadedFrame;
  durationMs: number;
  /** The tokenizer and task config stored with the generation, checked against their digests; null for a bare tensor model. */
  assets: ModelAssets | null;
}

/**
 * Deploys one model into a new native process: meta document → spawn → size header → chunks in
 * order (fetched ahead, decoded, checked) → stdin with backpressure → the process's `loaded` report,
 * checked against the meta document. On any failure the process is stopped before this rejects.
 */
export async function feedModel(ctx: FeedContext, options: FeedOptions): Promise<FeedResult> {
  const modelId = validateModelId(options.modelId);
  const { logger } = ctx;
  const read = options.meta ?? (await requireMeta(ctx.es, modelId)).meta;
  requireSameModel(read, modelId);
  const meta = requireReadyMeta(read);
  // An encoding this feeder cannot read is refused before anything is spawned.
  storedEncoding(meta.model_id, meta.encoding);
  // An altered tokenizer or task config fails the deploy before anything is spawned, as a damaged chunk would.
  const assets = meta.nlp ? await readAssets(ctx.es, modelId, meta.generation, meta.nlp, options.signal) : null;
  const header = encodeSizeHeader(meta.total_length, ctx.config.deploy.header);
  const command = await resolveCommand(ctx.config.deploy.command, nativeEnvironment(ctx.config.deploy.env, ctx.config.deploy.header).PATH);
  const started = performance.now();
  const timeoutMs = options.timeoutMs ?? ctx.config.deploy.timeoutMs;
  const timeout = AbortSignal.timeout(timeoutMs);
  const native = spawnNative(ctx, command, modelId, options.parallelism);
  logEvent(
    logger,
    { action: 'native-spawn', outcome: 'success', modelId, pid: native.pid, bytes: meta.total_length },
    `started native process ${native.pid} for model '${modelId}'`,
  );
  const stall = new StallWatch(ctx.config.deploy.stallTimeoutMs);
  const signal = AbortSignal.any([timeout, stall.signal, ...(options.signal ? [options.signal] : [])]);
  const load: Load = { native, meta, signal, stall, sent: 0 };
  try {
    await streamModel(ctx, load, header, options);
    stall.stop();
    const loaded = await untilAborted(native.loaded, signal);
    checkLoadedReport(loaded, meta, native);
    const durationMs = performance.now() - started;
    logEvent(
      logger,
      {
        action: 'model-load',
        outcome: 'success',
        modelId,
        pid: native.pid,
        bytes: loaded.bytes,
        durationMs,
        mib_s: mibPerSecond(loaded.bytes, durationMs),
      },
      `model '${modelId}' loaded into native process ${native.pid}: ${formatBytes(loaded.bytes)}, sha256 verified`,
    );
    return { native, meta, loaded, durationMs, assets };
  } catch (error) {
    stall.stop();
    // A process that stopped reading is usually exiting: let it, so its own exit code is what we report.
    if (error instanceof StdinClosedError) await Promise.race([native.exited, sleep(2000, undefined, { ref: false })]);
    await native.stop();
    const explained = await explainFailure(error, {
      native,
      modelId,
      sent: load.sent,
      total: meta.total_length,
      timeout,
      timeoutMs,
      stalledAt: stall.stalledAt,
    });
    logEvent(
      logger,
      {
        action: 'model-load',
        outcome: 'failure',
        modelId,
        pid: native.pid,
        bytes: load.sent,
        durationMs: performance.now() - started,
        error: explained.message,
      },
      `deploying model '${modelId}' failed`,
    );
    throw explained;
  }
}

function spawnNative(ctx: FeedContext, command: string, modelId: string, parallelism: Parallelism | undefined): NativeProcess {
  return new NativeProcess({
    command,
    args: ctx.config.deploy.args,
    env: ctx.config.deploy.env,
    header: ctx.config.deploy.header,
    ...(parallelism ? { parallelism } : {}),
    logger: ctx.logger.child({ feeder: { model_id: modelId } }),
    killGraceMs: ctx.config.daemon.stopGraceMs,
    modelId,
    requestTimeoutMs: ctx.config.daemon.inferenceTimeoutMs,
  });
}

/** One load in progress: what `streamModel` works with, and how far it has come. */
interface Load {
  native: NativeProcess;
  meta: ReadyMeta;
  signal: AbortSignal;
  stall: StallWatch;
  /** Model bytes the native process's stdin has taken. */
  sent: number;
}

/**
 * The size header, then every chunk in order, each written once the pipe has taken the one
 * before; each wait is announced to the stall watch, so a stall names what it waited for.
 */
async function streamModel(ctx: FeedContext, load: Load, header: Buffer, options: FeedOptions): Promise<void> {
  const { native, meta, signal, stall } = load;
  const stallMs = stall.stallTimeoutMs;
  stall.waitFor(() => waitingForNative(native, 'the size header', stallMs));
  await native.writeHeader(header, signal);
  const retry = { ...DEFAULT_RETRY, onRetry: logRetry(ctx.logger, meta.model_id), onNodeFailed: logNodeFailed(ctx.logger, meta.model_id) };
  const chunks = readChunks(ctx.es, meta, {
    prefetch: ctx.config.deploy.prefetch,
    signal,
    retry,
    ...(options.gauge ? { gauge: options.gauge } : {}),
  });
  let docNum = 0;
  stall.waitFor(() => waitingForElasticsearch(meta, docNum, stallMs));
  for await (const chunk of chunks) {
    const writing = docNum;
    stall.waitFor(() => waitingForNative(native, `chunk ${writing}`, stallMs));
    await native.writeChunk(chunk, signal);
    load.sent += chunk.length;
    options.onProgress?.(load.sent, meta.total_length);
    docNum += 1;
    stall.waitFor(() => waitingForElasticsearch(meta, docNum, stallMs));
  }
  native.endLoad();
}

function logRetry(logger: Logger, modelId: string): RetryOptions['onRetry'] {
  return (error, attempt, delayMs) =>
    logger.warn(
      {
        event: { action: 'chunk-fetch-retry', outcome: 'failure' },
        feeder: { model_id: modelId, attempt, delay_ms: Math.round(delayMs) },
        error: { message: error.message },
      },
      `reading a chunk failed (${error.message}); retry ${attempt} in ${Math.round(delayMs)} ms`,
    );
}

function logNodeFailed(logger: Logger, modelId: string): RetryOptions['onNodeFailed'] {
  return ({ failed, next, retrying, error }) =>
    logger.warn(
      {
        event: { action: 'es-node-failover', outcome: 'failure' },
        feeder: { model_id: modelId, failed_node: failed, next_node: next, retrying },
        error: { message: error.message },
      },
      `${error.message}; chunk reads go to ${next} now${retrying ? ', this one too' : ''}`,
    );
}

function requireSameModel(meta: ModelMeta, modelId: string): void {
  if (meta.model_id === modelId) return;
  throw new InvalidArgumentError(
    `the meta document given for model '${modelId}' is that of model '${meta.model_id}'; pass the one read for '${modelId}', or none`,
  );
}

/**
 * The process verifies what it received; we only call it started if its report matches the meta
 * document. A mismatch is an IntegrityError: loading the same bytes again cannot cure it.
 */
function checkLoadedReport(loaded: LoadedFrame, meta: ReadyMeta, native: NativeProcess): void {
  if (!Number.isSafeInteger(loaded.bytes) || typeof loaded.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(loaded.sha256)) {
    throw new NativeProcessError(
      `the native process (pid ${native.pid}) sent a loaded report that breaks the protocol (bytes: a whole number, sha256: 64 hex digits; see docs/native-protocol.md): ${JSON.stringify(loaded).slice(0, 160)}`,
    );
  }
  // Either hex case is the same digest (docs/native-protocol.md); the meta document holds lowercase.
  if (loaded.bytes === meta.total_length && loaded.sha256.toLowerCase() === meta.sha256.toLowerCase()) return;
  throw new IntegrityError(
    `the native process (pid ${native.pid}) reports ${loaded.bytes} bytes with sha256 ${loaded.sha256}, but model '${meta.model_id}' is ${meta.total_length} bytes with sha256 ${meta.sha256}; ` +
      `loading it again cannot cure that: run 'feeder models verify ${meta.model_id}' to check the stored model; if it is intact, the native process (deploy.command) misreads or misreports what it receives`,
  );
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

interface FailureFacts {
  native: NativeProcess;
  modelId: string;
  sent: number;
  total: number;
  timeout: AbortSignal;
  timeoutMs: number;
  stalledAt: StallPoint | null;
}

/** Says why a deploy failed in the terms an operator needs: the process's exit and last errors, the stall, or the timeout. */
async function explainFailure(error: unknown, facts: FailureFacts): Promise<FeederError> {
  const progress = `after ${facts.sent} of ${facts.total} model bytes were sent`;
  if (facts.stalledAt) return stalledError({ ...facts, stalledAt: facts.stalledAt, cause: error });
  if (facts.timeout.aborted) {
    return new TimeoutError(
      `deploying model '${facts.modelId}' did not finish within ${facts.timeoutMs / 1000} s (${progress}); the native process (pid ${facts.native.pid}) ${facts.native.describeStop()}`,
      { cause: error },
    );
  }
  if (error instanceof FeederError && !(error instanceof AbortedError)) return error;
  if (error instanceof StdinClosedError) {
    await facts.native.exited;
    return facts.native.failureOf(`while receiving model '${facts.modelId}' (${progress})`);
  }
  if ((error as Error)?.name === 'AbortError' || error instanceof AbortedError) {
    return new AbortedError(
      `deploying model '${facts.modelId}' was cancelled (${progress}); the native process ${facts.native.describeStop()}`,
      { cause: error },
    );
  }
  return error instanceof FeederError
    ? error
    : new NativeProcessError(`deploying model '${facts.modelId}' failed: ${(error as Error).message}`, { cause: error });
}

function mibPerSecond(bytes: number, ms: number): number {
  return Math.round((bytes / 1024 ** 2 / (ms / 1000)) * 10) / 10;
}
