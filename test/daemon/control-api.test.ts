import { randomBytes, randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storedModel } from '../support/deploy.js';
import { esUrl } from '../support/es.js';
import { startDaemon, type RunningDaemon } from '../support/daemon.js';

const TOKEN = 'control-token-Zq93';
const URL_PASSWORD = 'url-secret-Kd81';

describe('the control API', () => {
  let daemon: RunningDaemon;
  let model: { modelId: string; bytes: Buffer };
  let base: string;
  const auth = { authorization: `Bearer ${TOKEN}` };
  const json = { 'content-type': 'application/json' };
  const call = (method: string, path: string, body?: string | Buffer, headers: Record<string, string> = auth) =>
    fetch(`${base}${path}`, { method, headers: body === undefined ? headers : { ...json, ...headers }, ...(body !== undefined ? { body } : {}) }).then(async (r) => ({ status: r.status, body: await r.text(), headers: r.headers }));

  beforeAll(async () => {
    model = await storedModel(300_000);
    // Credentials in the URL (the test node ignores them: security is off) and a bearer token: neither may reach a log line.
    const withCredentials = esUrl().replace('http://', `http://elastic:${URL_PASSWORD}@`);
    daemon = await startDaemon({ env: { ES_URL: withCredentials, FEEDER_TOKEN: TOKEN } });
    base = `http://${daemon.listen}`;
    const deployed = await daemon.cli(['deploy', model.modelId]);
    expect(deployed.exitCode, deployed.stderr).toBe(0);
  });
  afterAll(async () => {
    await daemon?.cli(['undeploy', model.modelId]);
    await daemon?.stop();
  });

  it.each([
    ['malformed JSON', 'PUT', () => `/deployments/${model.modelId}`, '{"wait_for":', 400, 'FEEDER_ERR_BAD_JSON'],
    ['a body that is not an object', 'POST', () => `/deployments/${model.modelId}/infer`, '[1,2]', 400, 'FEEDER_ERR_INVALID_ARGUMENT'],
    ['bad tokens', 'POST', () => `/deployments/${model.modelId}/infer`, '{"tokens":[["a"]]}', 400, 'FEEDER_ERR_INVALID_ARGUMENT'],
    ['an unknown model', 'GET', () => '/deployments/nobody-here', undefined, 404, 'FEEDER_ERR_MODEL_NOT_FOUND'],
    ['an invalid model id', 'GET', () => '/deployments/NOT..VALID', undefined, 400, 'FEEDER_ERR_INVALID_MODEL_ID'],
    ['an oversized body', 'POST', () => `/deployments/${model.modelId}/infer`, 'x'.repeat(200_000), 413, 'FEEDER_ERR_BODY_TOO_LARGE'],
    ['a wrong method', 'PATCH', () => `/deployments/${model.modelId}`, undefined, 405, 'FEEDER_ERR_METHOD'],
    ['an unknown route', 'GET', () => '/nope', undefined, 404, 'FEEDER_ERR_NO_ROUTE'],
    ['a bad wait_for', 'PUT', () => `/deployments/${model.modelId}`, '{"wait_for":"soon"}', 400, 'FEEDER_ERR_INVALID_ARGUMENT'],
  ])('answers %s with a 4xx JSON error', async (_what, method, path, body, status, code) => {
    const answer = await call(method, path(), body);
    expect(answer.status).toBe(status);
    expect(answer.headers.get('content-type')).toBe('application/json');
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code, message: expect.any(String) } });
  });

  it('names the allowed methods on 405', async () => {
    const answer = await call('POST', '/metrics');
    expect(answer.headers.get('allow')).toBe('GET');
  });

  it.each([
    ['an unknown route', 'GET', '/nope'],
    ['a wrong method on a route', 'PATCH', '/deployments/anything'],
    ['a wrong method on /metrics', 'POST', '/metrics'],
    ['a wrong method on /deployments', 'DELETE', '/deployments'],
  ])('answers %s without the token with 401 and no Allow, so the API cannot be mapped', async (_what, method, path) => {
    const answer = await call(method, path, undefined, {});
    expect(answer.status).toBe(401);
    expect(answer.headers.get('allow')).toBeNull();
    expect(JSON.parse(answer.body).error.code).toBe('FEEDER_ERR_UNAUTHORIZED');
    expect((await call(method, path, undefined, { authorization: 'Bearer wrong' })).status).toBe(401);
  });

  it.each(['bearer', 'BEARER', 'BeArEr'])('accepts the %s scheme, case not mattering (RFC 7235)', async (scheme) => {
    const answer = await call('GET', `/deployments/${model.modelId}`, undefined, { authorization: `${scheme} ${TOKEN}` });
    expect(answer.status, answer.body).toBe(200);
  });

  it('wants the bearer token everywhere but /healthz', async () => {
    expect((await call('GET', '/deployments', undefined, {})).status).toBe(401);
    expect((await call('GET', '/deployments', undefined, { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await call('GET', '/healthz', undefined, {})).status).toBe(200);
    const cli = await daemon.cli(['status'], { FEEDER_TOKEN: 'wrong' });
    expect(cli.exitCode).toBe(1);
    expect(cli.stderr).toMatch(/missing or wrong bearer token/);
  });

  it('stays up through a few thousand random requests, its deployment untouched', async () => {
    const before = JSON.parse((await call('GET', `/deployments/${model.modelId}`)).body);
    const methods = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'];
    const paths = ['/', '/healthz', '/metrics', '/deployments', '/deployments/', `/deployments/${model.modelId}x`, '/deployments/%E0%A4%A', '/deployments/a/b/c', '/deployments/x/infer', `/deployments/${'a'.repeat(300)}`, '/../../etc/passwd'];
    const bodies = () => [undefined, '', '{', '{}', 'null', '[]', '{"tokens":[[1e308]]}', '{"tokens":[[-1]]}', '{"wait_for":"started","timeout_ms":-5}', randomBytes(randomInt(1, 2000))][randomInt(0, 10)];
    const statuses = new Map<number, number>();
    for (let round = 0; round < 100; round += 1) {
      const batch = Array.from({ length: 20 }, () => {
        const method = methods[randomInt(0, methods.length)]!;
        const body = method === 'GET' || method === 'HEAD' ? undefined : bodies();
        return call(method, paths[randomInt(0, paths.length)]!, body as string | undefined, randomInt(0, 4) === 0 ? {} : auth)
          .then((r) => statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1))
          .catch(() => statuses.set(-1, (statuses.get(-1) ?? 0) + 1));
      });
      await Promise.all(batch);
    }
    expect(statuses.get(-1)).toBeUndefined();
    expect([...statuses.keys()].filter((s) => s >= 500), JSON.stringify([...statuses])).toEqual([]);
    expect([...statuses.values()].reduce((a, b) => a + b)).toBe(2000);
    const after = JSON.parse((await call('GET', `/deployments/${model.modelId}`)).body);
    expect(after).toMatchObject({ state: 'started', pid: before.pid, restarts: before.restarts });
    const answer = JSON.parse((await call('POST', `/deployments/${model.modelId}/infer`, '{"tokens":[[9]]}')).body);
    expect(answer.result.inference).toEqual([[[model.bytes[9]! / 255]]]);
  });

  it('never writes a credential into a log line', () => {
    const output = daemon.output();
    expect(output.length).toBeGreaterThan(1000);
    expect(output).not.toContain(URL_PASSWORD);
    expect(output).not.toContain(TOKEN);
    expect(daemon.logs.find((l) => l.event?.action === 'daemon-start')!.feeder.elasticsearch).toBe(esUrl().replace(/\/$/, ''));
  });
});
