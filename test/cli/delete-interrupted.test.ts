import { describe, expect, it } from 'vitest';
import { getMeta } from '../../src/model/meta.js';
import { interruptFeeder } from '../support/cli.js';
import { storedModel } from '../support/deploy.js';
import { esUrl, newEs } from '../support/es.js';
import { TcpRelay } from '../support/tcp-relay.js';

describe('feeder models delete, interrupted', () => {
  it('Ctrl-C while Elasticsearch does not answer exits 130 at once and leaves the model as it was', async () => {
    const { modelId } = await storedModel(300_000);
    const relay = await new TcpRelay(new URL(esUrl())).start();
    relay.pause();
    try {
      const result = await interruptFeeder(['models', 'delete', modelId], {
        env: { ES_URL: relay.url },
        ready: () => relay.connections > 0,
      });
      expect(result.exitCode, result.stderr).toBe(130);
      expect(result.msAfterSignal).toBeLessThan(2000);
      expect(result.stderr).toContain('feeder: interrupted by SIGINT');
      expect((await getMeta(newEs(), modelId))?.meta.state).toBe('ready');
    } finally {
      await relay.cut();
    }
  });
});
