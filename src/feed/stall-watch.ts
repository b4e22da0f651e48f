import { StalledError } from '../errors.js';
import type { NativeProcess } from '../native/native-process.js';
import { chunkDocId } from '../model/layout.js';
import type { ModelMeta } from '../model/meta.js';

/** Where a load waits, for the message should it stall there, and what to do about it. */
export interface StallPoint {
  where: string;
  fix: string;
}

/**
 * Watches a model load for a stall: no model byte moved for `stallTimeoutMs`. Each step of the
 * load says what it now waits for, which starts the clock again; a step that waits too long
 * aborts `signal` and is remembered as where the load stalled. Progress is seen per chunk, so the
 * timeout must be longer than one chunk takes to move.
 */
export class StallWatch {
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout;
  // Described only should the load stall there: the chunk stream passes here once per chunk.
  #waitingAt: () => StallPoint = () => ({ where: 'the load had not started', fix: 'Try again' });
  #stalledAt: StallPoint | null = null;

  constructor(readonly stallTimeoutMs: number) {
    this.#timer = setTimeout(() => this.#fire(), stallTimeoutMs);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Where the load was waiting when it stalled; null while it has not. */
  get stalledAt(): StallPoint | null {
    return this.#stalledAt;
  }

  /** The load moved on and now waits at `point`. */
  waitFor(point: () => StallPoint): void {
    this.#waitingAt = point;
    this.#timer.refresh();
  }

  /** No more model bytes to move: what follows is governed by other timeouts. */
  stop(): void {
    clearTimeout(this.#timer);
  }

  #fire(): void {
    this.#stalledAt = this.#waitingAt();
    this.#controller.abort(new StalledError(`the load stalled: ${this.#stalledAt.where}`));
  }
}

export function waitingForElasticsearch(meta: ModelMeta, docNum: number, stallTimeoutMs: number): StallPoint {
  const id = chunkDocId(meta.model_id, meta.generation, docNum);
  return {
    where: `waiting for Elasticsearch to send chunk ${docNum} of model '${meta.model_id}' (document '${id}' in ${meta.chunks_index}), nothing came for ${stallTimeoutMs / 1000} s`,
    fix: "Check the cluster's health and the network to it",
  };
}

export function waitingForNative(native: NativeProcess, what: string, stallTimeoutMs: number): StallPoint {
  return {
    where: `the native process (pid ${native.pid}) is not reading its stdin: the write of ${what} has waited ${stallTimeoutMs / 1000} s`,
    fix: "The native process's log lines say why it stopped reading",
  };
}

export interface StallFacts {
  modelId: string;
  stalledAt: StallPoint;
  sent: number;
  total: number;
  native: NativeProcess;
  cause: unknown;
}

/** Where the load stalled, how far it had come, and what to do about it. */
export function stalledError(facts: StallFacts): StalledError {
  const { where, fix } = facts.stalledAt;
  return new StalledError(
    `deploying model '${facts.modelId}' stalled: ${where}; ${facts.sent} of ${facts.total} model bytes had reached the native process, which ${facts.native.describeStop()}. ` +
      `${fix}, or raise deploy.stallTimeoutMs for a load this slow`,
    { cause: facts.cause },
  );
}
