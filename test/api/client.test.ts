import { getEventListeners } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeederConfig } from '../../src/config/config.js';
import { callDaemon } from '../../src/api/client.js';
import {
  FeederError,
  InvalidModelIdError,
  MethodNotAllowedError,
  ModelNotFoundError,
  ModelStateError,
  NoRouteError,
  UnauthorizedError,
} from '../../src/errors.js';
import { feeder, interruptFeeder } from '../support/cli.js';
import { startDaemon, type RunningDaemon } from '../support/daemon.js';
import { storedModel } from '../support/deploy.js';
import { testConfig } from '../support/es.js';
import { answering, neverAnswering, startPlainServer, type PlainServer } from '../support/http-server.js';

const TOKEN = 'client-token-7Hq2';
const NO_STACK = /^\s+at /m;

describe('error codes from the real daemon', () => {
  let daemon: RunningDaemon;
  let failedModel: string;
  let config: FeederConfig;

  beforeAll(async () => {
    failedModel = (await storedModel(300_000)).modelId;
    // A stub that crashes while loading, and no restarts: the deployment ends up `failed`.
    daemon = await startDaemon({
      env: { FEEDER_TOKEN: TOKEN },
      config: { deploy: { args: ['--crash-after-bytes', '1000'] }, daemon: { maxRestarts: 0 } },
    });
    const deployed = await daemon.cli(['deploy', failedModel, '--json']);
    expect(deployed.stdout, deployed.stderr).toMatch(/"state": "failed"/);
    config = testConfig((c) => {
      c.daemon.listen = daemon.listen;
      c.daemon.token = TOKEN;
    });
  });
  afterAll(async () => {
    await daemon?.cli(['undeploy', failedModel]);
    await daemon?.stop();
  });

  it.each([
    ['an unknown deployment', 'GET', () => '/deployments/nobody-here', ModelNotFoundError, 'FEEDER_ERR_MODEL_NOT_FOUND', 1],
    ['an invalid model id', 'GET', () => '/deployments/NOT..VALID', InvalidModelIdError, 'FEEDER_ERR_INVALID_MODEL_ID', 2],
    ['an unknown route', 'GET', () => '/nope', NoRouteError, 'FEEDER_ERR_NO_ROUTE', 1],
    ['a method the route does not take', 'PATCH', () => '/deployments/nobody-here', MethodNotAllowedError, 'FEEDER_ERR_METHOD', 1],
    [
      'an inference on a failed deployment',
      'POST',
      () => `/deployments/${failedModel}/infer`,
      ModelStateError,
      'FEEDER_ERR_MODEL_STATE',
      1,
    ],
  ])(
    'the client rebuilds %s as the class the daemon raised, with its code and exit code',
    async (_what, method, path, ErrorClass, code, exitCode) => {
      const error = await callDaemon(config, method, path(), { signal: new AbortController().signal, body: { tokens: [[1]] } }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ErrorClass);
      expect({ code: (error as FeederError).code, exitCode: (error as FeederError).exitCode }).toEqual({ code, exitCode });
    },
  );

  it('the client rebuilds a wrong token as an UnauthorizedError, FEEDER_ERR_UNAUTHORIZED', async () => {
    const wrong = { ...config, daemon: { ...config.daemon, token: 'wrong' } };
    const error = await callDaemon(wrong, 'GET', '/deployments', { signal: new AbortController().signal }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect((error as FeederError).code).toBe('FEEDER_ERR_UNAUTHORIZED');
  });

  it('the CLI prints the code the daemon gave and exits with its exit code', async () => {
    const notDeployed = await daemon.cli(['infer', 'nobody-here', '--tokens', '1']);
    expect(notDeployed.exitCode).toBe(1);
    expect(notDeployed.stderr).toMatch(/^feeder: model 'nobody-here' is not deployed.* \(FEEDER_ERR_MODEL_NOT_FOUND\)$/m);
    const failed = await daemon.cli(['infer', failedModel, '--tokens', '1']);
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toMatch(/is not started \(state failed\).* \(FEEDER_ERR_MODEL_STATE\)$/m);
    const invalid = await daemon.cli(['status', 'NOT..VALID']);
    expect(invalid.exitCode).toBe(2);
    expect(invalid.stderr).toMatch(/\(FEEDER_ERR_INVALID_MODEL_ID\)$/m);
    const unauthorized = await daemon.cli(['status'], { FEEDER_TOKEN: 'wrong' });
    expect(unauthorized.exitCode).toBe(1);
    expect(unauthorized.stderr).toMatch(/^feeder: missing or wrong bearer token.*FEEDER_TOKEN.* \(FEEDER_ERR_UNAUTHORIZED\)$/m);
  });

  it('removes every abort listener it added to the command signal', async () => {
    const signal = new AbortController().signal;
    await callDaemon(config, 'GET', '/deployments', { signal });
    await callDaemon(config, 'GET', '/deployments/nobody-here', { signal }).catch(() => {});
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });
});

// The real daemon gives these codes only in states a test cannot bring about on demand (a damaged
// chunk met during a request, a daemon newer than this client), or never (an answer that is not
// JSON, no answer at all): a plain server on port 0 stands in for it.
describe('answers only a stand-in for the daemon gives', () => {
  const cli = (server: PlainServer, args: string[], env: Record<string, string> = {}) =>
    feeder(args, { env: { FEEDER_LISTEN: server.listen, ...env }, timeout: 10_000 });

  it.each([
    ['FEEDER_ERR_INTEGRITY', "chunk 3 of model 'm' (m-g1-chunk-3) has CRC32 1234 but its document says 99"],
    ['FEEDER_ERR_CHUNK_MISSING', "chunk document m-g1-chunk-7 of model 'm' is missing"],
  ])('a %s answer reaches the user with its own code', async (code, message) => {
    const server = await startPlainServer(answering(500, JSON.stringify({ error: { code, message } })));
    const result = await cli(server, ['deploy', 'm']);
    expect(result.exitCode).toBe(1);
    expect(result.stderr.split('\n')).toContain(`feeder: ${message} (${code})`);
  });

  it('a code this client does not know is a daemon error that names it', async () => {
    const server = await startPlainServer(
      answering(500, JSON.stringify({ error: { code: 'FEEDER_ERR_FROM_THE_FUTURE', message: 'something new went wrong' } })),
    );
    const result = await cli(server, ['status']);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/^feeder: something new went wrong.*FEEDER_ERR_FROM_THE_FUTURE.* \(FEEDER_ERR_DAEMON\)$/m);
  });

  it.each([
    [200, '<html><body><h1>It works!</h1></body></html>', 'text/html'],
    [502, 'Bad Gateway', 'text/plain'],
  ])('an answer that is not JSON (%i) is a clear daemon error, without a stack', async (status, body, type) => {
    const server = await startPlainServer(answering(status, body, type));
    const result = await cli(server, ['status']);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).not.toMatch(NO_STACK);
    expect(result.stderr).not.toContain('unexpected error');
    expect(result.stderr).toContain(`answered ${status} with something that is not JSON`);
    expect(result.stderr).toContain(body.slice(0, 40));
    expect(result.stderr).toMatch(/probably not a feeder daemon.*FEEDER_LISTEN \/ --listen.* \(FEEDER_ERR_DAEMON\)$/m);
  });

  it('a daemon that never answers is given up on after daemon.requestTimeoutMs, with the address and the setting', async () => {
    const server = await startPlainServer(neverAnswering);
    const started = performance.now();
    const result = await cli(server, ['status'], { FEEDER_REQUEST_TIMEOUT: '1s' });
    expect(performance.now() - started).toBeLessThan(6000);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(`the feeder daemon at ${server.listen} did not answer GET /deployments within 1 s`);
    expect(result.stderr).toMatch(/FEEDER_REQUEST_TIMEOUT.* \(FEEDER_ERR_TIMEOUT\)$/m);
  });

  it('a deploy waits for the --timeout the user gave plus the request margin, and names --timeout', async () => {
    const server = await startPlainServer(neverAnswering);
    const started = performance.now();
    const result = await cli(server, ['deploy', 'm', '--timeout', '1s'], { FEEDER_REQUEST_TIMEOUT: '1s' });
    const ms = performance.now() - started;
    expect(ms).toBeGreaterThan(2000);
    expect(ms).toBeLessThan(7000);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/did not answer PUT \/deployments\/m within 2 s.*--timeout.* \(FEEDER_ERR_TIMEOUT\)$/m);
  });

  it.each([
    ['infer', ['infer', 'm', '--tokens', '1,2']],
    ['deploy', ['deploy', 'm']],
    ['status', ['status']],
    ['undeploy', ['undeploy', 'm']],
  ])('Ctrl-C stops `feeder %s` waiting on a daemon that never answers: exit 130 at once', async (_what, args) => {
    const server = await startPlainServer(neverAnswering);
    const result = await interruptFeeder(args, { env: { FEEDER_LISTEN: server.listen }, ready: () => server.requests.length > 0 });
    expect(result.exitCode).toBe(130);
    expect(result.msAfterSignal).toBeLessThan(2000);
    expect(result.stderr).toContain('feeder: interrupted by SIGINT');
    expect(result.stderr).not.toMatch(NO_STACK);
  });
});
