import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, inject } from 'vitest';
import { loadConfig, type FeederConfig } from '../../src/config/config.js';
import { Es } from '../../src/es/es.js';
import type { Logger } from '../../src/log/logger.js';

export const esUrl = (): string => inject('esUrl');

/** The project's configuration pointed at the test cluster, ignoring the environment and any config file. */
export function testConfig(change: (config: FeederConfig) => void = () => {}): FeederConfig {
  const config = loadConfig({ esUrl: esUrl(), config: undefined }, {});
  change(config);
  return config;
}

const open: Es[] = [];
afterAll(async () => {
  await Promise.all(open.splice(0).map((es) => es.close()));
});

export function newEs(url = esUrl()): Es {
  const es = new Es({ ...testConfig().elasticsearch, url });
  open.push(es);
  return es;
}

export function uniqueId(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** A logger whose JSON lines are kept in `lines`, for tests that read what was logged. */
export function captureLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line));
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'feeder-test-'));
  dirs.push(dir);
  return dir;
}

/** A file of random bytes; returns its path and content. */
export async function randomModelFile(size: number, name = 'model.pt'): Promise<{ path: string; bytes: Buffer }> {
  const bytes = randomBytes(size);
  const path = join(await tempDir(), name);
  await writeFile(path, bytes);
  return { path, bytes };
}
