import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** The built CLI (`feeder`), as the benchmarks run it. */
export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const PEAK_RSS = new URL('./peak-rss.js', import.meta.url).href;

export interface FeederRun {
  /** The whole command, process start to exit. */
  wallS: number;
  /** Spawn until the CLI logs `upload-start`: node start, module loading, templates, meta document. */
  startupS: number | null;
  /** What the CLI itself logs as the upload's duration (templates, plan, chunks, refresh, count, commit). */
  uploadS: number | null;
  peakRssMib: number;
}

/** `feeder upload <file>` as a child process, timed from spawn to exit, with its peak RSS. */
export async function feederUpload(
  esUrl: string,
  file: string,
  modelId: string,
  chunkSize: string,
  rssFile: string,
  encoding?: string,
): Promise<FeederRun> {
  const started = performance.now();
  const spawnedAt = Date.now();
  const encodingArgs = encoding ? ['--encoding', encoding] : [];
  const run = await runCli(['upload', file, '--model-id', modelId, '--chunk-size', chunkSize, ...encodingArgs], {
    ES_URL: esUrl,
    BENCH_PEAK_RSS_FILE: rssFile,
  });
  const wallS = (performance.now() - started) / 1000;
  if (run.code !== 0) throw new Error(`feeder upload exited with ${run.code}: ${errorLine(run.stderr)}`);
  const peakRssMib = Number(await readFile(rssFile, 'utf8')) / 1024;
  await rm(rssFile, { force: true });
  return { wallS, ...loggedPhases(run.stderr, spawnedAt), peakRssMib };
}

/** The CLI's `feeder: <message>` line, or the last line of its stderr. */
function errorLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  return lines.findLast((l) => l.startsWith('feeder:')) ?? lines.at(-1) ?? '';
}

/** `feeder models delete <id>`; a model that was never created is not an error. */
export async function feederDelete(esUrl: string, modelId: string): Promise<void> {
  const run = await runCli(['models', 'delete', modelId], { ES_URL: esUrl });
  if (run.code !== 0 && !run.stderr.includes('FEEDER_ERR_MODEL_NOT_FOUND')) {
    throw new Error(`feeder models delete ${modelId} exited with ${run.code}: ${run.stderr.trim()}`);
  }
}

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', PEAK_RSS, CLI, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/** From the CLI's ECS log lines: when `upload-start` was logged, and the `upload` event's duration (ns). */
function loggedPhases(stderr: string, spawnedAt: number): { startupS: number | null; uploadS: number | null } {
  let startupS: number | null = null;
  let uploadS: number | null = null;
  for (const line of stderr.split('\n')) {
    if (!line.includes('"action":"upload')) continue;
    const record = JSON.parse(line) as { '@timestamp': string; event: { action: string; duration?: number } };
    if (record.event.action === 'upload-start') startupS = (Date.parse(record['@timestamp']) - spawnedAt) / 1000;
    if (record.event.action === 'upload' && record.event.duration !== undefined) uploadS = record.event.duration / 1e9;
  }
  return { startupS, uploadS };
}
