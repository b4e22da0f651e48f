import { execa } from 'execa';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/config/paths.js';
import { esUrl, uniqueId } from './es.js';
import { forgetInstance } from './es-instances.js';

const FIXTURE_CONFIG = 'test/fixtures/es-instances/vitest.config.ts';

/** A port no one listens on now, for the nested run's node. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function script(args: string[]) {
  return execa('bash', ['scripts/elasticsearch.sh', ...args], { cwd: packageRoot(), reject: false });
}

async function isRunning(name: string): Promise<boolean> {
  return (await script(['url', '--name', name])).exitCode === 0;
}

/** A whole `npx vitest run`, global setup and teardown included, of a file that starts a 1-node test cluster `name`. */
async function runStartingCluster(name: string, port: number, keep: boolean): Promise<void> {
  // Not this run's own worker variables: the nested run is a run of its own.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('VITEST')));
  const run = await execa('npx', ['vitest', 'run', '--config', FIXTURE_CONFIG], {
    cwd: packageRoot(),
    extendEnv: false,
    env: {
      ...env,
      ES_URL: esUrl(),
      FEEDER_TEST_CLUSTER_NAME: name,
      FEEDER_TEST_CLUSTER_PORT: String(port),
      FEEDER_TEST_CLUSTER_NODES: '1',
      FEEDER_TEST_KEEP_ES: keep ? '1' : '',
    },
    reject: false,
    all: true,
  });
  expect(run.exitCode, run.all).toBe(0);
}

describe('the Elasticsearch a test run starts', () => {
  it('is stopped as the run ends; FEEDER_TEST_KEEP_ES=1 keeps it, and the runs after leave it running', async () => {
    const name = uniqueId('lifetime');
    const port = await freePort();
    try {
      await runStartingCluster(name, port, false);
      expect(await isRunning(name), 'stopped as the run that started it ended').toBe(false);
      await runStartingCluster(name, port, true);
      expect(await isRunning(name), 'kept by FEEDER_TEST_KEEP_ES=1').toBe(true);
      await runStartingCluster(name, port, false);
      expect(await isRunning(name), 'running before the run began, so left running').toBe(true);
    } finally {
      await script(['remove', '--name', name]);
      await forgetInstance(name);
    }
  }, 900_000);
});
