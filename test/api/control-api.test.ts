import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storedModel } from '../support/deploy.js';
import { esUrl } from '../support/es.js';
import { startDaemon, type RunningDaemon } from '../support/daemon.js';
import { fuzzCase, type FuzzCase } from '../support/fuzz-requests.js';
import { rawAddress, rawRequest, type RawAnswer } from '../support/raw-http.js';
import { mulberry32, seedFrom } from '../support/seeded.js';

const TOKEN = 'control-token-Zq93';
const URL_PASSWORD = 'url-secret-Kd81';
const FUZZ_REQUESTS = 3000;
const FUZZ_CONCURRENCY = 16;
/** The refusals that come before any route is looked at: all an unauthenticated caller may see. */
const BEFORE_ROUTING = ['FEEDER_ERR_UNAUTHORIZED', 'FEEDER_ERR_FORBIDDEN', 'FEEDER_ERR_BAD_PATH', 'FEEDER_ERR_BAD_REQUEST'];

describe('the control API', () => {
  let daemon: RunningDaemon;
  let model: { modelId: string; bytes: Buffer };
  let base: string;
  const auth = { authorization: `Bearer ${TOKEN}` };
  const json = { 'content-type': 'application/json' };
  const call = (method: string, path: string, body?: string | Buffer, headers: Record<string, string> = auth) =>
    fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? headers : { ...json, ...headers },
      ...(body !== undefined ? { body } : {}),
    }).then(async (r) => ({ status: r.status, body: await r.text(), headers: r.headers }));

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

  // Bounded and seeded: FEEDER_FUZZ_SEED=<n> replays a run; every failure message names the seed.
  it('stays up through a few thousand random raw requests, answers none without the token, and leaves its deployment untouched', async () => {
    const seed = seedFrom('FEEDER_FUZZ_SEED');
    const random = mulberry32(seed);
    const target = { listen: daemon.listen, token: TOKEN, liveId: model.modelId, ghostId: `ghost-${seed}` };
    const before = JSON.parse((await call('GET', `/deployments/${model.modelId}`)).body);
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    const cases = Array.from({ length: FUZZ_REQUESTS }, () => fuzzCase(random, target));
    const started = performance.now();
    for (let next = 0; next < cases.length;) {
      const batch = cases.slice(next, (next += FUZZ_CONCURRENCY));
      await Promise.all(
        batch.map(async (sent) => {
          const answer = await rawRequest(rawAddress(daemon.listen), sent.bytes).catch((error: Error) => error);
          const problem = answer instanceof Error ? answer.message : fuzzProblem(sent, answer);
          if (!(answer instanceof Error)) statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          if (problem) failures.push(`${problem}\n  sent: ${JSON.stringify(sent.description)}`);
        }),
      );
    }
    const seconds = (performance.now() - started) / 1000;
    const summary = `seed ${seed} (FEEDER_FUZZ_SEED=${seed} replays it), ${FUZZ_REQUESTS} requests in ${seconds.toFixed(1)} s, statuses ${JSON.stringify([...statuses].sort((a, b) => a[0] - b[0]))}`;
    expect(failures.slice(0, 10), `${summary}; ${failures.length} failures`).toEqual([]);
    const after = JSON.parse((await call('GET', `/deployments/${model.modelId}`)).body);
    expect(after, summary).toMatchObject({ state: 'started', pid: before.pid, restarts: before.restarts, generation: before.generation });
    const answer = JSON.parse((await call('POST', `/deployments/${model.modelId}/infer`, '{"tokens":[[9]]}')).body);
    expect(answer.result.inference, summary).toEqual([[[model.bytes[9]! / 255]]]);
    const metrics = await call('GET', '/metrics');
    expect(metrics.status, summary).toBe(200);
    expect(metrics.body, summary).toContain('feeder_deployments{state="started"} 1');
  });

  it('never writes a credential into a log line', () => {
    const output = daemon.output();
    expect(output.length).toBeGreaterThan(1000);
    expect(output).not.toContain(URL_PASSWORD);
    expect(output).not.toContain(TOKEN);
    expect(daemon.logs.find((l) => l.event?.action === 'daemon-start')!.feeder.elasticsearch).toBe(esUrl().replace(/\/$/, ''));
  });
});

/** What is wrong with the daemon's answer to a fuzz request, or undefined if nothing is. */
function fuzzProblem(sent: FuzzCase, answer: RawAnswer): string | undefined {
  if (answer.status >= 500) return `answered ${answer.status}: ${answer.body}`;
  if (answer.status < 400 && !sent.authenticated && !sent.healthz) return `answered ${answer.status} without the token`;
  if (sent.head)
    return sent.authenticated || sent.healthz || [400, 401, 403, 431].includes(answer.status)
      ? undefined
      : `answered HEAD with ${answer.status} without the token`;
  if (answer.status < 400) return undefined;
  let code: unknown;
  try {
    const body = JSON.parse(answer.body) as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.message !== 'string') return `answered ${answer.status} with an error without a message: ${answer.body}`;
    code = body.error.code;
  } catch {
    return `answered ${answer.status} with something that is not JSON: ${JSON.stringify(answer.body.slice(0, 200))}`;
  }
  if (typeof code !== 'string' || !code.startsWith('FEEDER_ERR')) return `answered ${answer.status} without a feeder code: ${answer.body}`;
  if (!sent.authenticated && !sent.healthz && !BEFORE_ROUTING.includes(code))
    return `answered ${answer.status} ${code} without the token: ${answer.body}`;
  return undefined;
}
