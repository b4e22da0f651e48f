import { execa } from 'execa';
import type { TestProject } from 'vitest/node';
import { prepareTorch, type TorchSetup } from '../../bench/support/torch-models.js';
import { CLUSTER_NAME, forgetStaleClusterMark } from './cluster.js';
import { markStarted, useInstances } from './es-instances.js';

declare module 'vitest' {
  export interface ProvidedContext {
    esUrl: string;
    esSecureUrl: string;
    esSecurePassword: string;
    /** The CA certificate that signed the secure node's HTTPS certificate. */
    esSecureCa: string;
    /** native-torch, the Python with torch, and the fixture models (test/support/torch.ts). */
    torch: TorchSetup;
  }
}

const SECURE_PASSWORD = 'feeder-test-password';

/**
 * Starts the real Elasticsearch nodes the suite needs, with the project's own script: a plain one
 * (unless ES_URL names a cluster to use) and one with security and HTTPS on, for the credential
 * and TLS tests. Meanwhile installs torch and builds native-torch (both cached after the first
 * time) and makes the TorchScript fixture models, so the native-torch tests never lack them. As the
 * run ends, the nodes it started (the 3-node cluster too, which a test file starts when it needs it)
 * are stopped, unless another run still uses them or FEEDER_TEST_KEEP_ES=1 (test/support/es-instances.ts).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const plain = process.env.ES_URL === undefined ? ['test'] : [];
  const stopStarted = await useInstances([...plain, 'test-secure', CLUSTER_NAME]);
  const startNode = async (name: string, port: number, extra: string[] = []) => {
    // A node running already (a developer's, or a second suite run's beside this one) is shared;
    // `start` answers with its URL, or refuses one of another version or security mode.
    const running = await execa('bash', ['scripts/elasticsearch.sh', 'url', '--name', name], { reject: false, stderr: 'ignore' });
    if (running.exitCode !== 0) await markStarted(name);
    const { stdout } = await execa(
      'bash',
      ['scripts/elasticsearch.sh', 'start', '--name', name, '--port', String(port), '--fresh', ...extra],
      {
        stderr: 'inherit',
      },
    );
    return stdout.trim().split('\n').at(-1)!;
  };
  try {
    await forgetStaleClusterMark();
    const [esUrl, esSecureUrl, torch] = await Promise.all([
      process.env.ES_URL ?? startNode('test', Number(process.env.FEEDER_TEST_ES_PORT ?? 9250)),
      startNode('test-secure', Number(process.env.FEEDER_TEST_ES_SECURE_PORT ?? 9251), ['--security', SECURE_PASSWORD, '--tls']),
      prepareTorch(),
    ]);
    project.provide('torch', torch);
    const { stdout: ca } = await execa('bash', ['scripts/elasticsearch.sh', 'ca', '--name', 'test-secure']);
    project.provide('esUrl', esUrl);
    project.provide('esSecureUrl', esSecureUrl);
    project.provide('esSecurePassword', SECURE_PASSWORD);
    project.provide('esSecureCa', ca.trim());
  } catch (error) {
    await stopStarted();
    throw error;
  }
  return stopStarted;
}
