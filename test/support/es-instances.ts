// The Elasticsearch instances the suite runs on are shared: by the test files of a run, and by runs
// side by side (a second checkout, the nested runs of es-instances.test.ts). An instance a test run
// started is stopped by the last run using it when that run ends, unless FEEDER_TEST_KEEP_ES=1 keeps
// it; one that was running before (a developer's, or one a kept run left) is left running.
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/config/paths.js';

const SCRIPT = join(packageRoot(), 'scripts', 'elasticsearch.sh');
/** What `flock -n` exits with when another process holds the lock. */
const BUSY = 75;

export type Release = () => Promise<void>;

/** Takes a flock (shared or exclusive), held by a child process until `release`, or until this process dies. */
export async function holdLock(path: string, shared = false): Promise<Release> {
  const release = await lock(path, shared ? ['-s'] : []);
  if (!release) throw new Error(`could not take ${path}`);
  return release;
}

/** The exclusive lock if no one holds the lock now; null otherwise. */
export function tryLock(path: string): Promise<Release | null> {
  return lock(path, ['-n', '-E', String(BUSY)]);
}

async function lock(path: string, flags: string[]): Promise<Release | null> {
  const holder = execa('flock', [...flags, path, 'sh', '-c', 'echo locked; exec cat >/dev/null'], { stdin: 'pipe', reject: false });
  const taken = await new Promise<boolean>((resolve, reject) => {
    holder.stdout.once('data', () => resolve(true));
    void holder.then((result) => {
      if (result.exitCode === BUSY) resolve(false);
      else reject(new Error(`could not take ${path}: ${String(result.stderr)}`));
    });
  });
  if (!taken) return null;
  return async () => {
    holder.stdin.end();
    await holder;
  };
}

/** Where a run that started instance `name` says so, for the last run using it to stop it. */
export function startedMark(name: string): string {
  return join(tmpdir(), `feeder-test-es-${name}.started`);
}

export async function markStarted(name: string): Promise<void> {
  await writeFile(startedMark(name), `${process.pid}\n`);
}

/** Removes what this module keeps about instance `name`, once the instance itself is removed. */
export async function forgetInstance(name: string): Promise<void> {
  await Promise.all([rm(startedMark(name), { force: true }), rm(usersLock(name), { force: true })]);
}

function usersLock(name: string): string {
  return join(tmpdir(), `feeder-test-es-${name}.users.lock`);
}

/**
 * Holds instances `names` in use for the rest of the run: a run that ends meanwhile leaves them
 * running. The function returned, called as the run ends, stops those a test run started, unless
 * another run still uses them (the last one out stops them) or FEEDER_TEST_KEEP_ES=1.
 */
export async function useInstances(names: string[]): Promise<Release> {
  const held = await Promise.all(names.map((name) => holdLock(usersLock(name), true)));
  return async () => {
    await Promise.all(held.map((release) => release()));
    await Promise.all(names.map((name) => stopIfLastUser(name)));
  };
}

async function stopIfLastUser(name: string): Promise<void> {
  const release = await tryLock(usersLock(name));
  if (!release) return;
  try {
    if (!existsSync(startedMark(name))) return;
    if (process.env.FEEDER_TEST_KEEP_ES !== '1') {
      const stopped = await execa('bash', [SCRIPT, 'stop', '--name', name], { reject: false });
      if (stopped.exitCode !== 0) {
        console.warn(`could not stop the test instance '${name}': ${String(stopped.stderr)}`);
        return;
      }
    }
    // A kept instance is from now on like one started by hand: the next run leaves it running too.
    await rm(startedMark(name), { force: true });
  } finally {
    await release();
  }
}
