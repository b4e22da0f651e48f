import type { Es } from '../es/es.js';
import { ASSETS_INDEX, CHUNKS_INDEX_PATTERN, DAEMONS_INDEX, DEPLOYMENTS_INDEX, FLEET_INDEX, META_INDEX } from './layout.js';

// Bump when a mapping below changes, so `installTemplates` rewrites older stored templates (never newer ones).
export const TEMPLATE_VERSION = 9;

const COMMON_SETTINGS = {
  'index.hidden': true,
  'index.number_of_shards': 1,
  'index.auto_expand_replicas': '0-1',
};

/** An index template this project owns: hidden, one shard, strict mappings. */
function ownedTemplate(pattern: string, properties: Record<string, object>, settings: Record<string, unknown> = {}) {
  return {
    index_patterns: [pattern],
    priority: 500,
    version: TEMPLATE_VERSION,
    _meta: { managed_by: 'es-model-feeder' },
    template: { settings: { ...COMMON_SETTINGS, ...settings }, mappings: { dynamic: 'strict', properties } },
  };
}

const META_TEMPLATE = ownedTemplate(META_INDEX, {
  model_id: { type: 'keyword' },
  state: { type: 'keyword' },
  generation: { type: 'long' },
  chunks_index: { type: 'keyword' },
  chunk_size: { type: 'long' },
  chunk_count: { type: 'long' },
  total_length: { type: 'long' },
  sha256: { type: 'keyword' },
  encoding: { type: 'keyword' },
  description: { type: 'text' },
  tags: { type: 'keyword' },
  source: { type: 'object', enabled: false },
  created_at: { type: 'date' },
  updated_at: { type: 'date' },
  ready_at: { type: 'date' },
  with_assets: { type: 'boolean', index: false },
  // A replacement being uploaded, and generations waiting to be removed: read, never searched.
  pending: { type: 'object', enabled: false },
  garbage: { type: 'object', enabled: false },
  // The task, labels and tokenizer of the current generation, and its assets' digests: read, never searched.
  nlp: { type: 'object', enabled: false },
});

const ASSETS_TEMPLATE = ownedTemplate(ASSETS_INDEX, {
  model_id: { type: 'keyword' },
  generation: { type: 'long' },
  kind: { type: 'keyword' },
  // The file's bytes as stored, base64 in _source only: its digest in the meta document is over them.
  content: { type: 'binary' },
  length: { type: 'long', index: false },
});

const CHUNKS_TEMPLATE = ownedTemplate(
  CHUNKS_INDEX_PATTERN,
  {
    model_id: { type: 'keyword' },
    generation: { type: 'long' },
    doc_num: { type: 'long' },
    // Stored in _source only: a binary field is neither indexed nor analysed.
    definition: { type: 'binary' },
    definition_length: { type: 'long', index: false },
    total_definition_length: { type: 'long', index: false },
    crc32: { type: 'long', index: false },
    eos: { type: 'boolean', index: false },
  },
  // Uploads refresh explicitly before a model is marked ready.
  { 'index.refresh_interval': '30s' },
);

const DEPLOYMENTS_TEMPLATE = ownedTemplate(DEPLOYMENTS_INDEX, {
  daemon: { type: 'keyword' },
  model_id: { type: 'keyword' },
  desired: { type: 'keyword' },
  requested_at: { type: 'date' },
  // The generations a deployment is loading or serving: garbage collection leaves them alone.
  generations: { type: 'long' },
  // What `feeder deploy --workers --threads-per-worker --max-batch-size --max-queue-delay` named, brought back on a restart.
  workers: { type: 'long' },
  threads_per_worker: { type: 'long' },
  max_batch_size: { type: 'long' },
  max_queue_delay_ms: { type: 'long' },
});

const DAEMONS_TEMPLATE = ownedTemplate(DAEMONS_INDEX, {
  daemon: { type: 'keyword' },
  listen: { type: 'keyword' },
  advertise: { type: 'keyword' },
  tls: { type: 'boolean' },
  pid: { type: 'long' },
  host: { type: 'keyword' },
  boot_id: { type: 'keyword' },
  pid_namespace: { type: 'keyword' },
  started_at: { type: 'date' },
  renewed_at: { type: 'date' },
  expires_at: { type: 'date' },
  // A fleet member's fleet, capacity and the allocations it holds (read, never searched).
  fleet: { type: 'keyword' },
  max_models: { type: 'long' },
  memory_budget_bytes: { type: 'long' },
  serving: { type: 'object', enabled: false },
});

const FLEET_TEMPLATE = ownedTemplate(FLEET_INDEX, {
  kind: { type: 'keyword' },
  fleet: { type: 'keyword' },
  model_id: { type: 'keyword' },
  allocations: { type: 'long' },
  allocation: { type: 'long' },
  revision: { type: 'long' },
  requested_at: { type: 'date' },
  workers: { type: 'long' },
  threads_per_worker: { type: 'long' },
  max_batch_size: { type: 'long' },
  max_queue_delay_ms: { type: 'long' },
  daemon: { type: 'keyword' },
  state: { type: 'keyword' },
  phase: { type: 'keyword' },
  reason: { type: 'text' },
  generation: { type: 'long' },
  pid: { type: 'long' },
  failures: { type: 'object', enabled: false },
  claimed_at: { type: 'date' },
  updated_at: { type: 'date' },
  moving: { type: 'object', enabled: false },
  moves: { type: 'object', enabled: false },
});

/** An index template this project owns, under the name it is stored as. */
export interface OwnedTemplate {
  name: string;
  body: ReturnType<typeof ownedTemplate>;
}

export const OWNED_TEMPLATES: readonly OwnedTemplate[] = [
  { name: 'feeder-models', body: META_TEMPLATE },
  { name: 'feeder-chunks', body: CHUNKS_TEMPLATE },
  { name: 'feeder-model-assets', body: ASSETS_TEMPLATE },
  { name: 'feeder-deployments', body: DEPLOYMENTS_TEMPLATE },
  { name: 'feeder-daemons', body: DAEMONS_TEMPLATE },
  { name: 'feeder-fleet', body: FLEET_TEMPLATE },
];

/** Installs or updates the index templates this project owns, and brings their indices' mappings up to date. */
export async function installTemplates(es: Es): Promise<void> {
  await Promise.all(OWNED_TEMPLATES.map((template) => installTemplate(es, template)));
}

/**
 * Puts the template when the stored one is older or missing; one stored by a newer feeder is left
 * alone, its indices too. A template only applies when an index is created, so the fields it gained
 * are also added to the indices that exist: under `dynamic: strict` an index made by the older
 * template would refuse every document carrying them.
 */
export async function installTemplate(es: Es, template: OwnedTemplate): Promise<void> {
  const stored = await storedVersion(es, template.name);
  if (stored !== null && stored > template.body.version) return;
  if (stored !== template.body.version) {
    await es.call(`installing index template ${template.name}`, (c) =>
      c.indices.putIndexTemplate({ name: template.name, ...template.body }),
    );
  }
  await addMissingFields(es, template);
}

/** The stored template's version (0 when it has none), or null when there is no such template. */
async function storedVersion(es: Es, name: string): Promise<number | null> {
  const found = await es.call(`reading index template ${name}`, (c) => c.indices.getIndexTemplate({ name }, { ignore: [404] }));
  const stored = found.index_templates?.[0];
  return stored ? (stored.index_template.version ?? 0) : null;
}

/**
 * Checked every time, not only on a version change: whoever upgraded the template may not have
 * upgraded its indices. Only the missing fields are put, so an index that maps one of ours
 * differently (made by hand under the pattern) is not refused for it.
 */
async function addMissingFields(es: Es, { name, body }: OwnedTemplate): Promise<void> {
  const properties: Record<string, object> = body.template.mappings.properties;
  const indices = await es.call(`reading the mappings of ${body.index_patterns.join(', ')}`, (c) =>
    c.indices.getMapping({
      index: body.index_patterns,
      expand_wildcards: ['open', 'hidden'],
      ignore_unavailable: true,
      allow_no_indices: true,
    }),
  );
  for (const [index, { mappings }] of Object.entries(indices)) {
    const missing = Object.entries(properties).filter(([field]) => !(field in (mappings.properties ?? {})));
    if (missing.length === 0) continue;
    await es.call(`adding the fields ${missing.map(([field]) => field).join(', ')} of index template ${name} to ${index}`, (c) =>
      c.indices.putMapping({ index, expand_wildcards: ['open', 'hidden'], properties: Object.fromEntries(missing) }),
    );
  }
}
