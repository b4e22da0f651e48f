import { describe, expect, it } from 'vitest';
import type { FleetModelStatus } from '../../src/api/wire-types.js';
import { storedModel } from '../support/deploy.js';
import { uniqueId } from '../support/es.js';
import { TestFleet } from '../support/fleet.js';
import { call, deployPath } from '../support/races.js';

// A forwarded inference waits as long as its holder would, plus a margin for the hop: a model slower
// than a minute is answered when daemon.inferenceTimeoutMs allows it, and a forward that outlives the
// timeout is answered 504 as a local timeout is. A fleet of two daemons and a bystander of each
// timeout on the single test node; the bystanders' memory budget keeps them from holding anything.

const ANSWER_DELAY_MS = 62_000;

describe('the timeout of a forwarded inference', () => {
  it("is the holder's: 62 s is answered under an inferenceTimeoutMs of 80 s; under 1 s it is 504 FEEDER_ERR_TIMEOUT, as locally", async () => {
    const { modelId, bytes } = await storedModel(20_000);
    const config = { deploy: { args: ['--answer-delay-ms', String(ANSWER_DELAY_MS)] }, daemon: { inferenceTimeoutMs: 80_000 } };
    const fleet = new TestFleet(uniqueId('fleet'), null, { config });
    try {
      const holder = await fleet.add(`${fleet.fleet}-holder`);
      const patient = await fleet.add(`${fleet.fleet}-patient`, { memoryBudget: 1000 });
      const hasty = await fleet.add(`${fleet.fleet}-hasty`, { memoryBudget: 1000, inferenceTimeoutMs: 1000 });
      const deployed = await call(patient.listen, 'PUT', deployPath(modelId), { allocations: 1, timeout_ms: 30_000 });
      expect((deployed.body as FleetModelStatus).items[0]?.daemon, JSON.stringify(deployed.body)).toBe(holder.name);

      const slow = await call(patient.listen, 'POST', `${deployPath(modelId)}/infer`, { tokens: [[3]] }, 90_000);
      expect(slow.status, JSON.stringify(slow.body)).toBe(200);
      expect(slow.headers['x-feeder-served-by']).toBe(holder.name);
      expect(slow.body.result.inference).toEqual([[[bytes[3]! / 255]]]);

      const started = Date.now();
      const late = await call(hasty.listen, 'POST', `${deployPath(modelId)}/infer`, { tokens: [[4]] }, 30_000);
      expect(late.status, JSON.stringify(late.body)).toBe(504);
      expect(late.body.error).toMatchObject({
        code: 'FEEDER_ERR_TIMEOUT',
        message: `inference on model '${modelId}' got no answer within 1 s`,
      });
      // The holder's wait and the margin for the hop, not a minute, nor a second holder's wait.
      expect(Date.now() - started).toBeLessThan(20_000);
    } finally {
      await fleet.stop();
    }
  }, 180_000);
});
