import { afterAll, beforeAll } from 'vitest';
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/config/paths.js';
import { holdLock, startedMark, type Release } from './es-instances.js';

/**
 * A real cluster of three Elasticsearch nodes on this machine, started with the project's script
 * (`scripts/elasticsearch.sh start --nodes 3`), for the tests that need more than one node: losing
 * a node, data on replicas, several daemons on one cluster. Its HTTP ports are 9260-9262 (away from
 * the 9250/9251 test nodes), from FEEDER_TEST_CLUSTER_PORT when set; FEEDER_ES_VERSION and
 * FEEDER_ES_HEAP apply as for the test nodes; FEEDER_TEST_CLUSTER_NODES makes it another number of
 * nodes. A running cluster is reused, not restarted; one a run started is stopped when the run ends
 * (test/support/es-instances.ts), unless FEEDER_TEST_KEEP_ES=1 keeps it for the next run (it takes
 * minutes to form on a busy machine).
 */
export interface TestCluster {
  /** Each node's URL, node 1 first. */
  urls: string[];
  /** The URLs comma-separated, as ES_URL / elasticsearch.url takes them. */
  url: string;
  /** The name of node `i` (1-based) as `_cat/nodes` shows it. */
  nodeName(i: number): string;
  /**
   * Stops node `i` (1-based): SIGKILL by default (a node lost), SIGTERM for a shutdown. Until
   * `startNode`, no other test file loses a node (they wait): two nodes of three lost at once would
   * lose shards that have one replica.
   */
  killNode(i: number, signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  /** Starts node `i` again (and any other that is missing); returns once every node is in and the cluster is green. */
  startNode(i: number): Promise<void>;
}

export const CLUSTER_NAME = process.env.FEEDER_TEST_CLUSTER_NAME ?? 'fleet';
const PORT = Number(process.env.FEEDER_TEST_CLUSTER_PORT ?? 9260);
const NODES = Number(process.env.FEEDER_TEST_CLUSTER_NODES ?? 3);
const SCRIPT = join(packageRoot(), 'scripts', 'elasticsearch.sh');
// Test files run in parallel processes: one of them starts the cluster while the others wait.
const LOCK = join(tmpdir(), `feeder-test-cluster-${CLUSTER_NAME}.lock`);
// Held from killNode to startNode, across test files.
const NODE_LOSS_LOCK = join(tmpdir(), `feeder-test-cluster-${CLUSTER_NAME}-node-loss.lock`);
let nodeLoss: Release | undefined;

async function takeNodeLossLock(): Promise<void> {
  nodeLoss ??= await holdLock(NODE_LOSS_LOCK);
}

async function releaseNodeLossLock(): Promise<void> {
  const release = nodeLoss;
  nodeLoss = undefined;
  await release?.();
}

// The files on the cluster lose nodes on purpose and time leases on it: two of them at once would
// see each other's losses. Each holds this lock from its first test to its last.
const FILE_LOCK = join(tmpdir(), `feeder-test-cluster-${CLUSTER_NAME}-file.lock`);

/**
 * For a test file on the cluster, at its top level: the cluster is this file's alone while it runs
 * (other files on it wait, however long: the timeout is the wait's, not the tests').
 */
export function useClusterAlone(): void {
  let release: Release | undefined;
  beforeAll(async () => {
    release = await holdLock(FILE_LOCK);
  }, 1_800_000);
  afterAll(async () => {
    await release?.();
  });
}

let started: Promise<TestCluster> | undefined;

export function startCluster(): Promise<TestCluster> {
  started ??= start().catch((error: unknown) => {
    started = undefined;
    throw error;
  });
  return started;
}

async function script(args: string[]): Promise<string> {
  const result = await execa('flock', [LOCK, 'bash', SCRIPT, ...args, '--name', CLUSTER_NAME], { reject: false });
  if (result.exitCode !== 0) {
    throw new Error(`scripts/elasticsearch.sh ${args.join(' ')} --name ${CLUSTER_NAME} failed (${result.exitCode}): ${result.stderr}`);
  }
  return String(result.stdout).trim().split('\n').at(-1)!;
}

async function start(): Promise<TestCluster> {
  // A running cluster (some nodes of it, even) is kept and completed; one that is not running
  // starts from empty data, so that nothing an earlier run left behind is in the way. Decided under
  // the lock, or two test files would both find it stopped and the second wipe the first's start.
  // One this run starts is marked so, for the run's end to stop it.
  const startArgs = `start --name ${CLUSTER_NAME} --nodes ${NODES} --port ${PORT}`;
  const result = await execa(
    'flock',
    [
      LOCK,
      'bash',
      '-c',
      `if bash "$0" url --name ${CLUSTER_NAME} >/dev/null 2>&1; then exec bash "$0" ${startArgs}; else : >"$1"; exec bash "$0" ${startArgs} --fresh; fi`,
      SCRIPT,
      startedMark(CLUSTER_NAME),
    ],
    { reject: false },
  );
  if (result.exitCode !== 0) throw new Error(`scripts/elasticsearch.sh ${startArgs} failed (${result.exitCode}): ${result.stderr}`);
  const url = String(result.stdout).trim().split('\n').at(-1)!;
  const urls = url.split(',');
  const cluster: TestCluster = {
    urls,
    url,
    nodeName: (i) => `feeder-${CLUSTER_NAME}-${i}`,
    async killNode(i, signal = 'SIGKILL') {
      await takeNodeLossLock();
      await script(['stop', '--node', String(i), ...(signal === 'SIGKILL' ? ['--kill'] : [])]);
    },
    async startNode(i) {
      try {
        await script(['start', '--nodes', String(NODES)]);
        await waitForGreen(urls[i - 1]!);
      } finally {
        await releaseNodeLossLock();
      }
    },
  };
  await waitForGreen(urls[0]!);
  return cluster;
}

/** Until every shard has all its copies again (a node that came back has recovered its replicas). */
async function waitForGreen(url: string): Promise<void> {
  const response = await fetch(`${url}/_cluster/health?wait_for_status=green&wait_for_nodes=${NODES}&timeout=120s`);
  const health = (await response.json()) as { status: string; number_of_nodes: number };
  if (response.status !== 200 || health.status !== 'green') {
    throw new Error(`the test cluster at ${url} did not become green with ${NODES} nodes within 120 s: ${JSON.stringify(health)}`);
  }
}

/**
 * Drops the mark of a run that died before its end while the cluster is stopped: a cluster started
 * by hand later is not the test runs' to stop. Under the start lock, so that a start under way keeps its mark.
 */
export async function forgetStaleClusterMark(): Promise<void> {
  if (!existsSync(startedMark(CLUSTER_NAME))) return;
  const check = 'bash "$0" url --name "$1" >/dev/null 2>&1 || rm -f "$2"';
  await execa('flock', [LOCK, 'bash', '-c', check, SCRIPT, CLUSTER_NAME, startedMark(CLUSTER_NAME)]);
}
