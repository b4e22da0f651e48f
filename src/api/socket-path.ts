import type { Stats } from 'node:fs';
import { lstat, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { ListenError } from '../errors.js';

/**
 * Clears the way for the control API's Unix socket. A socket no one answers on is what a daemon
 * killed outright leaves behind, and is removed. Anything else at the path belongs to someone: a
 * running daemon's socket, or a file, directory or link that `--listen` names by mistake. It is
 * refused, never removed. The link itself is judged, not what it points to.
 */
export async function prepareSocketPath(path: string): Promise<void> {
  const stats = await statOrNothing(path);
  if (!stats) return;
  if (!stats.isSocket()) throw refusal(path, `${path} is a ${kindOf(stats)}, not a socket; remove it yourself or choose another path`);
  if (await someoneAnswers(path)) throw refusal(path, 'another daemon listens on it; stop that one first or choose another path');
  await rm(path, { force: true });
}

async function statOrNothing(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw refusal(path, (error as Error).message, error);
  }
}

function kindOf(stats: Stats): string {
  if (stats.isFile()) return 'regular file';
  if (stats.isDirectory()) return 'directory';
  if (stats.isSymbolicLink()) return 'symbolic link';
  if (stats.isFIFO()) return 'named pipe';
  return 'device';
}

/** Connected: someone listens. Refused: a stale socket. Anything else (EACCES, EAGAIN) is not ours to remove. */
function someoneAnswers(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') resolve(false);
      else reject(refusal(path, `the socket there cannot be probed (${error.message}), so it is left alone`, error));
    });
  });
}

function refusal(path: string, reason: string, cause?: unknown): ListenError {
  return new ListenError(`cannot listen on unix:${path}: ${reason}`, { cause });
}
