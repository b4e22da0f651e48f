import { describe, expect, it } from 'vitest';
import { storedModel } from '../support/deploy.js';
import { childrenOf, withDaemon } from '../support/daemon.js';

describe('a native process that reports a model other than the meta document describes', () => {
  it('fails the deployment at once, without a restart: a restart cannot cure a mismatch', async () => {
    const { modelId, bytes } = await storedModel(1024 * 1024);
    await withDaemon({ config: { deploy: { args: ['--wrong-sha'] } } }, async (daemon) => {
      const result = await daemon.cli(['deploy', modelId, '--json']);
      expect(result.exitCode, result.stderr).toBe(1);
      const status = JSON.parse(result.stdout);
      expect(status).toMatchObject({ state: 'failed', restarts: 0 });
      expect(status.reason).toMatch(
        new RegExp(
          `reports ${bytes.length} bytes with sha256 [0-9a-f]{64}, but model '${modelId}' is ${bytes.length} bytes with sha256 [0-9a-f]{64}`,
        ),
      );
      expect(daemon.logs.filter((l) => l.event?.action === 'native-restart')).toEqual([]);
      expect(await childrenOf(daemon.child.pid!)).toEqual([]);
    });
  });
});
