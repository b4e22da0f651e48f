// TLS material made by openssl at test time, and an HTTPS caller that says which certificate it was served.
import { X509Certificate } from 'node:crypto';
import { chmod, copyFile, readFile } from 'node:fs/promises';
import { request, type Agent } from 'node:https';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeCa, makeLeaf, type Leaf } from '../../bench/support/openssl.js';
import type { RunningDaemon } from './daemon.js';
import { tempDir } from './es.js';

export type { Leaf };

export interface Certificates {
  dir: string;
  /** The CA the daemons' certificates come from, and another that no one trusts. */
  ca: string;
  otherCa: string;
  /** For 127.0.0.1 and localhost, from `ca`; `renewed` is a second one, as a renewal gives. */
  server: Leaf;
  renewed: Leaf;
  /** From `ca`, for a name no daemon here has. */
  wrongName: Leaf;
  /** From `ca`, for 127.0.0.1 and localhost, expired yesterday. */
  expired: Leaf;
  /** For 127.0.0.1 and localhost, from `otherCa`. */
  foreign: Leaf;
}

const LOCAL_NAMES = 'subjectAltName=IP:127.0.0.1,DNS:localhost';

/** A CA, certificates it signed (right, renewed, for another name, expired), and another CA with one of its own. */
export async function makeCertificates(): Promise<Certificates> {
  const dir = await tempDir();
  const ca = await makeCa(dir, 'ca');
  const otherCa = await makeCa(dir, 'other-ca');
  const leaf = makeLeaf.bind(null, dir);
  return {
    dir,
    ca,
    otherCa,
    server: await leaf('server', 'ca', LOCAL_NAMES),
    renewed: await leaf('renewed', 'ca', LOCAL_NAMES),
    wrongName: await leaf('wrong-name', 'ca', 'subjectAltName=DNS:elsewhere.example'),
    expired: await leaf('expired', 'ca', LOCAL_NAMES, -1),
    foreign: await leaf('foreign', 'other-ca', LOCAL_NAMES),
  };
}

/** Puts `leaf` where a daemon reads its certificate and key (`live`), as an operator's renewal would. */
export async function installLeaf(leaf: Leaf, live: Leaf): Promise<void> {
  await copyFile(leaf.cert, live.cert);
  await copyFile(leaf.key, live.key);
  await chmod(live.key, 0o600);
}

/** Swaps the daemon's files to `leaf`, signals it (or not), and waits until new connections are served the new certificate. */
export async function serveLeaf(
  daemon: RunningDaemon,
  live: Leaf,
  leaf: Leaf,
  { signal = 'SIGHUP', client }: { signal?: NodeJS.Signals | null; client?: Leaf } = {},
): Promise<void> {
  await installLeaf(leaf, live);
  if (signal) daemon.child.kill(signal);
  const expected = await fingerprintOf(leaf.cert);
  const port = Number(daemon.listen.split(':').pop());
  for (let waited = 0; waited < 15_000; waited += 100) {
    const served = await httpsCall({ port, method: 'GET', path: '/healthz', verify: false, ...(client ? { client } : {}) });
    if (served.fingerprint === expected) return;
    await sleep(100);
  }
  throw new Error(`daemon '${daemon.name}' never served ${leaf.cert}`);
}

/** A copy of `leaf` of the daemon's own, to swap without touching the others'. */
export async function liveCopy(leaf: Leaf): Promise<Leaf> {
  const dir = await tempDir();
  const live = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
  await installLeaf(leaf, live);
  return live;
}

export async function fingerprintOf(cert: string): Promise<string> {
  return new X509Certificate(await readFile(cert)).fingerprint256;
}

export interface HttpsAnswer {
  status: number;
  body: any;
  servedBy: string | undefined;
  /** The certificate the daemon presented. */
  fingerprint: string;
}

export interface HttpsCall {
  port: number;
  method: string;
  path: string;
  body?: unknown;
  token?: string;
  headers?: Record<string, string>;
  /** What the caller trusts, and its own certificate for mutual TLS. */
  ca?: string | string[];
  client?: Leaf;
  /** False: whatever certificate is served is taken, for a test that only looks at it. */
  verify?: boolean;
  /** Default: a connection of its own. */
  agent?: Agent;
}

/** One request on a connection of its own, so that each one sees the certificate served now. */
export async function httpsCall(call: HttpsCall): Promise<HttpsAnswer> {
  const payload = call.body === undefined ? undefined : JSON.stringify(call.body);
  const tls = {
    ...(call.ca ? { ca: await Promise.all([call.ca].flat().map((file) => readFile(file))) } : {}),
    ...(call.client ? { cert: await readFile(call.client.cert), key: await readFile(call.client.key) } : {}),
    rejectUnauthorized: call.verify ?? true,
  };
  const headers: Record<string, string> = { ...(payload ? { 'content-type': 'application/json' } : {}), ...call.headers };
  if (call.token) headers.authorization = `Bearer ${call.token}`;
  return new Promise((resolve, reject) => {
    const outgoing = request(
      { host: '127.0.0.1', port: call.port, method: call.method, path: call.path, headers, agent: call.agent ?? false, ...tls },
      (response) => {
        const fingerprint = (response.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256;
        let text = '';
        response.setEncoding('utf8').on('data', (part: string) => (text += part));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            body: text ? JSON.parse(text) : undefined,
            servedBy: response.headers['x-feeder-served-by'] as string | undefined,
            fingerprint,
          }),
        );
      },
    );
    outgoing.on('error', reject);
    outgoing.end(payload);
  });
}
