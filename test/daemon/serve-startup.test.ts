import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, inject, it } from 'vitest';
import { Es } from '../../src/es/es.js';
import { DEPLOYMENTS_INDEX } from '../../src/model/layout.js';
import { installTemplates } from '../../src/model/templates.js';
import { childrenOf, startDaemon, type RunningDaemon } from '../support/daemon.js';
import { testConfig } from '../support/es.js';

// The failure is made on the secure node: blocking reads of the plain node's .feeder-deployments
// would break every daemon test running beside this one, while no other test deploys on the secure node.
const secureEnv = () => ({
  ES_URL: inject('esSecureUrl'),
  ES_USERNAME: 'elastic',
  ES_PASSWORD: inject('esSecurePassword'),
  ES_CA_CERTS: inject('esSecureCa'),
});

function secureEs(): Es {
  return new Es({
    ...testConfig().elasticsearch,
    url: inject('esSecureUrl'),
    username: 'elastic',
    password: inject('esSecurePassword'),
    caCerts: inject('esSecureCa'),
  });
}

async function blockReads(es: Es, blocked: boolean): Promise<void> {
  await es.client.indices.putSettings({ index: DEPLOYMENTS_INDEX, settings: { 'index.blocks.read': blocked ? true : null } });
}

describe('feeder serve failing during start-up', () => {
  it('exits 1 with the reason when restoring the deployments fails after the API opened, leaving nothing listening', async () => {
    const es = secureEs();
    await installTemplates(es);
    await es.client.indices.create({ index: DEPLOYMENTS_INDEX }, { ignore: [400] });
    await blockReads(es, true);
    let daemon: RunningDaemon | undefined;
    try {
      daemon = await startDaemon({ env: secureEnv() });
      const pid = daemon.child.pid!;
      const exited = await Promise.race([daemon.child, sleep(8000).then(() => null)]);
      expect(exited, `feeder serve was still running 8 s after its start-up failed; output:\n${daemon.output()}`).not.toBeNull();
      expect(exited!.exitCode).toBe(1);
      expect(daemon.output()).toMatch(/feeder: .*while reading the desired deployments: cluster_block_exception.*\(FEEDER_ERR_[A-Z_]+\)\n/);
      await expect(fetch(`http://${daemon.listen}/healthz`)).rejects.toThrow();
      expect(await childrenOf(pid)).toEqual([]);
    } finally {
      await blockReads(es, false);
      daemon?.child.kill('SIGKILL');
      await es.close();
    }
  });
});
