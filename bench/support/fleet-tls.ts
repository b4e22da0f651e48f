// Inference through a fleet member that holds nothing, so that every request is forwarded to the
// holder: over TLS (client to member, member to holder) against plain HTTP, at 16 clients. The
// target of issue 21: TLS at no less than 0.8 times the plain req/s.
import { fileURLToPath } from 'node:url';
import type { FleetModelStatus } from '../../src/api/wire-types.js';
import { startFeederServe, type FeederServe } from './feeder-serve.js';
import type { LoadOptions, LoadReport } from './load-generator.js';
import { runNode } from './node-child.js';
import { makeCa, makeLeaf } from './openssl.js';
import { round } from './report.js';

const LOAD_GENERATOR = fileURLToPath(new URL('./load-generator.js', import.meta.url));
export const FORWARD_CLIENTS = 16;
export const TLS_RATIO_MIN = 0.8;

interface BenchTls {
  ca: string;
  cert: string;
  key: string;
}

export interface ForwardRun {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
}

export interface ForwardComparison {
  clients: number;
  duration_s: number;
  plain: ForwardRun;
  tls: ForwardRun;
  tls_ratio: number;
}

/** The same model, the same load, through a plain fleet of two, then through one that serves TLS. */
export async function compareForwarding(esUrl: string, dir: string, modelId: string, durationMs: number): Promise<ForwardComparison> {
  const ca = await makeCa(dir, 'bench-ca');
  const leaf = await makeLeaf(dir, 'bench-daemon', 'bench-ca', 'subjectAltName=IP:127.0.0.1');
  const plain = await forwardRun(esUrl, dir, modelId, durationMs);
  const tls = await forwardRun(esUrl, dir, modelId, durationMs, { ca, ...leaf });
  return { clients: FORWARD_CLIENTS, duration_s: durationMs / 1000, plain, tls, tls_ratio: round(tls.rps / Math.max(1, plain.rps), 3) };
}

async function forwardRun(esUrl: string, dir: string, modelId: string, durationMs: number, tls?: BenchTls): Promise<ForwardRun> {
  const fleet = `bench-forward-${tls ? 'tls' : 'plain'}-${process.pid}`;
  const daemon = tls ? { fleet, tls: { cert: tls.cert, key: tls.key }, caCerts: tls.ca } : { fleet };
  const members: FeederServe[] = [];
  try {
    for (const i of [0, 1])
      members.push(await startFeederServe({ esUrl, dir, name: `${fleet}-d${i}`, config: { daemon }, ...(tls ? { ca: tls.ca } : {}) }));
    const path = `/deployments/${modelId}`;
    const status = await members[0]!.call<FleetModelStatus>('PUT', path, { allocations: 1, wait_for: 'started', timeout_ms: 300_000 });
    if (status.state !== 'started') throw new Error(`the deploy ended ${status.state}: ${JSON.stringify(status)}`);
    const forwarder = members[status.items[0]!.daemon === `${fleet}-d0` ? 1 : 0]!;
    const load: LoadOptions = {
      origin: forwarder.url,
      method: 'POST',
      path: `${path}/infer`,
      body: JSON.stringify({ tokens: [[1, 2, 3]] }),
      contentType: 'application/json',
      connections: FORWARD_CLIENTS,
      warmupMs: 2000,
      durationMs,
      expect: '"inference"',
      ...(tls ? { ca: tls.ca } : {}),
    };
    const report = JSON.parse(
      (await runNode([LOAD_GENERATOR, JSON.stringify(load)], new AbortController().signal)).trim().split('\n').pop()!,
    ) as LoadReport;
    await members[0]!.call('DELETE', path);
    console.error(`bench: forwarding over ${tls ? 'TLS' : 'plain HTTP'}: ${round(report.rps)} req/s, ${report.errors} errors`);
    return { rps: round(report.rps), p50_ms: round(report.p50_ms, 3), p99_ms: round(report.p99_ms, 3), errors: report.errors };
  } finally {
    for (const member of members) await member.stop();
  }
}
