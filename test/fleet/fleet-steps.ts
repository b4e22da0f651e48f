import type { FleetModelStatus } from '../../src/api/wire-types.js';
import { storedModel } from '../support/deploy.js';
import type { FleetScene, TestFleet } from '../support/fleet.js';
import { call, deployPath } from '../support/races.js';

// What the fleet test files do again and again: deploy through a daemon, store a model of random
// bytes on the fleet's Elasticsearch, and read a status.

/** The answer the stub gives for `tokens` of a model of `bytes`. */
export const valuesFor = (bytes: Buffer, tokens: number[]) => [tokens.map((t) => [bytes[t % bytes.length]! / 255])];
export const holders = (s: FleetModelStatus) => s.items.map((i) => i.daemon);
export const allStarted = (s: FleetModelStatus) => s.items.every((i) => i.state === 'started' && i.daemon_live);

/** Deploys `allocations` of a model through `via`, waiting until started; the scene's watcher learns what is desired. */
export async function deployIn(
  scene: FleetScene,
  f: TestFleet,
  modelId: string,
  allocations: number,
  via = f.members[0]!,
  timeoutMs = 30_000,
) {
  scene.desired.set(modelId, allocations);
  return call(via.listen, 'PUT', deployPath(modelId), { allocations, wait_for: 'started', timeout_ms: timeoutMs }, timeoutMs + 15_000);
}

/** A model of random bytes, uploaded to the fleet's Elasticsearch. */
export const storedOn = (f: TestFleet, size: number, chunkSize?: number) => storedModel(size, chunkSize, 'base64', f.esUrl);
