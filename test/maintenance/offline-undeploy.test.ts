import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { PresenceDoc } from '../../src/coordination/daemon-presence.js';
import { deleteModel } from '../../src/maintenance/delete.js';
import { daemonsRunning, recordUndeployed } from '../../src/coordination/desired-deployments.js';
import { DAEMONS_INDEX, SHARED_CHUNKS_INDEX } from '../../src/model/layout.js';
import { getMeta, requireMeta } from '../../src/model/meta.js';
import { feeder } from '../support/cli.js';
import { freePort, startDaemon, withDaemon } from '../support/daemon.js';
import { storedModel } from '../support/deploy.js';
import { isAlive } from '../support/processes.js';
import { waitUntil } from '../support/wait.js';
import { captureLogger, newEs, randomModelFile } from '../support/es.js';

// Short enough that a killed daemon's lease runs out within the test.
const SHORT_LEASE = { daemon: { heartbeatMs: 300, leaseMs: 1500 } };

describe('the lease on a daemon name', () => {
  it('refuses a second feeder serve under the same name while the first runs, naming it and the fix; a clean stop frees the name', async () => {
    const es = newEs();
    await withDaemon({ config: SHORT_LEASE }, async (first) => {
      const second = await feeder(['serve'], {
        env: { FEEDER_DAEMON_NAME: first.name, FEEDER_LISTEN: `127.0.0.1:${await freePort()}` },
        timeout: 20_000,
      });
      expect(second.exitCode, second.stdout).toBe(1);
      expect(second.stderr).toContain(`daemon name '${first.name}' is taken`);
      expect(second.stderr).toContain(`pid ${first.child.pid} on host ${hostname()}, listening on ${first.listen}, lease renewed until `);
      expect(second.stderr).toContain('start this one under another daemon.name (FEEDER_DAEMON_NAME)');
      expect(second.stderr).toContain('(FEEDER_ERR_DAEMON_RUNNING)');
      expect((await fetch(`http://${first.listen}/healthz`)).ok).toBe(true);
      expect((await first.stop()).exitCode).toBe(0);
      expect(await es.client.exists({ index: DAEMONS_INDEX, id: first.name })).toBe(false);
    });
  });
});

async function sleepPastLease(name: string): Promise<void> {
  const presence = (await newEs().client.get<PresenceDoc>({ index: DAEMONS_INDEX, id: name }))._source!;
  await sleep(Math.max(0, Date.parse(presence.expires_at) - Date.now()) + 200);
}

describe('undeploy --daemon, for a daemon that is gone for good', () => {
  it('is refused while the daemon runs; once it was killed and its lease expired, it frees the model for models delete', async () => {
    const es = newEs();
    const { modelId } = await storedModel(600_000);
    const daemon = await startDaemon({ config: SHORT_LEASE });
    try {
      const deployed = await daemon.cli(['deploy', modelId, '--json']);
      expect(deployed.exitCode, deployed.stderr).toBe(0);
      const stubPid: number = JSON.parse(deployed.stdout).pid;

      const refused = await feeder(['undeploy', modelId, '--daemon', daemon.name]);
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toContain(`listening on ${daemon.listen}`);
      expect(refused.stderr).toContain(`run 'feeder undeploy ${modelId}' against it`);
      expect(refused.stderr).toContain('(FEEDER_ERR_DAEMON_RUNNING)');
      expect(await daemonsRunning(es, modelId)).toEqual([daemon.name]);
      // The deployment pins generation 1, so the replaced generation waits for it in `garbage`.
      const replaced = await feeder(['upload', (await randomModelFile(300_000)).path, '--model-id', modelId, '--replace']);
      expect(replaced.exitCode, replaced.stderr).toBe(0);
      expect((await requireMeta(es, modelId)).meta.garbage.map((g) => g.generation)).toEqual([1]);

      daemon.child.kill('SIGKILL');
      await daemon.child;
      // The stub reads its model from stdin: the daemon's death closes it, and the stub exits.
      await waitUntil(`the exit of the stub (pid ${stubPid}) after its daemon was killed`, () => !isAlive(stubPid), {
        timeoutMs: 10_000,
        intervalMs: 50,
      });
      await sleepPastLease(daemon.name);

      const deleteRefused = await feeder(['models', 'delete', modelId]);
      expect(deleteRefused.exitCode).toBe(1);
      expect(deleteRefused.stderr).toContain(`it is deployed on daemon '${daemon.name}'; run 'feeder undeploy ${modelId}' first`);
      expect(deleteRefused.stderr).toContain(`'feeder undeploy ${modelId} --daemon ${daemon.name}' removes its deployment`);

      const undeployed = await feeder(['undeploy', modelId, '--daemon', daemon.name]);
      expect(undeployed.exitCode, undeployed.stderr).toBe(0);
      expect(undeployed.stdout).toContain(`model '${modelId}' undeployed from daemon '${daemon.name}', which is not running`);
      expect(undeployed.stdout).toContain(`removed old generations 1 of model '${modelId}'`);
      expect((await requireMeta(es, modelId)).meta.garbage).toEqual([]);
      expect(await daemonsRunning(es, modelId)).toEqual([]);

      const deleted = await feeder(['models', 'delete', modelId]);
      expect(deleted.exitCode, deleted.stderr).toBe(0);
      expect(await getMeta(es, modelId)).toBeNull();
      await es.client.indices.refresh({ index: SHARED_CHUNKS_INDEX });
      expect((await es.client.count({ index: SHARED_CHUNKS_INDEX, query: { term: { model_id: modelId } } })).count).toBe(0);
    } finally {
      daemon.child.kill('SIGKILL');
      await recordUndeployed(es, daemon.name, modelId);
      await deleteModel(es, modelId, captureLogger().logger).catch(() => {});
    }
  });
});
