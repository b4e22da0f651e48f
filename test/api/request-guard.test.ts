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
  const json: Array<[string, string]> = [['content-type', 'application/json']];
  const send = (method: string, target: string, headers: Array<[string, string]>, body?: string) =>
    rawRequest(address, { method, target, headers, ...(body === undefined ? {} : { body }) });
  const errorOf = (answer: { body: string }) => (JSON.parse(answer.body) as { error: { code: string; message: string } }).error;
  const inferences = async () =>
    (JSON.parse((await send('GET', `/deployments/${model.modelId}`, [['host', host]])).body) as { inference_count: number })
      .inference_count;

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

  describe('Host (DNS rebinding)', () => {
    it.each(['evil.example', 'evil.example:9465', '127.0.0.1.nip.io', 'localhost.evil.example', 'localhost:80@evil.example', ''])(
      'refuses Host %j with 403, naming the names it accepts',
      async (name) => {
        const answer = await send('GET', '/deployments', [['host', name]]);
        expect(answer.status).toBe(403);
        expect(errorOf(answer)).toMatchObject({
          code: 'FEEDER_ERR_FORBIDDEN',
          message: expect.stringMatching(/127\.0\.0\.1.*localhost.*\[::1\]/),
        });
      },
    );

    it('refuses a request without Host on a loopback port', async () => {
      const answer = await send('GET', '/deployments', []);
      expect(answer.status).toBe(400);
      expect(errorOf(answer).code).toBe('FEEDER_ERR_BAD_REQUEST');
    });

    it.each(['PORT', '127.0.0.1', 'localhost', 'localhost:PORT', 'LocalHost:PORT', '[::1]:PORT', '[::1]'])(
      'accepts the loopback name %s',
      async (name) => {
        const port = daemon.listen.split(':').pop()!;
        const answer = await send('GET', '/deployments', [['host', name === 'PORT' ? host : name.replace('PORT', port)]]);
        expect(answer.status, answer.body).toBe(200);
      },
    );
  });

  describe('content type (CSRF)', () => {
    it.each([
      ['text/plain', [['content-type', 'text/plain']]],
      ['text/plain with a JSON-looking parameter', [['content-type', 'text/plain; application/json']]],
      ['a form', [['content-type', 'application/x-www-form-urlencoded']]],
      ['no content type', []],
      ['application/jsonx', [['content-type', 'application/jsonx']]],
    ] as Array<[string, Array<[string, string]>]>)(
      'refuses an inference whose body is %s with 415, and runs none',
      async (_what, headers) => {
        const before = await inferences();
        const answer = await send('POST', `/deployments/${model.modelId}/infer`, [['host', host], ...headers], '{"tokens":[[1]]}');
        expect(answer.status, answer.body).toBe(415);
        expect(errorOf(answer)).toMatchObject({ code: 'FEEDER_ERR_CONTENT_TYPE', message: expect.stringContaining('application/json') });
        expect(await inferences()).toBe(before);
      },
    );

    it('refuses a chunked body without application/json too', async () => {
      const answer = await send(
        'PUT',
        `/deployments/${model.modelId}`,
        [
          ['host', host],
          ['transfer-encoding', 'chunked'],
        ],
        '2\r\n{}\r\n0\r\n\r\n',
      );
      expect(answer.status, answer.body).toBe(415);
    });

    it.each(['application/json', 'application/json; charset=utf-8', 'Application/JSON;charset="UTF-8"'])(
      'runs an inference sent as %s',
      async (type) => {
        const answer = await send(
          'POST',
          `/deployments/${model.modelId}/infer`,
          [
            ['host', host],
            ['content-type', type],
          ],
          '{"tokens":[[7]]}',
        );
        expect(answer.status, answer.body).toBe(200);
        expect(JSON.parse(answer.body).result.inference).toEqual([[[model.bytes[7]! / 255]]]);
      },
    );

    it('needs no content type on a request without a body', async () => {
      expect(
        (
          await send('GET', `/deployments/${model.modelId}`, [
            ['host', host],
            ['content-length', '0'],
          ])
        ).status,
      ).toBe(200);
    });
  });

  describe('Origin and Sec-Fetch-Site (cross-origin pages)', () => {
    it.each([
      ['another origin', [['origin', 'http://evil.example']]],
      ['another port of this machine', [['origin', 'http://127.0.0.1:1']]],
      ['https on our port', [['origin', `https://HOST`]]],
      ['an opaque origin', [['origin', 'null']]],
      ['a cross-site fetch', [['sec-fetch-site', 'cross-site']]],
      ['a same-site fetch from another port', [['sec-fetch-site', 'same-site']]],
    ] as Array<[string, Array<[string, string]>]>)('refuses %s with 403, and runs no inference', async (_what, headers) => {
      const before = await inferences();
      const given = headers.map(([n, v]): [string, string] => [n, v.replace('HOST', host)]);
      const answer = await send('POST', `/deployments/${model.modelId}/infer`, [['host', host], ...json, ...given], '{"tokens":[[1]]}');
      expect(answer.status, answer.body).toBe(403);
      expect(errorOf(answer).code).toBe('FEEDER_ERR_FORBIDDEN');
      expect(await inferences()).toBe(before);
    });

    it('accepts its own origin', async () => {
      const answer = await send(
        'POST',
        `/deployments/${model.modelId}/infer`,
        [['host', host], ...json, ['origin', `http://${host}`], ['sec-fetch-site', 'same-origin']],
        '{"tokens":[[3]]}',
      );
      expect(answer.status, answer.body).toBe(200);
    });
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

  describe('what node:http would answer itself', () => {
    it.each([
      ['an invalid method', 'get /deployments HTTP/1.1\r\nhost: HOST\r\n\r\n', 400],
      ['an unknown HTTP version', 'GET /deployments HTTP/7.1\r\nhost: HOST\r\n\r\n', 400],
      ['a bad header name', 'GET /deployments HTTP/1.1\r\nhost: HOST\r\nbad name: x\r\n\r\n', 400],
      ['a bad content-length', 'POST /deployments HTTP/1.1\r\nhost: HOST\r\ncontent-length: abc\r\n\r\n{}', 400],
      ['headers over 16 KiB', `GET /deployments HTTP/1.1\r\nhost: HOST\r\nx-long: ${'y'.repeat(20 * 1024)}\r\n\r\n`, 431],
      ['CONNECT', 'CONNECT other.host:443 HTTP/1.1\r\nhost: other.host:443\r\n\r\n', 400],
    ])('answers %s with JSON', async (_what, request, status) => {
      const answer = await rawRequest(address, Buffer.from(request.replace('HOST', host), 'latin1'));
      expect(answer.status).toBe(status);
      expect(answer.headers['content-type']).toBe('application/json');
      expect(errorOf(answer).code).toMatch(/^FEEDER_ERR_BAD_(REQUEST|PATH)$/);
    });

    it('answers a request with an unknown Expect as any other, after the same checks', async () => {
      const refused = await send('GET', '/deployments', [
        ['host', 'evil.example'],
        ['expect', 'teapot'],
      ]);
      expect(refused.status, refused.body).toBe(403);
      const served = await send('GET', `/deployments/${model.modelId}`, [
        ['host', host],
        ['expect', 'teapot'],
      ]);
      expect(served.status, served.body).toBe(200);
    });
  });
});
