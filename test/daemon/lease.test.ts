import { describe, expect, it } from 'vitest';
import type { PresenceDoc } from '../../src/coordination/daemon-presence.js';
import { DAEMONS_INDEX } from '../../src/model/layout.js';
import { childrenOf, startDaemon, withDaemon } from '../support/daemon.js';
import { storedModel } from '../support/deploy.js';
import { isAlive } from '../support/processes.js';
import { forgetDaemon, stopWithin } from '../support/races.js';
import { esUrl, newEs } from '../support/es.js';
import { TcpRelay } from '../support/tcp-relay.js';
import { waitUntil } from '../support/wait.js';

const SHORT_LEASE = { daemon: { heartbeatMs: 300, leaseMs: 1500 } };

async function presenceOf(name: string): Promise<PresenceDoc | null> {
  const found = await newEs().client.get<PresenceDoc>({ index: DAEMONS_INDEX, id: name }, { ignore: [404] });
  return found.found ? found._source! : null;
}

async function waitForPresence(name: string, until: (doc: PresenceDoc | null) => boolean, timeoutMs = 5000): Promise<PresenceDoc | null> {
  let last: PresenceDoc | null = null;
  const matched = async () => ((last = await presenceOf(name)), until(last));
  await waitUntil(`the presence document of daemon '${name}' to match`, matched, { timeoutMs, lastSeen: () => JSON.stringify(last) });
  return last;
}

describe('the lease a running daemon holds on its name', () => {
  it('is written again by the next renewal when its document was removed by hand', async () => {
    await withDaemon({ config: SHORT_LEASE }, async (daemon) => {
      const pid = daemon.child.pid!;
      expect(await presenceOf(daemon.name)).toMatchObject({ daemon: daemon.name, pid, listen: daemon.listen });
      await newEs().client.delete({ index: DAEMONS_INDEX, id: daemon.name });

      const back = await waitForPresence(daemon.name, (doc) => doc !== null);
      expect(back).toMatchObject({ pid, listen: daemon.listen });
      expect(Date.parse(back!.expires_at)).toBeGreaterThan(Date.now());
      expect((await daemon.stop()).exitCode).toBe(0);
      expect(await presenceOf(daemon.name)).toBeNull();
    });
  });

  it('logs a renewal that fails while Elasticsearch cannot be reached, and renews again once it is back', async () => {
    const relay = await new TcpRelay(new URL(esUrl())).start();
    const daemon = await startDaemon({ config: SHORT_LEASE, env: { ES_URL: relay.url } });
    let cut = false;
    try {
      // Cut before the deployments are restored, and the daemon would rightly fail to start.
      await daemon.waitForLog((l) => l.event?.action === 'daemon-restore');
      await relay.cut();
      cut = true;
      const failed = await daemon.waitForLog((l) => l.event?.action === 'daemon-lease' && l.event?.outcome === 'failure', 5000);
      expect(failed.message).toMatch(
        new RegExp(
          `could not renew the lease on daemon name '${daemon.name}' \\(cannot reach Elasticsearch.*\\); trying again in 300 ms, the lease expires at `,
        ),
      );

      await relay.restore();
      cut = false;
      const restoredAt = Date.now();
      await waitForPresence(daemon.name, (doc) => doc !== null && Date.parse(doc.renewed_at) > restoredAt);
    } finally {
      if (cut) await relay.restore();
      expect((await daemon.stop()).exitCode, daemon.output().slice(-3000)).toBe(0);
      await relay.cut();
    }
  });

  it('does not keep a stopping daemon waiting on a cluster that stalled: SIGTERM still exits 0 within a few seconds, leaving no child', async () => {
    const { modelId } = await storedModel(300_000);
    const relay = await new TcpRelay(new URL(esUrl())).start();
    // A long heartbeat keeps the daemon's renewals out of the way until the test starts one.
    const daemon = await startDaemon({ config: { daemon: { heartbeatMs: 60_000, leaseMs: 120_000 } }, env: { ES_URL: relay.url } });
    try {
      expect((await daemon.cli(['deploy', modelId])).exitCode).toBe(0);
      const children = await childrenOf(daemon.child.pid!);
      expect(children).toHaveLength(1);
      // Every request the daemon sends from now on waits for an answer that does not come, as from a node stuck in GC.
      relay.pause();
      const stopped = await stopWithin(daemon, 8000);
      expect(stopped, `SIGTERM with the cluster stalled; daemon output:\n${daemon.output().slice(-2000)}`).toMatchObject({
        exited: true,
        exitCode: 0,
        leftRunning: [],
      });
      for (const child of children) expect(isAlive(child)).toBe(false);
      expect(daemon.output()).toMatch(/could not remove the presence of daemon/);
    } finally {
      relay.resume();
      await relay.cut();
      await forgetDaemon(daemon.name);
    }
  }, 30_000);
});
