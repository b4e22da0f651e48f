import { once } from 'node:events';
import { chmod, copyFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { feeder } from '../support/cli.js';
import {
  fingerprintOf,
  httpsCall,
  installLeaf,
  liveCopy,
  type HttpsAnswer,
  makeCertificates,
  serveLeaf,
  type Certificates,
  type Leaf,
} from '../support/certificates.js';
import { freePort, startDaemon, type RunningDaemon } from '../support/daemon.js';
import { storedModel } from '../support/deploy.js';
import { tempDir, uniqueId } from '../support/es.js';
import { deployPath } from '../support/races.js';

// A daemon on loopback serving TLS with certificates openssl made for this run, and the CLI that
// checks it: right CA, another CA, a certificate for another name, an expired one.

const port = (daemon: RunningDaemon) => Number(daemon.listen.split(':').pop());

let certs: Certificates;
let live: Leaf;
let daemon: RunningDaemon;

/** The CLI against the TLS daemon at `url`, trusting `ca` when given. */
const status = (url: string, ca?: string) => feeder(['status', '--daemon-url', url, ...(ca ? ['--daemon-ca-certs', ca] : [])], { env: {} });

const serve = (leaf: Leaf, signal: NodeJS.Signals | null = 'SIGHUP') => serveLeaf(daemon, live, leaf, { signal });

beforeAll(async () => {
  certs = await makeCertificates();
  live = await liveCopy(certs.server);
  daemon = await startDaemon({ env: { FEEDER_TLS_CERT: live.cert, FEEDER_TLS_KEY: live.key, FEEDER_DAEMON_CA_CERTS: certs.ca } });
});
afterAll(async () => {
  expect((await daemon?.stop())?.exitCode).toBe(0);
});

describe('the CLI and a daemon that serves TLS', () => {
  it('succeeds with the right CA, from the flag or FEEDER_DAEMON_CA_CERTS, by IP or by the name the certificate holds', async () => {
    const url = `https://127.0.0.1:${port(daemon)}`;
    const flag = await status(url, certs.ca);
    expect(flag.exitCode, flag.stderr).toBe(0);
    expect(flag.stdout).toBe('no deployments');
    const env = await feeder(['status'], {
      env: { FEEDER_DAEMON_URL: `https://localhost:${port(daemon)}`, FEEDER_DAEMON_CA_CERTS: certs.ca },
    });
    expect(env.exitCode, env.stderr).toBe(0);
    // With the daemon's own config (its certificate set), the CLI reaches it over TLS at its listen address.
    const local = await daemon.cli(['status']);
    expect(local.exitCode, local.stderr).toBe(0);
  });

  it('fails with another CA, or none, naming an unknown CA and the flag to give it', async () => {
    for (const ca of [certs.otherCa, undefined]) {
      const refused = await status(`https://127.0.0.1:${port(daemon)}`, ca);
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toMatch(
        /was refused: unknown CA: .*give the CA that signed it with --daemon-ca-certs \/ FEEDER_DAEMON_CA_CERTS/,
      );
    }
  });

  it('fails on a certificate for another name, then on an expired one, naming each; the right one is served again after', async () => {
    await serve(certs.wrongName);
    const mismatch = await status(`https://127.0.0.1:${port(daemon)}`, certs.ca);
    expect(mismatch.exitCode).toBe(1);
    expect(mismatch.stderr).toMatch(/was refused: name mismatch: the daemon presented a TLS certificate issued for another name/);
    await serve(certs.expired);
    const expired = await status(`https://127.0.0.1:${port(daemon)}`, certs.ca);
    expect(expired.exitCode).toBe(1);
    expect(expired.stderr).toMatch(/was refused: expired: the daemon presented a TLS certificate outside its validity dates/);
    await serve(certs.server);
    expect((await status(`https://127.0.0.1:${port(daemon)}`, certs.ca)).exitCode).toBe(0);
  });

  it('takes a page of its own https origin, and refuses the http one, which is another origin', async () => {
    const withOrigin = (origin: string) =>
      httpsCall({ port: port(daemon), method: 'GET', path: '/deployments', ca: certs.ca, headers: { origin } });
    expect((await withOrigin(`https://127.0.0.1:${port(daemon)}`)).status).toBe(200);
    expect((await withOrigin(`http://127.0.0.1:${port(daemon)}`)).status).toBe(403);
  });

  it('plain HTTP to the TLS listener is answered in plain HTTP: use https://', async () => {
    const plain = await status(`http://127.0.0.1:${port(daemon)}`);
    expect(plain.exitCode).toBe(1);
    expect(plain.stderr).toMatch(/this daemon serves its control API over TLS only: use https:\/\/ .*\(FEEDER_ERR_BAD_REQUEST\)/);
    const answer = await fetch(`http://127.0.0.1:${port(daemon)}/healthz`);
    expect(answer.status).toBe(400);
  });

  it('TLS to a plain listener: the message says the daemon speaks plain HTTP', async () => {
    const plainDaemon = await startDaemon();
    try {
      const refused = await status(`https://127.0.0.1:${port(plainDaemon)}`, certs.ca);
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toMatch(/was refused: the daemon does not speak TLS here: it serves plain HTTP; use http:\/\//);
    } finally {
      await plainDaemon.stop();
    }
  });
});

/** Inferences one after another until stopped: what failed, how many were right, and which certificates were served. */
function inferenceLoop(call: (body: unknown) => Promise<HttpsAnswer>, bytes: Buffer) {
  const result = { failures: [] as string[], answered: 0, seen: new Set<string>() };
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const token = i % bytes.length;
      const answer = await call({ tokens: [[token]] }).catch((error: Error) => error);
      if (answer instanceof Error) result.failures.push(answer.message);
      else if (answer.status !== 200 || answer.body.result.inference[0][0][0] !== bytes[token]! / 255)
        result.failures.push(JSON.stringify(answer.body));
      else {
        result.seen.add(answer.fingerprint);
        result.answered++;
      }
    }
  })();
  return async () => {
    running = false;
    await loop;
    return result;
  };
}

describe('a certificate renewed on disk', () => {
  it('is served after SIGHUP, and after the files change without a signal, while inference loops see no failed request and an open connection stays open', async () => {
    const { modelId, bytes } = await storedModel(50_000);
    const call = (method: string, path: string, body?: unknown, agent?: Agent) =>
      httpsCall({ port: port(daemon), method, path, body, ca: certs.ca, ...(agent ? { agent } : {}) });
    const deployed = await call('PUT', deployPath(modelId), { wait_for: 'started', timeout_ms: 30_000 });
    expect(deployed.status, JSON.stringify(deployed.body)).toBe(200);
    const infer = `${deployPath(modelId)}/infer`;
    // One loop opens a connection per request, so each sees the certificate served now; the other keeps one open throughout.
    const stopFresh = inferenceLoop((body) => call('POST', infer, body), bytes);
    const kept = new Agent({ keepAlive: true, maxSockets: 1 });
    const stopKept = inferenceLoop((body) => call('POST', infer, body, kept), bytes);
    await sleep(300);
    await serve(certs.renewed, 'SIGHUP');
    await sleep(300);
    await serve(certs.server, null);
    await sleep(300);
    const [fresh, open] = [await stopFresh(), await stopKept()];
    kept.destroy();
    expect(fresh.failures).toEqual([]);
    expect(open.failures).toEqual([]);
    expect(fresh.answered).toBeGreaterThan(20);
    expect(open.answered).toBeGreaterThan(20);
    const [first, renewed] = [await fingerprintOf(certs.server.cert), await fingerprintOf(certs.renewed.cert)];
    expect(fresh.seen).toEqual(new Set([first, renewed]));
    expect(open.seen).toEqual(new Set([first]));
    const reloads = daemon.logs.filter((l) => l.event?.action === 'tls-reload' && l.event.outcome === 'success');
    expect(reloads.map((l) => l.feeder.trigger)).toEqual(expect.arrayContaining(['SIGHUP', 'a changed file']));
    expect((await call('DELETE', deployPath(modelId))).status).toBe(200);
  });
});

describe('a renewal that cannot be served', () => {
  it('is logged, and the certificate loaded before is still served: a key file others can read', async () => {
    await installLeaf(certs.renewed, live);
    await chmod(live.key, 0o644);
    daemon.child.kill('SIGHUP');
    const failed = await daemon.waitForLog((l) => l.event?.action === 'tls-reload' && l.event.outcome === 'failure');
    expect(failed.message).toMatch(
      /the TLS certificate could not be reloaded \(the TLS key file .* is open to other users \(mode 0644\).*the one loaded before is still served/,
    );
    const served = await httpsCall({ port: port(daemon), method: 'GET', path: '/healthz', ca: certs.ca });
    expect(served.fingerprint).toBe(await fingerprintOf(certs.server.cert));
    await serve(certs.server);
  });
});

describe('a connection to the TLS listener that never sends a byte', () => {
  it('does not hold up the daemon when it stops', async () => {
    const quiet = await startDaemon({ env: { FEEDER_TLS_CERT: certs.server.cert, FEEDER_TLS_KEY: certs.server.key } });
    const socket = connect(port(quiet), '127.0.0.1');
    await once(socket, 'connect');
    try {
      const stopped = await Promise.race([quiet.stop(), sleep(8000).then(() => null)]);
      expect(stopped, 'the daemon was still stopping after 8 s').not.toBeNull();
      expect(stopped!.exitCode, quiet.output().slice(-1500)).toBe(0);
    } finally {
      socket.destroy();
      quiet.child.kill('SIGKILL');
    }
  });
});

describe('feeder serve with TLS settings that cannot be served', () => {
  const refusedServe = (env: Record<string, string>) =>
    feeder(['serve'], { env: { FEEDER_DAEMON_NAME: uniqueId('refused'), FEEDER_LISTEN: `127.0.0.1:${0}`, ...env }, timeout: 15_000 });

  it('refuses a key file that others can read, with the chmod to run, and listens on nothing', async () => {
    const key = join(await tempDir(), 'key.pem');
    await copyFile(certs.server.key, key);
    await chmod(key, 0o644);
    const listen = `127.0.0.1:${await freePort()}`;
    const refused = await refusedServe({ FEEDER_LISTEN: listen, FEEDER_TLS_CERT: certs.server.cert, FEEDER_TLS_KEY: key });
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain(
      `the TLS key file '${key}' given by daemon.tls.key (FEEDER_TLS_KEY, --tls-key) is open to other users (mode 0644); run: chmod 600 ${key}`,
    );
    await expect(fetch(`http://${listen}/healthz`)).rejects.toThrow();
  });

  it('refuses a certificate without its key, and a key that is not the certificate’s', async () => {
    const alone = await refusedServe({ FEEDER_TLS_CERT: certs.server.cert });
    expect(alone.exitCode).toBe(2);
    expect(alone.stderr).toMatch(/daemon.tls.cert .* and daemon.tls.key .* go together/);
    const mismatched = await refusedServe({ FEEDER_TLS_CERT: certs.server.cert, FEEDER_TLS_KEY: certs.renewed.key });
    expect(mismatched.exitCode).toBe(2);
    expect(mismatched.stderr).toMatch(/cannot be served \(.*\); give a PEM certificate and the private key it was issued for/);
  });
});
