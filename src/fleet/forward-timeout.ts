import type { TimeoutError } from '../errors.js';
import { inferenceTimeoutError } from '../deployments/batcher.js';
import { parseTimeout } from '../nlp/infer-body.js';
import { requestTimeoutError } from '../nlp/infer-text.js';

/** Beyond the holder's own wait: the hop there and back, and reading the request before its wait starts. */
export const FORWARD_MARGIN_MS = 5000;

/** How long a forwarded request may take, and what a client is answered once it took longer. */
export interface ForwardTimeout {
  /** The holder's own wait, without the margin. */
  ms: number;
  error: () => TimeoutError;
}

/**
 * A forward waits as long as the holder does: an `_infer`'s own `timeout`, else `daemon.inferenceTimeoutMs`
 * (the same on every member of a fleet); a forward that outlives it answers as a local timeout does.
 */
export function forwardTimeoutOf(modelId: string, body: unknown, configuredMs: number): ForwardTimeout {
  const given = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).timeout : undefined;
  const requested = given === undefined ? null : parseTimeout(given);
  if (requested !== null) return { ms: requested, error: () => requestTimeoutError(modelId, requested) };
  return { ms: configuredMs, error: () => inferenceTimeoutError(modelId, configuredMs) };
}
