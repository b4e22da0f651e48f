import { join } from 'node:path';
import { execa } from 'execa';
import { FeederError, SourceError } from '../errors.js';
import { packageRoot } from '../config/paths.js';

/**
 * Runs scripts/import-model.py with the Python that scripts/install-torch.sh installed (or
 * FEEDER_IMPORT_PYTHON), and returns what it prints. Its bad-input exit (2) becomes a SourceError
 * carrying the script's own line, which names the problem and the fix.
 */
export async function runImportScript(args: string[], signal?: AbortSignal): Promise<string> {
  const python = await importPython();
  const result = await execa(python, [join(packageRoot(), 'scripts', 'import-model.py'), ...args], {
    reject: false,
    stdin: 'ignore',
    ...(signal ? { cancelSignal: signal } : {}),
  });
  if (result.exitCode === 0) return result.stdout;
  const said = scriptLine(result.stderr);
  if (result.exitCode === 2 && said !== null) throw new SourceError(said);
  throw new FeederError(`the import script failed (exit ${result.exitCode ?? result.signal}): ${said ?? tail(result.stderr)}`);
}

async function importPython(): Promise<string> {
  const configured = process.env.FEEDER_IMPORT_PYTHON;
  if (configured) return configured;
  const found = await execa('bash', [join(packageRoot(), 'scripts', 'install-torch.sh'), 'path', 'python'], { reject: false });
  if (found.exitCode !== 0) {
    throw new FeederError(
      `importing a model needs the Python with torch and transformers that scripts/install-torch.sh installs: ${tail(found.stderr)}`,
    );
  }
  return found.stdout.trim();
}

function scriptLine(stderr: string): string | null {
  const line = stderr
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('import-model: '));
  return line === undefined ? null : line.slice('import-model: '.length);
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-5).join('\n');
}
