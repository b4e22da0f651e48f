import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storedModel } from '../support/deploy.js';
import { startDaemon, type RunningDaemon } from '../support/daemon.js';
import { rawAddress, rawRequest, type RawAddress } from '../support/raw-http.js';

// A daemon without a token: its only guard is that the requests come from this machine, so the
// browser's ways around that (DNS rebinding, cross-origin posts) and odd request targets must fail.
describe('the control API without a token', () => {
  let daemon: RunningDaemon;
  let model: { modelId: string; bytes: Buffer };
  let address: RawAddress;
  let host: string;
  const send = (method: string, target: string, headers: Array<[string, string]>, body?: string) => rawRequest(address, { method, target, headers, ...(body === undefined ? {} : { body }) });
  const errorOf = (answer: { body: string }) => (JSON.parse(answer.body) as { error: { code: string; message: string } }).error;

  beforeAll(async () => {
    model = await storedModel(100_000);
    daemon = await startDaemon();
    address = rawAddress(daemon.listen);
    host = daemon.listen;
    // The CLI's own requests (a body, then none) must pass every check below.
    const deployed = await daemon.cli(['deploy', model.modelId]);
    expect(deployed.exitCode, deployed.stderr).toBe(0);
  });
  afterAll(async () => {
    await daemon?.cli(['undeploy', model.modelId]);
    await daemon?.stop();
  });

  describe('request targets', () => {
    it.each([
      ['a network-path reference', () => `//other.host/deployments/${model.modelId}`],
      ['a backslash standing for a slash', () => `/\\other.host/deployments/${model.modelId}`],
      ['a backslash and no host', () => '/\\['],
      ['a backslash and a bad port', () => '/\\a:99999'],
      ['a backslash inside the path', () => `/deployments\\${model.modelId}`],
      ['the absolute form', () => `http://127.0.0.1/deployments/${model.modelId}`],
      ['the asterisk form', () => '*'],
      ['a dot segment', () => `/deployments/x/../${model.modelId}`],
      ['a lone dot segment', () => `/./deployments/${model.modelId}`],
    ])('refuses %s with 400 FEEDER_ERR_BAD_PATH', async (_what, target) => {
      const answer = await send('GET', target(), [['host', host]]);
      expect(answer.status, answer.body).toBe(400);
      expect(errorOf(answer).code).toBe('FEEDER_ERR_BAD_PATH');
    });

    it('still serves a query string and a percent-encoded id', async () => {
      const encoded = `%${model.modelId.charCodeAt(0).toString(16)}${model.modelId.slice(1)}`;
      for (const target of [`/deployments/${model.modelId}?pretty`, `/deployments/${encoded}`, '/healthz?'])
        expect((await send('GET', target, [['host', host]])).status, target).toBe(200);
    });
  });
});
