import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { DAEMONS_INDEX } from '../../src/store/layout.js';
import { feeder } from '../support/cli.js';
import { freePort, startDaemon } from '../support/daemon.js';
import { newEs } from '../support/es.js';

// Short enough that a killed daemon's lease runs out within the test.
const SHORT_LEASE = { daemon: { heartbeatMs: 300, leaseMs: 1500 } };

describe('the lease on a daemon name', () => {
  it('refuses a second feeder serve under the same name while the first runs, naming it and the fix; a clean stop frees the name', async () => {
    const es = newEs();
    const first = await startDaemon({ config: SHORT_LEASE });
    try {
      const second = await feeder(['serve'], { env: { FEEDER_DAEMON_NAME: first.name, FEEDER_LISTEN: `127.0.0.1:${await freePort()}` }, timeout: 20_000 });
      expect(second.exitCode, second.stdout).toBe(1);
      expect(second.stderr).toContain(`daemon name '${first.name}' is taken`);
      expect(second.stderr).toContain(`pid ${first.child.pid} on host ${hostname()}, listening on ${first.listen}, lease renewed until `);
      expect(second.stderr).toContain('start this one under another daemon.name (FEEDER_DAEMON_NAME)');
      expect(second.stderr).toContain('(FEEDER_ERR_DAEMON_RUNNING)');
      expect((await fetch(`http://${first.listen}/healthz`)).ok).toBe(true);
    } finally {
      expect((await first.stop()).exitCode).toBe(0);
    }
    expect(await es.client.exists({ index: DAEMONS_INDEX, id: first.name })).toBe(false);
  });
});
