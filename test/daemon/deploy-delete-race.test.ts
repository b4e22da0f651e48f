import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { deleteModel } from '../../src/maintenance/delete.js';
import { daemonsRunning } from '../../src/coordination/desired-deployments.js';
import { getMeta } from '../../src/model/meta.js';
import { withDaemon } from '../support/daemon.js';
import { storedModel } from '../support/deploy.js';
import { captureLogger, newEs } from '../support/es.js';
import { mulberry32, seedFrom } from '../support/seeded.js';

const ROUNDS = 30;

describe('a deploy and a models delete of the same id at the same moment', () => {
  it('never both succeed, and whichever loses leaves everything as it was (seeded)', async () => {
    const seed = seedFrom('FEEDER_RACE_SEED');
    const random = mulberry32(seed);
    await withDaemon({}, async (daemon) => {
      const es = newEs();
      const { logger } = captureLogger();
      // What `feeder models delete` refuses on: a daemon that should run the model.
      const refuse = async (meta: { model_id: string }) => ((await daemonsRunning(es, meta.model_id)).length > 0 ? 'it is deployed' : null);
      const outcomes: string[] = [];
      for (let round = 0; round < ROUNDS; round += 1) {
        const { modelId } = await storedModel(100_000, 64 * 1024);
        // Either may start first (a negative gap starts the deploy first), so that both outcomes
        // happen however the machine's load shifts the two requests' timing.
        const gapMs = Math.floor(random() * 25) - 12;
        const startDelete = () =>
          deleteModel(es, modelId, logger, { refuse }).then(
            () => true,
            () => false,
          );
        const startDeploy = () =>
          fetch(`http://${daemon.listen}/deployments/${modelId}`, {
            method: 'PUT',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ wait_for: 'starting' }),
          });
        let deleting: Promise<boolean>;
        let deploying: Promise<Response>;
        if (gapMs >= 0) {
          deleting = startDelete();
          await sleep(gapMs);
          deploying = startDeploy();
        } else {
          deploying = startDeploy();
          await sleep(-gapMs);
          deleting = startDelete();
        }
        const answer = await deploying;
        const deployed = answer.status === 200;
        const deleted = await deleting;
        const where = `seed ${seed}, round ${round} (gap ${gapMs} ms): deployed ${deployed} (HTTP ${answer.status}), deleted ${deleted}`;
        outcomes.push(where);

        expect(deployed && deleted, where).toBe(false);
        const meta = (await getMeta(es, modelId))?.meta ?? null;
        const desired = await daemonsRunning(es, modelId);
        const listed = (await fetch(`http://${daemon.listen}/deployments/${modelId}`)).status === 200;
        if (deleted) expect(meta, where).toBeNull();
        else expect(meta?.state, `${where}: a refused delete leaves the model ready`).toBe('ready');
        expect(desired, where).toEqual(deployed ? [daemon.name] : []);
        expect(listed, where).toBe(deployed);

        if (deployed) {
          await fetch(`http://${daemon.listen}/deployments/${modelId}`, { method: 'DELETE' });
        }
        if (!deleted) await deleteModel(es, modelId, logger);
      }
      // Both outcomes must have happened, or the rounds did not race at all.
      expect(
        new Set(outcomes.map((o) => /deployed (\w+).*deleted (\w+)/.exec(o)!.slice(1).join('/'))).size,
        outcomes.join('\n'),
      ).toBeGreaterThan(1);
    });
  });
});
