import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetModelStatus } from '../../src/api/wire-types.js';
import { daemonUrl, type PresenceDoc } from '../../src/coordination/daemon-presence.js';
import { DAEMONS_INDEX } from '../../src/model/layout.js';
import {
  httpsCall,
  liveCopy,
  type HttpsAnswer,
  makeCertificates,
  serveLeaf,
  type Certificates,
  type Leaf,
} from '../support/certificates.js';
import { feeder } from '../support/cli.js';
import { freePort, startDaemon, type RunningDaemon } from '../support/daemon.js';
import { storedModel } from '../support/deploy.js';
import { newEs, uniqueId } from '../support/es.js';
import { FLEET_TIMING, TestFleet } from '../support/fleet.js';
import { deployPath } from '../support/races.js';

// Fleet members on the single test node that serve TLS with mutual TLS on (daemon.tls.clientCa),
// advertising the name their certificate holds: a bystander forwards to the holder when the
// holder's certificate checks out against the fleet's CA and that name, and says why when not.

const TOKEN = 'fleet-tls-token-7Hq2xP9w';

const port = (daemon: RunningDaemon) => Number(daemon.listen.split(':').pop());

let certs: Certificates;
let fleet: TestFleet;
const lives = new Map<string, Leaf>();

interface MemberTls {
  /** Its own certificate, served and presented to the others. */
  leaf: Leaf;
  /** The CA it checks the others against. */
  trusts: string;
}

async function addMember(label: string, { leaf, trusts }: MemberTls): Promise<RunningDaemon> {
  const live = await liveCopy(leaf);
  const daemon = await startDaemon({
    name: `${fleet.fleet}-${label}`,
    listen: `127.0.0.1:${await freePort()}`,
    config: { daemon: { ...FLEET_TIMING, fleet: fleet.fleet } },
    env: {
      FEEDER_TOKEN: TOKEN,
      FEEDER_ADVERTISE: 'localhost',
      FEEDER_TLS_CERT: live.cert,
      FEEDER_TLS_KEY: live.key,
      FEEDER_TLS_CLIENT_CA: certs.ca,
      FEEDER_DAEMON_CA_CERTS: trusts,
    },
  });
  lives.set(daemon.name, live);
  fleet.members.push(daemon);
  fleet.everyone.push(daemon);
  return daemon;
}

/** A request as a client of the fleet sends it: the fleet's CA (and the other, for the member that has a certificate from it), a client certificate from the fleet's CA, the token. */
const send = (daemon: RunningDaemon, method: string, path: string, body?: unknown) =>
  httpsCall({ port: port(daemon), method, path, body, token: TOKEN, ca: [certs.ca, certs.otherCa], client: certs.server });

let modelId: string;
let bytes: Buffer;
let holder: RunningDaemon;
let bystander: RunningDaemon;

beforeAll(async () => {
  certs = await makeCertificates();
  fleet = new TestFleet(uniqueId('fleet'), null, {});
  const right = { leaf: certs.server, trusts: certs.ca };
  await addMember('a', right);
  await addMember('b', right);
  ({ modelId, bytes } = await storedModel(60_000));
  const deployed = await send(fleet.members[0]!, 'PUT', deployPath(modelId), { allocations: 1, wait_for: 'started', timeout_ms: 30_000 });
  expect(deployed.status, JSON.stringify(deployed.body)).toBe(200);
  holder = fleet.byName((deployed.body as FleetModelStatus).items[0]!.daemon!);
  bystander = fleet.members.find((d) => d !== holder)!;
});
afterAll(async () => {
  if (!fleet) return;
  await fleet.stop();
  expect(await fleet.leftovers(), 'native processes left running').toEqual([]);
});

/**
 * SIGHUP: the member reloads its certificate and makes its forwarding agent anew, so that its next
 * forward shakes hands from scratch instead of reusing a connection or resuming a TLS session.
 */
async function reloadForwarder(daemon: RunningDaemon): Promise<void> {
  const reloads = () => daemon.logs.filter((l) => l.event?.action === 'tls-reload').length;
  const before = reloads();
  daemon.child.kill('SIGHUP');
  for (let waited = 0; reloads() === before; waited += 50) {
    if (waited > 10_000) throw new Error(`daemon '${daemon.name}' did not reload on SIGHUP`);
    await sleep(50);
  }
}

/**
 * An inference through `via`. A member just started may not see the holder yet (503, its fleet
 * view still filling: issue 21's point 6, not TLS): that answer is waited out, any other is returned.
 */
async function infer(via: RunningDaemon, token = 7): Promise<HttpsAnswer> {
  for (let tries = 1; ; tries++) {
    const answer = await send(via, 'POST', `${deployPath(modelId)}/infer`, { tokens: [[token]] });
    if (answer.status !== 503 || tries === 40) return answer;
    await sleep(250);
  }
}

describe('fleet forwarding over TLS', () => {
  it("forwards to the holder, checked against the fleet's CA and the name it advertises, which its lease records with https", async () => {
    const answer = await infer(bystander);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.result.inference).toEqual([[[bytes[7]! / 255]]]);
    expect(answer.servedBy).toBe(holder.name);
    const presence = (await newEs().client.get<PresenceDoc>({ index: DAEMONS_INDEX, id: holder.name }))._source!;
    expect(presence).toMatchObject({ advertise: `localhost:${port(holder)}`, tls: true });
    expect(daemonUrl(presence)).toBe(`https://127.0.0.1:${port(holder)}`);
  });

  it("a member that trusts another CA does not forward: 502 naming an unknown CA and the fleet's CA setting", async () => {
    const doubter = await addMember('doubter', { leaf: certs.server, trusts: certs.otherCa });
    const answer = await infer(doubter);
    expect(answer.status).toBe(502);
    expect(answer.body.error.message).toMatch(
      /could not be reached: unknown CA: its TLS certificate is not signed by the fleet's CA; set daemon.caCerts/,
    );
  });

  it('mutual TLS: a member without a certificate from daemon.tls.clientCa is refused, before its token is read', async () => {
    const stranger = await addMember('stranger', { leaf: certs.foreign, trusts: certs.ca });
    const answer = await infer(stranger);
    expect(answer.status, JSON.stringify(answer.body)).toBe(403);
    expect(answer.body.error).toMatchObject({
      code: 'FEEDER_ERR_FORBIDDEN',
      message: expect.stringMatching(/takes requests only from clients with a certificate signed by its daemon.tls.clientCa/),
    });
    // A wrong token would be a 401: the certificate is checked first, the token not at all.
    for (const client of [undefined, certs.foreign]) {
      const refused = await httpsCall({
        port: port(holder),
        method: 'GET',
        path: '/deployments',
        token: 'wrong-token-of-enough-length',
        ca: certs.ca,
        ...(client ? { client } : {}),
      });
      expect(refused.status).toBe(403);
      expect(refused.body.error.message).toMatch(client ? /its certificate was signed by another CA/ : /it presented no certificate/);
    }
  });

  it('the CLI under mutual TLS: with --tls-cert and --tls-key it is served; without them, refused saying so', async () => {
    const url = ['--daemon-url', `https://127.0.0.1:${port(holder)}`, '--daemon-ca-certs', certs.ca];
    const env = { FEEDER_TOKEN: TOKEN };
    const served = await feeder(['status', ...url, '--tls-cert', certs.server.cert, '--tls-key', certs.server.key], { env });
    expect(served.exitCode, served.stderr).toBe(0);
    const refused = await feeder(['status', ...url], { env });
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(
      /takes requests only from clients with a certificate signed by its daemon.tls.clientCa \(it presented no certificate\).*the CLI its --tls-cert and --tls-key \(FEEDER_ERR_FORBIDDEN\)/,
    );
  });

  it("the holder's certificate for another name, then an expired one: the forward fails naming each; renewed, it succeeds again", async () => {
    const live = lives.get(holder.name)!;
    await serveLeaf(holder, live, certs.wrongName, { client: certs.server });
    await reloadForwarder(bystander);
    const mismatch = await infer(bystander);
    expect(mismatch.status).toBe(502);
    expect(mismatch.body.error.message).toMatch(/name mismatch: its TLS certificate does not name the address it advertises/);
    await serveLeaf(holder, live, certs.expired, { client: certs.server });
    await reloadForwarder(bystander);
    const expired = await infer(bystander);
    expect(expired.status).toBe(502);
    expect(expired.body.error.message).toMatch(/expired: its TLS certificate is outside its validity dates/);
    await serveLeaf(holder, live, certs.renewed, { client: certs.server });
    await reloadForwarder(bystander);
    expect((await infer(bystander)).status).toBe(200);
  });
});

describe('a fleet that mixes members with and without TLS', () => {
  it('a member with TLS never forwards to a plain-HTTP holder: 502 saying why, /fleet names the problem and the fix', async () => {
    const mixed = new TestFleet(uniqueId('fleet'), null, {});
    const { modelId: plainModel } = await storedModel(20_000);
    try {
      const plain = await mixed.add(`${mixed.fleet}-plain`, {});
      const plainCall = (method: string, path: string, body?: unknown) =>
        fetch(`http://${plain.listen}${path}`, {
          method,
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      // Alone in the fleet, the plain member takes the one allocation.
      const deployed = await plainCall('PUT', deployPath(plainModel), { allocations: 1, wait_for: 'started', timeout_ms: 30_000 });
      expect(deployed.status, await deployed.clone().text()).toBe(200);
      const live = await liveCopy(certs.server);
      const secure = await startDaemon({
        name: `${mixed.fleet}-tls`,
        config: { daemon: { ...FLEET_TIMING, fleet: mixed.fleet } },
        env: {
          FEEDER_TOKEN: TOKEN,
          FEEDER_ADVERTISE: 'localhost',
          FEEDER_TLS_CERT: live.cert,
          FEEDER_TLS_KEY: live.key,
          FEEDER_DAEMON_CA_CERTS: certs.ca,
        },
      });
      mixed.members.push(secure);
      mixed.everyone.push(secure);
      const viaSecure = (method: string, path: string, body?: unknown) =>
        httpsCall({ port: port(secure), method, path, body, token: TOKEN, ca: certs.ca });
      // From its start on, its presence says it serves TLS, at the address it listens on: a member
      // that read it as plain HTTP would be refused its forwards, or send the token in clear.
      const started = await plainCall('GET', '/fleet');
      const presence = ((await started.json()) as { daemons: Array<{ daemon: string; tls: boolean; listen: string }> }).daemons;
      expect(presence.find((d) => d.daemon === secure.name)).toMatchObject({ tls: true, listen: `localhost:${port(secure)}` });

      let answer: HttpsAnswer;
      for (let tries = 1; ; tries++) {
        answer = await viaSecure('POST', `${deployPath(plainModel)}/infer`, { tokens: [[3]] });
        if (answer.status !== 503 || tries === 40) break;
        await sleep(250);
      }
      expect(answer.status, JSON.stringify(answer.body)).toBe(502);
      expect(answer.body.error.message).toContain(
        `daemon '${plain.name}' at ${plain.listen} serves plain HTTP, and a member with daemon.tls never sends the fleet token in clear; give every member of the fleet daemon.tls`,
      );
      // The plain member never saw the request, nor the token with it.
      const local = (await (await plainCall('GET', '/deployments')).json()) as { deployments: Array<{ inference_count: number }> };
      expect(local.deployments.map((d) => d.inference_count)).toEqual([0]);
      await secure.waitForLog((l) => l.event?.action === 'fleet-forward' && JSON.stringify(l).includes('serves plain HTTP'));

      const status = await viaSecure('GET', '/fleet');
      expect(status.body.daemons.map((d: { tls: boolean }) => d.tls)).toEqual([false, true]);
      const problem = `daemon(s) ${plain.name} serve plain HTTP while ${secure.name} serve TLS: the members with TLS do not forward inferences to the others, which would send the fleet token in clear; give every member daemon.tls`;
      expect(status.body.problems).toEqual([problem]);
      // An operator reads it in `feeder status` too, from any member.
      const shown = await feeder(['status', '--daemon-url', `http://${plain.listen}`], { env: { FEEDER_TOKEN: TOKEN } });
      expect(shown.exitCode, shown.stderr).toBe(0);
      expect(shown.stdout).toContain(`warning: ${problem}`);
    } finally {
      await mixed.stop();
    }
  }, 90_000);
});
