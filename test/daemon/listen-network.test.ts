import { chmod, writeFile } from 'node:fs/promises';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daemonUrl, type PresenceDoc } from '../../src/coordination/daemon-presence.js';
import { DAEMONS_INDEX } from '../../src/model/layout.js';
import type { FleetModelStatus } from '../../src/api/wire-types.js';
import { feeder } from '../support/cli.js';
import { freePort, startDaemon, type RunningDaemon } from '../support/daemon.js';
import { storedModel } from '../support/deploy.js';
import { FLEET_TIMING, TestFleet } from '../support/fleet.js';
import { deployPath } from '../support/races.js';
import { newEs, tempDir, uniqueId } from '../support/es.js';
import { rawRequest, type RawAnswer } from '../support/raw-http.js';

const TOKEN = 'network-token-5fR8q2Lw';
/** These daemons serve plain HTTP beyond loopback, which needs saying (test/daemon/tls.test.ts serves TLS). */
const PLAIN = { FEEDER_INSECURE_PLAIN_HTTP: 'true' };

/** The machine's first IPv4 address that is not loopback (nor link-local), if it has one. */
const NETWORK_ADDRESS = Object.values(networkInterfaces())
  .flatMap((list) => list ?? [])
  .find((i) => i.family === 'IPv4' && !i.internal && !i.address.startsWith('169.254.'))?.address;

/** The daemon's presence once it records where it listens: the lease is taken before, and renewed with the address just after. */
async function presenceOf(name: string): Promise<PresenceDoc> {
  for (let waited = 0; ; waited += 100) {
    const doc = (await newEs().client.get<PresenceDoc>({ index: DAEMONS_INDEX, id: name }))._source!;
    if (doc.advertise !== undefined || waited >= 10_000) return doc;
    await sleep(100);
  }
}

/** `feeder serve` expected to refuse: a name of its own, and a bound, so that one that starts anyway fails the test instead of hanging it. */
const refusedServe = (args: string[], env: Record<string, string> = {}) =>
  feeder(['serve', ...args], { env: { FEEDER_DAEMON_NAME: uniqueId('refused'), ...env }, timeout: 15_000 });

const errorCode = (answer: RawAnswer) => (JSON.parse(answer.body) as { error: { code: string } }).error.code;

describe('feeder serve on 0.0.0.0', () => {
  it('refuses to start without a token, naming the ways to give one, and listens on nothing', async () => {
    const port = await freePort();
    const refused = await refusedServe([], { FEEDER_LISTEN: `0.0.0.0:${port}` });
    expect(refused.exitCode, refused.stderr).toBe(2);
    expect(refused.stderr).toContain(
      `feeder: daemon.listen '0.0.0.0:${port}' reaches beyond loopback, so anyone on the network could drive the control API: set a token with FEEDER_TOKEN or daemon.token, or name a file of mode 0600 holding it with --token-file, FEEDER_TOKEN_FILE or daemon.tokenFile`,
    );
    expect(refused.stdout).toBe('');
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });

  it('refuses to start with a token but without TLS, naming the TLS settings and the insecure flag', async () => {
    const port = await freePort();
    const refused = await refusedServe([], { FEEDER_LISTEN: `0.0.0.0:${port}`, FEEDER_TOKEN: TOKEN });
    expect(refused.exitCode, refused.stderr).toBe(2);
    expect(refused.stderr).toContain(
      `feeder: daemon.listen '0.0.0.0:${port}' reaches beyond loopback, and without TLS its token and every inference would cross the network in clear: give a certificate and key with --tls-cert and --tls-key (FEEDER_TLS_CERT, FEEDER_TLS_KEY, daemon.tls), or, on a network you trust, pass --insecure-plain-http`,
    );
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });

  it('refuses a token file that others can read, before anything else', async () => {
    const path = join(await tempDir(), 'token');
    await writeFile(path, TOKEN);
    await chmod(path, 0o640);
    const refused = await refusedServe(['--listen', `0.0.0.0:${await freePort()}`, '--token-file', path]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain(
      `the token file '${path}' given by --token-file is open to other users (mode 0640); run: chmod 600 ${path}`,
    );
  });

  describe('with a token from --token-file', () => {
    let daemon: RunningDaemon;
    let port: number;
    const get = (host: string, headers: Array<[string, string]>, path = '/deployments') =>
      rawRequest({ port, host }, { method: 'GET', target: path, headers });
    const auth: [string, string] = ['authorization', `Bearer ${TOKEN}`];

    beforeAll(async () => {
      port = await freePort();
      const tokenFile = join(await tempDir(), 'token');
      await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
      // The daemon reads the token from its file; the CLI below is given it in FEEDER_TOKEN.
      daemon = await startDaemon({ listen: `0.0.0.0:${port}`, env: { FEEDER_TOKEN_FILE: tokenFile, ...PLAIN } });
    });
    afterAll(async () => {
      expect((await daemon?.stop())?.exitCode).toBe(0);
    });

    it('warns at start that it serves plain HTTP beyond loopback, as it was told to', async () => {
      const warning = await daemon.waitForLog((l) => l.feeder?.insecure_plain_http === true);
      expect(warning.message).toMatch(
        new RegExp(
          `daemon.listen '0.0.0.0:${port}' reaches beyond loopback and serves plain HTTP \\(--insecure-plain-http\\): the token and every inference cross the network in clear`,
        ),
      );
    });

    it('answers with the token through 127.0.0.1, and 401 without it on every route but /healthz', async () => {
      expect((await get('127.0.0.1', [['host', `127.0.0.1:${port}`], auth])).status).toBe(200);
      for (const path of ['/deployments', '/metrics', '/deployments/anything', '/nope']) {
        const refused = await get('127.0.0.1', [['host', `127.0.0.1:${port}`]], path);
        expect(refused.status, path).toBe(401);
        expect(errorCode(refused)).toBe('FEEDER_ERR_UNAUTHORIZED');
      }
      expect((await get('127.0.0.1', [['host', `127.0.0.1:${port}`]], '/healthz')).status).toBe(200);
    });

    it("answers with the token through the machine's network address, under that address or the machine's name, and 401 without it", async () => {
      const address = NETWORK_ADDRESS ?? '127.0.0.1';
      for (const host of [`${address}:${port}`, address, `${hostname()}:${port}`]) {
        expect((await get(address, [['host', host], auth])).status, host).toBe(200);
        expect((await get(address, [['host', host]])).status, host).toBe(401);
      }
    });

    it('refuses a foreign Host with 403 even with the token, naming the names it takes', async () => {
      for (const host of ['evil.example', `evil.example:${port}`, `${NETWORK_ADDRESS ?? '127.0.0.1'}.nip.io:${port}`]) {
        const refused = await get(NETWORK_ADDRESS ?? '127.0.0.1', [['host', host], auth]);
        expect(refused.status, host).toBe(403);
        expect(JSON.parse(refused.body).error).toMatchObject({
          code: 'FEEDER_ERR_FORBIDDEN',
          message: expect.stringContaining(`${NETWORK_ADDRESS ?? '127.0.0.1'}`),
        });
      }
    });

    it("advertises the machine's network address in its lease, and daemonUrl gives its URL", async () => {
      const presence = await presenceOf(daemon.name);
      expect(presence).toMatchObject({ listen: `0.0.0.0:${port}`, advertise: `${NETWORK_ADDRESS ?? '127.0.0.1'}:${port}` });
      expect(daemonUrl(presence)).toBe(`http://${NETWORK_ADDRESS ?? '127.0.0.1'}:${port}`);
      const started = await daemon.waitForLog((l) => l.event?.action === 'daemon-start');
      expect(started.feeder).toMatchObject({ listen: `0.0.0.0:${port}`, advertise: presence.advertise });
    });

    it('is reached by the CLI at loopback through the same config, and at its URL through FEEDER_DAEMON_URL; without the token, 401', async () => {
      // The daemon's own environment: FEEDER_LISTEN 0.0.0.0:PORT and the token file.
      const local = await daemon.cli(['status']);
      expect(local.exitCode, local.stderr).toBe(0);
      expect(local.stdout).toBe('no deployments');
      const url = daemonUrl(await presenceOf(daemon.name));
      const remote = await feeder(['status', '--json'], { env: { FEEDER_DAEMON_URL: url, FEEDER_TOKEN: TOKEN } });
      expect(remote.exitCode, remote.stderr).toBe(0);
      expect(JSON.parse(remote.stdout)).toEqual([]);
      const flag = await feeder(['status', '--daemon-url', url], { env: { FEEDER_TOKEN: TOKEN } });
      expect(flag.exitCode, flag.stderr).toBe(0);
      const refused = await feeder(['status'], { env: { FEEDER_DAEMON_URL: url } });
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toMatch(
        /missing or wrong bearer token; give the daemon.s token with FEEDER_TOKEN, --token-file .*\(FEEDER_ERR_UNAUTHORIZED\)/,
      );
    });
  });
});

describe('feeder serve on other addresses', () => {
  let daemons: RunningDaemon[] = [];
  afterAll(async () => {
    for (const daemon of daemons) await daemon.stop();
    daemons = [];
  });

  it('listens on [::1] without a token, as on 127.0.0.1, and the CLI reaches it', async () => {
    const port = await freePort();
    const daemon = await startDaemon({ listen: `[::1]:${port}` });
    daemons.push(daemon);
    const answer = await rawRequest({ port, host: '::1' }, { method: 'GET', target: '/deployments', headers: [['host', `[::1]:${port}`]] });
    expect(answer.status, answer.body).toBe(200);
    expect((await daemon.cli(['status'])).stdout).toBe('no deployments');
    expect(await presenceOf(daemon.name)).toMatchObject({ listen: `[::1]:${port}`, advertise: `[::1]:${port}` });
  });

  it('advertises --advertise: refused without a token, then with one its name is accepted as Host and stored in the lease', async () => {
    const port = await freePort();
    const env = { FEEDER_ADVERTISE: 'feeder-gateway.example' };
    const refused = await refusedServe([], { ...env, FEEDER_LISTEN: `127.0.0.1:${port}` });
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/daemon.advertise 'feeder-gateway.example' is beyond loopback, .*set a token/);

    const daemon = await startDaemon({ listen: `127.0.0.1:${port}`, env: { ...env, FEEDER_TOKEN: TOKEN, ...PLAIN } });
    daemons.push(daemon);
    const get = (host: string) =>
      rawRequest(
        { port },
        {
          method: 'GET',
          target: '/deployments',
          headers: [
            ['host', host],
            ['authorization', `Bearer ${TOKEN}`],
          ],
        },
      );
    expect((await get(`feeder-gateway.example:${port}`)).status).toBe(200);
    expect((await get('other-gateway.example')).status).toBe(403);
    const presence = await presenceOf(daemon.name);
    expect(presence).toMatchObject({ listen: `127.0.0.1:${port}`, advertise: `feeder-gateway.example:${port}` });
    expect(daemonUrl(presence)).toBe(`http://feeder-gateway.example:${port}`);
  });
});

describe('a fleet listening on 0.0.0.0', () => {
  let fleet: TestFleet | undefined;
  afterAll(async () => {
    if (!fleet) return;
    await fleet.stop();
    expect(await fleet.leftovers(), 'native processes left running').toEqual([]);
  });

  it("forwards an inference to the holder at its advertised address, with the token, and the holder's Host check passes", async () => {
    const f = (fleet = new TestFleet(uniqueId('fleet'), null, {}));
    for (const i of [0, 1]) {
      const daemon = await startDaemon({
        name: `${f.fleet}-d${i}`,
        listen: `0.0.0.0:${await freePort()}`,
        config: { daemon: { ...FLEET_TIMING, fleet: f.fleet } },
        env: { FEEDER_TOKEN: TOKEN, ...PLAIN },
      });
      f.members.push(daemon);
      f.everyone.push(daemon);
    }
    const send = (daemon: RunningDaemon, method: string, path: string, body: unknown) =>
      fetch(`http://127.0.0.1:${daemon.listen.split(':').pop()}${path}`, {
        method,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(body),
      }).then(async (r) => ({
        status: r.status,
        body: (await r.json()) as Record<string, any>,
        servedBy: r.headers.get('x-feeder-served-by'),
      }));
    const { modelId, bytes } = await storedModel(100_000);
    const deployed = await send(f.members[0]!, 'PUT', deployPath(modelId), { allocations: 1, wait_for: 'started', timeout_ms: 30_000 });
    expect(deployed.status, JSON.stringify(deployed.body)).toBe(200);
    const holder = (deployed.body as FleetModelStatus).items[0]!.daemon!;
    const bystander = f.members.find((d) => d.name !== holder)!;
    const inferred = await send(bystander, 'POST', `${deployPath(modelId)}/infer`, { tokens: [[9]] });
    expect(inferred.status, JSON.stringify(inferred.body)).toBe(200);
    expect(inferred.body.result.inference).toEqual([[[bytes[9]! / 255]]]);
    expect(inferred.servedBy).toBe(holder);
    expect((await presenceOf(holder)).advertise).toBe(`${NETWORK_ADDRESS ?? '127.0.0.1'}:${f.byName(holder).listen.split(':').pop()}`);
    expect((await send(bystander, 'DELETE', deployPath(modelId), {})).status).toBe(200);
  });
});
