import { setTimeout as sleep } from 'node:timers/promises';
import type { FeedResult } from '../feed/feed-model.js';
import { logEvent, type Logger } from '../log/logger.js';
import type { NativeProcess } from '../native/native-process.js';
import type { ModelMeta } from '../model/meta.js';

/** What a rollover needs of the deployment it replaces the process of. */
export interface RolloverHost {
  modelId: string;
  logger: Logger;
  /** Pins `meta`'s generation and loads it into a new process (through the load limiter). */
  load: (meta: ModelMeta, signal: AbortSignal) => Promise<FeedResult>;
  /** Switches inference to the candidate at once; returns what served before. */
  install: (candidate: FeedResult) => FeedResult | null;
  /** Requests bound for `native` that wait in the daemon's queue, not yet sent to it. */
  queuedFor: (native: NativeProcess) => number;
  /** Keeps `native` among the deployment's processes (so a stop reaches it) while `retire` runs. */
  retire: (native: NativeProcess, retire: () => Promise<void>) => Promise<void>;
  fail: (reason: string) => void;
}

/** How long the replaced process may take to answer what it was sent before the switch. */
const DRAIN_MS = 30_000;

/**
 * Zero-downtime replacement of a deployment's process: the new generation loads beside the one
 * that serves, and only its verified `loaded` report switches inference over; the old process then
 * answers what it already holds and is stopped. If the new one fails, the old one keeps serving.
 */
export async function rollOver(host: RolloverHost, meta: ModelMeta, signal: AbortSignal): Promise<void> {
  const started = performance.now();
  const fields = { modelId: host.modelId, generation: meta.generation };
  logEvent(
    host.logger,
    { action: 'rollover', outcome: 'unknown', ...fields },
    `rolling model '${host.modelId}' over to generation ${meta.generation}`,
  );
  let candidate: FeedResult;
  try {
    candidate = await host.load(meta, signal);
  } catch (error) {
    if (signal.aborted) return;
    const reason = (error as Error).message;
    logEvent(
      host.logger,
      { action: 'rollover', outcome: 'failure', ...fields, durationMs: performance.now() - started, error: reason },
      `rollover of model '${host.modelId}' to generation ${meta.generation} failed; the process serving keeps serving: ${reason}`,
    );
    return host.fail(reason);
  }
  if (signal.aborted) return void (await candidate.native.stop());
  const old = host.install(candidate);
  logEvent(
    host.logger,
    { action: 'rollover', outcome: 'success', ...fields, pid: candidate.native.pid, durationMs: performance.now() - started },
    `model '${host.modelId}' now serves generation ${meta.generation} from native process ${candidate.native.pid}`,
  );
  if (old) await host.retire(old.native, () => drainAndStop(old.native, () => host.queuedFor(old.native)));
}

async function drainAndStop(native: NativeProcess, queued: () => number): Promise<void> {
  const deadline = performance.now() + DRAIN_MS;
  while (native.pendingRequests + queued() > 0 && !native.hasExited && performance.now() < deadline) await sleep(5);
  await native.stop();
}
