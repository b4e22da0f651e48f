import { execa, type Options } from 'execa';
import { join } from 'node:path';
import { packageRoot } from '../../src/config/paths.js';
import { esUrl } from './es.js';

export const CLI = join(packageRoot(), 'build', 'src', 'cli', 'main.js');

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs the built `feeder` command as a user would, against the test cluster unless ES_URL is overridden. */
export async function feeder(args: string[], options: { env?: Record<string, string>; input?: Buffer | string } & Options = {}): Promise<CliResult> {
  const { env, ...rest } = options;
  const result = await execa('node', [CLI, ...args], {
    reject: false,
    env: { ES_URL: esUrl(), FEEDER_LOG_LEVEL: 'info', ...env },
    ...rest,
  });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}
