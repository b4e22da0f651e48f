import type { Es } from '../es/es.js';
import { hasStatus } from '../es/translate.js';
import { DEPLOYMENTS_INDEX } from '../store/layout.js';

interface DesiredDoc {
  daemon: string;
  model_id: string;
  desired: 'started';
  requested_at: string;
}

const docId = (daemon: string, modelId: string) => `${daemon}/${modelId}`;

/** Records that `daemon` should run `modelId`, so a restarted daemon brings it back. */
export async function recordDeployed(es: Es, daemon: string, modelId: string): Promise<void> {
  const document: DesiredDoc = { daemon, model_id: modelId, desired: 'started', requested_at: new Date().toISOString() };
  await es.call(`recording the deployment of '${modelId}'`, (c) => c.index({ index: DEPLOYMENTS_INDEX, id: docId(daemon, modelId), document, refresh: true }));
}

export async function recordUndeployed(es: Es, daemon: string, modelId: string): Promise<void> {
  try {
    await es.call(`recording the undeployment of '${modelId}'`, (c) => c.delete({ index: DEPLOYMENTS_INDEX, id: docId(daemon, modelId), refresh: true }));
  } catch (error) {
    if (!hasStatus(error, 404)) throw error;
  }
}

export async function desiredDeployments(es: Es, daemon: string): Promise<string[]> {
  return searchModels(es, { term: { daemon } }).then((docs) => docs.map((d) => d.model_id));
}

/** The daemons that should be running `modelId`. */
export async function daemonsRunning(es: Es, modelId: string): Promise<string[]> {
  return searchModels(es, { term: { model_id: modelId } }).then((docs) => docs.map((d) => d.daemon));
}

async function searchModels(es: Es, query: object): Promise<DesiredDoc[]> {
  const result = await es.call('reading the desired deployments', (c) =>
    c.search<DesiredDoc>({ index: DEPLOYMENTS_INDEX, size: 10_000, query, ignore_unavailable: true, allow_no_indices: true }),
  );
  return result.hits.hits.map((h) => h._source!);
}
