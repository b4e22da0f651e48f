import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { NativeProcessError } from '../errors.js';

/**
 * The file to run for `deploy.command`: a path (anything with a slash) as it is, a bare name
 * looked up on `path` the way execvp(3) would, with the PATH the process itself gets. Checked here
 * so that a wrong command is refused with its reason before anything is spawned.
 */
export async function resolveCommand(command: string, path: string | undefined): Promise<string> {
  if (command.includes('/')) {
    await access(command, constants.X_OK).catch((error: NodeJS.ErrnoException) => {
      throw new NativeProcessError(
        `the native process '${command}' cannot be run (${error.code}); build the stub with 'feeder native build-stub' or set deploy.command / FEEDER_NATIVE_COMMAND`,
      );
    });
    return command;
  }
  // An empty PATH entry means the working directory to execvp; a daemon's working directory is no place to find programs in.
  for (const dir of (path ?? '').split(':').filter((d) => d.startsWith('/'))) {
    const candidate = join(dir, command);
    if (await isExecutableFile(candidate)) return candidate;
  }
  throw new NativeProcessError(
    `the native process '${command}' is not found on PATH (${path ?? 'unset'}); give its full path in deploy.command / FEEDER_NATIVE_COMMAND, or add its folder to PATH (the daemon's, or deploy.env.PATH)`,
  );
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
