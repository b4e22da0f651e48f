import { spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../../scripts/elasticsearch.sh', import.meta.url));

export interface EsNode {
  url: string;
  /** Stops the node if this benchmark started it; otherwise does nothing. */
  stop(): Promise<void>;
}

/**
 * ES_URL when set; otherwise the project's single-node Elasticsearch `name` on `port`: used as it is
 * when something already answers on its port, else started fresh here and stopped by `stop`.
 */
export async function benchElasticsearch(name = 'bench', port = 9270): Promise<EsNode> {
  if (process.env.ES_URL) return { url: process.env.ES_URL, stop: async () => {} };
  const url = `http://127.0.0.1:${port}`;
  if (await answers(url)) return { url, stop: async () => {} };
  const out = await script(['start', '--name', name, '--port', String(port), '--fresh']).catch(async (error: unknown) => {
    // A start that failed half-way may have left the node running.
    await script(['stop', '--name', name]).catch(() => {});
    throw error;
  });
  return { url: out.trim().split('\n').pop()!, stop: () => script(['stop', '--name', name]).then(() => {}) };
}

function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(`${url}/_cluster/health`, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

function script(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`elasticsearch.sh ${args[0]} failed (${code}): ${err.trim()}`)),
    );
  });
}
