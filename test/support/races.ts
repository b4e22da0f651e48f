import { setTimeout as sleep } from 'node:timers/promises';
import type { DeploymentStatus } from '../../src/api/wire-types.js';
import { DEPLOYMENTS_INDEX } from '../../src/model/layout.js';
import { childrenOf, type RunningDaemon } from './daemon.js';
import { spawnedPids } from './deploy.js';
import { newEs } from './es.js';
import { pollUntil } from './wait.js';
import { isAlive, killQuietly } from './processes.js';

export interface Answer {
  status: number;
  body: any;
  headers: Record<string, string>;
}

/**
 * One request to a daemon's control API on loopback. A network error (refused, reset) rejects; a
 * request with no answer within `timeoutMs` rejects with a `HungRequest`, so a hang is never mistaken
 * for a clean failure.
 */
export async function call(listen: string, method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<Answer> {
  const init: RequestInit = {
    method,
    signal: AbortSignal.timeout(timeoutMs),
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  };
  try {
    const response = await fetch(`http://${listen}${path}`, init);
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null, headers: Object.fromEntries(response.headers) };
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') throw new HungRequest(`${method} ${path} got no answer within ${timeoutMs} ms`);
    throw error;
  }
}

export class HungRequest extends Error {}

export const deployPath = (modelId: string) => `/deployments/${encodeURIComponent(modelId)}`;

export async function deploymentList(listen: string): Promise<DeploymentStatus[]> {
  const answer = await call(listen, 'GET', '/deployments', undefined, 10_000);
  if (answer.status !== 200) throw new Error(`GET /deployments answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return (answer.body as { deployments: DeploymentStatus[] }).deployments;
}

/** The models `daemon` should be running according to `.feeder-deployments`, read after a refresh. */
export async function desiredModels(daemon: string, esUrl?: string): Promise<string[]> {
  const { client } = newEs(esUrl);
  await client.indices.refresh({ index: DEPLOYMENTS_INDEX, ignore_unavailable: true });
  const found = await client.search<{ model_id: string }>({
    index: DEPLOYMENTS_INDEX,
    size: 10_000,
    query: { term: { daemon } },
    ignore_unavailable: true,
    allow_no_indices: true,
  });
  return found.hits.hits.map((h) => h._source!.model_id).sort();
}

/** Removes a test daemon's desired-state documents, so nothing outlives the test that wrote them. */
export async function forgetDaemon(daemon: string, esUrl?: string): Promise<void> {
  const { client } = newEs(esUrl);
  // By id: the test node's distribution has no delete-by-query.
  const models = await desiredModels(daemon, esUrl);
  if (models.length === 0) return;
  await client.bulk({ refresh: true, operations: models.map((m) => ({ delete: { _index: DEPLOYMENTS_INDEX, _id: `${daemon}/${m}` } })) });
}

/**
 * Adds the `generations` field to a `.feeder-deployments` index created before the template had it
 * (the shared test node may hold one from an older run): templates shape new indices only, and a
 * strict mapping refuses every desired-state write that carries the field.
 */
export async function ensureDeploymentsMapping(): Promise<void> {
  const { client } = newEs();
  if (!(await client.indices.exists({ index: DEPLOYMENTS_INDEX, expand_wildcards: 'all' }))) return;
  await client.indices.putMapping({ index: DEPLOYMENTS_INDEX, expand_wildcards: 'all', properties: { generations: { type: 'long' } } });
}

/** Checked by command line too, so a pid reused by another process is not counted. */
const isLiveStub = (pid: number): boolean => isAlive(pid, 'native-stub');

/** The daemon's native children now alive. */
export async function liveChildren(daemon: RunningDaemon): Promise<number[]> {
  const children = await childrenOf(daemon.child.pid!);
  return children.filter(isLiveStub).sort((a, b) => a - b);
}

/** Every native process this daemon said it spawned and that is still alive, its child or not any more. */
export async function liveSpawned(daemon: RunningDaemon): Promise<number[]> {
  return spawnedPids(daemon.logs).filter(isLiveStub);
}

/** Polls until no deployment is starting or stopping; the list then, or the last one seen. */
export async function settle(daemon: RunningDaemon, timeoutMs = 30_000): Promise<{ settled: boolean; list: DeploymentStatus[] }> {
  let list: DeploymentStatus[] = [];
  const settled = await pollUntil(async () => isSettled((list = await deploymentList(daemon.listen))), { timeoutMs });
  return { settled: settled !== undefined, list };
}

const isSettled = (list: DeploymentStatus[]): boolean => !list.some((d) => d.state === 'starting' || d.state === 'stopping');

export interface Agreement {
  problems: string[];
  list: DeploymentStatus[];
  children: number[];
  desired: string[];
}

/**
 * Compares the daemon's map, its live native children and its desired-state documents: every child
 * is the pid of exactly one deployment, every started deployment's process is alive, and the models
 * in the map that are not stopped are exactly those the documents name.
 */
export async function checkAgreement(daemon: RunningDaemon): Promise<Agreement> {
  const list = await deploymentList(daemon.listen);
  const [children, desired, leaked] = await Promise.all([liveChildren(daemon), desiredModels(daemon.name), liveSpawned(daemon)]);
  const problems: string[] = [];
  for (const pid of children) {
    const owners = list.filter((d) => d.pid === pid).map((d) => d.model_id);
    if (owners.length !== 1)
      problems.push(
        `native process ${pid} is a child of the daemon but belongs to ${owners.length === 0 ? 'no deployment' : `${owners.length} deployments (${owners.join(', ')})`}`,
      );
  }
  for (const pid of leaked.filter((p) => !children.includes(p)))
    problems.push(`native process ${pid}, spawned by the daemon, is alive but no longer its child`);
  for (const d of list.filter((s) => s.state === 'started')) {
    if (d.pid === null || !children.includes(d.pid))
      problems.push(`deployment '${d.model_id}' is started with pid ${d.pid}, which is not a live child of the daemon`);
  }
  const mapped = list
    .filter((d) => d.state !== 'stopped')
    .map((d) => d.model_id)
    .sort();
  if (JSON.stringify(mapped) !== JSON.stringify(desired))
    problems.push(`the map has [${mapped.join(', ')}] (not stopped) but the desired documents name [${desired.join(', ')}]`);
  return { problems, list, children, desired };
}

/**
 * Gives the daemon `timeoutMs` to settle (nothing starting or stopping) and agree with itself; the
 * last comparison. Settling is checked again each time, since a restore adds deployments as it goes.
 */
export async function agreementAfterSettling(daemon: RunningDaemon, timeoutMs = 30_000): Promise<Agreement & { settled: boolean }> {
  // Assigned by the first check, which pollUntil always makes.
  let last!: Agreement & { settled: boolean };
  const agreed = async () => {
    const agreement = await checkAgreement(daemon);
    last = { ...agreement, settled: isSettled(agreement.list) };
    return last.settled && last.problems.length === 0;
  };
  await pollUntil(agreed, { timeoutMs });
  return last;
}

export interface Stopped {
  /** Whether the daemon exited within the allowed time (it is SIGKILLed otherwise). */
  exited: boolean;
  exitCode: number | undefined;
  /** The signal that ended it, when one did. */
  signal: string | undefined;
  ms: number;
  /** Native processes it spawned still alive once it exited, or when it was given up on; killed now. */
  leftRunning: number[];
}

/**
 * SIGTERM, and up to `withinMs` for the daemon to exit. One that does not is SIGKILLed, and every
 * native process it spawned that is still alive is killed too, so a failing test leaves nothing behind.
 */
export async function stopWithin(daemon: RunningDaemon, withinMs = 10_000): Promise<Stopped> {
  const started = performance.now();
  // Sent directly: execa's own kill() would add a SIGKILL of its own after 5 s, hiding a daemon that hangs.
  process.kill(daemon.child.pid!, 'SIGTERM');
  const result = await Promise.race([daemon.child, sleep(withinMs).then(() => null)]);
  const ms = performance.now() - started;
  // Counted before any SIGKILL: once the daemon is gone its children see stdin close and exit by themselves.
  const leftRunning = await liveSpawned(daemon);
  if (!result) {
    daemon.child.kill('SIGKILL');
    await daemon.child;
  }
  for (const pid of leftRunning) killQuietly(pid);
  return { exited: result !== null, exitCode: result?.exitCode, signal: result?.signal, ms, leftRunning };
}
