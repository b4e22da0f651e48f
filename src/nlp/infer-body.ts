import { InvalidArgumentError } from '../errors.js';

/** Elastic's `_infer` body: the docs, and the task's overrides. */
export interface InferBody {
  docs: Array<Record<string, unknown>>;
  /** `inference_config`'s one key (the task named) and its overrides, if given. */
  override: { task: string; options: Record<string, unknown> } | null;
  /** `timeout`, if given. */
  timeoutMs: number | null;
}

const MAX_DOCS = 1024;
const UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };

/** Reads `{"docs":[…], "inference_config":{<task>:{…}}, "timeout":"30s"}`, refusing what Elastic would. */
export function parseInferBody(body: Record<string, unknown>): InferBody {
  const { docs, inference_config: config, timeout, ...rest } = body;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) {
    throw new InvalidArgumentError(
      `_infer takes docs, inference_config and timeout; ${unknown.map((k) => JSON.stringify(k)).join(', ')} is not one of them (raw token ids go to /infer)`,
    );
  }
  return { docs: parseDocs(docs), override: parseOverride(config), timeoutMs: parseTimeout(timeout) };
}

function parseDocs(docs: unknown): Array<Record<string, unknown>> {
  if (!Array.isArray(docs) || docs.length === 0) {
    throw new InvalidArgumentError(
      `docs must hold 1 to ${MAX_DOCS} documents, e.g. {"docs": [{"text_field": "some text"}]}; got ${describe(docs)}`,
    );
  }
  if (docs.length > MAX_DOCS)
    throw new InvalidArgumentError(`docs holds ${docs.length} documents, over ${MAX_DOCS}: send them in several requests`);
  return docs.map((doc: unknown, i) => {
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
      throw new InvalidArgumentError(`docs[${i}] must be an object with the text in the model's input field; got ${describe(doc)}`);
    }
    return doc as Record<string, unknown>;
  });
}

function parseOverride(config: unknown): InferBody['override'] {
  if (config === undefined) return null;
  const entries = typeof config === 'object' && config !== null && !Array.isArray(config) ? Object.entries(config) : [];
  const [entry] = entries;
  if (entries.length !== 1 || typeof entry![1] !== 'object' || entry![1] === null || Array.isArray(entry![1])) {
    throw new InvalidArgumentError(
      `inference_config must name one task with its options, e.g. {"text_classification": {"num_top_classes": 2}}; got ${describe(config)}`,
    );
  }
  return { task: entry![0], options: entry![1] as Record<string, unknown> };
}

/** `timeout` of an `_infer` body, in ms; null when not given. */
export function parseTimeout(timeout: unknown): number | null {
  if (timeout === undefined) return null;
  const match = typeof timeout === 'string' ? /^(\d+)(ms|s|m)$/.exec(timeout) : null;
  if (!match || Number(match[1]) === 0) {
    throw new InvalidArgumentError(`timeout must be a time such as "30s", "500ms" or "2m"; got ${describe(timeout)}`);
  }
  return Number(match[1]) * UNITS_MS[match[2]!]!;
}

export function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}
