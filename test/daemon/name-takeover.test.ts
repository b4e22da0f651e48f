// Issue 21, point 5: a daemon killed (an OOM kill, a crash) and started again by its supervisor
// under the same name takes its name back at once when the lease's holder is a process of this host
// that is gone; a live holder, or one on another host, keeps the name until its lease expires.
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import type { PresenceDoc } from '../../src/coordination/daemon-presence.js';
import { thisHost } from '../../src/daemon/host-identity.js';
import { DaemonLease } from '../../src/daemon/lease.js';
import { DaemonRunningError } from '../../src/errors.js';
import { DAEMONS_INDEX } from '../../src/model/layout.js';
import { installTemplates } from '../../src/model/templates.js';
import { startDaemon } from '../support/daemon.js';
import { captureLogger, newEs, uniqueId } from '../support/es.js';
import { forgetDaemon } from '../support/races.js';

// Long enough that waiting for it would show.
const LONG_LEASE = { daemon: { heartbeatMs: 2000, leaseMs: 60_000 } };

describe('a daemon started again under the name of one that was killed', () => {
  it('takes the name at once when the killed holder ran on this host, without waiting for its lease to expire', async () => {
    const first = await startDaemon({ config: LONG_LEASE });
    first.child.kill('SIGKILL');
    await first.child;
    const restartedAt = Date.now();
    const second = await startDaemon({ name: first.name, listen: first.listen, config: LONG_LEASE });
    try {
      expect(Date.now() - restartedAt, 'well within the 60 s lease').toBeLessThan(20_000);
      const taken = await second.waitForLog((l) => l.event?.action === 'daemon-lease' && l.event?.outcome === 'success');
      expect(taken.message).toContain(`took over daemon name '${first.name}': pid ${first.child.pid} on this host is gone`);
    } finally {
      expect((await second.stop()).exitCode).toBe(0);
      await forgetDaemon(first.name);
    }
  }, 60_000);
});

/** A live lease on `name`, as its holder `pid` wrote it a moment ago. */
async function writeLiveLease(name: string, pid: number, where: Partial<PresenceDoc> = {}): Promise<void> {
  const now = Date.now();
  const doc: PresenceDoc = {
    daemon: name,
    listen: '127.0.0.1:1',
    pid,
    ...thisHost(),
    started_at: new Date(now).toISOString(),
    renewed_at: new Date(now).toISOString(),
    expires_at: new Date(now + 60_000).toISOString(),
    ...where,
  };
  await newEs().client.index({ index: DAEMONS_INDEX, id: name, document: doc, refresh: true });
}

async function take(name: string): Promise<DaemonLease> {
  return DaemonLease.take(newEs(), { name, listen: '127.0.0.1:1', heartbeatMs: 2000, leaseMs: 60_000 }, captureLogger().logger);
}

/** The pid of a process that ran on this host and exited. */
async function deadPid(): Promise<number> {
  const child = execa('true');
  const pid = child.pid!;
  await child;
  return pid;
}

describe('the lease on a name whose holder may still run', () => {
  beforeAll(async () => {
    await installTemplates(newEs());
  });

  it('is taken over when its holder was a process of this host that is gone', async () => {
    const name = uniqueId('daemon');
    await writeLiveLease(name, await deadPid());
    const lease = await take(name);
    await lease.release();
  });

  it('is refused while its holder on this host runs', async () => {
    const name = uniqueId('daemon');
    const sleeper = execa('sleep', ['30']);
    try {
      await writeLiveLease(name, sleeper.pid!);
      await expect(take(name)).rejects.toThrow(DaemonRunningError);
    } finally {
      sleeper.kill('SIGKILL');
      await sleeper.catch(() => undefined);
      await newEs().client.delete({ index: DAEMONS_INDEX, id: name, refresh: true });
    }
  });

  it('is refused when its holder ran on another host, even where a process of that pid is gone here', async () => {
    const pid = await deadPid();
    // Another host, simulated: the same pid and host name under another boot id, and another host name.
    const elsewhere: Array<Partial<PresenceDoc>> = [
      { boot_id: '00000000-0000-4000-8000-000000000000' },
      { host: `${thisHost().host}-other` },
      // An older feeder, which recorded neither.
      { boot_id: null, pid_namespace: null },
    ];
    for (const where of elsewhere) {
      const name = uniqueId('daemon');
      await writeLiveLease(name, pid, where);
      await expect(take(name), JSON.stringify(where)).rejects.toThrow(/is taken: daemon .* is running/);
      await newEs().client.delete({ index: DAEMONS_INDEX, id: name, refresh: true });
    }
  });
});
