import { mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { CLI } from '../support/cli.js';
import { esUrl, tempDir, uniqueId } from '../support/es.js';
import { withDaemon } from '../support/daemon.js';
import { rawRequest } from '../support/raw-http.js';
import { isAlive } from '../support/processes.js';
import { pollUntil } from '../support/wait.js';

/**
 * Runs `feeder serve --listen unix:<path>` until it exits or says it listens; one that listens is
 * stopped again, so that a test of a refusal fails on `started` instead of hanging.
 */
async function serveOn(path: string): Promise<{ started: boolean; exitCode: number | undefined; stderr: string }> {
  const child = execa('node', [CLI, 'serve', '--listen', `unix:${path}`], {
    env: { ES_URL: esUrl(), FEEDER_DAEMON_NAME: uniqueId('socket') },
    reject: false,
    buffer: false,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (part: Buffer) => (stdout += part.toString()));
  child.stderr.on('data', (part: Buffer) => (stderr += part.toString()));
  await pollUntil(() => !isAlive(child.pid!) || stdout.includes('"daemon-start"'), { timeoutMs: 30_000, intervalMs: 50 });
  const started = isAlive(child.pid!);
  if (started) child.kill('SIGTERM');
  const result = await child;
  return { started, exitCode: result.exitCode, stderr };
}

describe('feeder serve --listen unix:<path>', () => {
  it.each([
    ['a regular file', 'regular file', async (path: string) => writeFile(path, 'precious data')],
    ['a directory', 'directory', async (path: string) => mkdir(path)],
    [
      'a symbolic link',
      'symbolic link',
      async (path: string) => {
        await writeFile(`${path}.target`, 'precious data');
        await symlink(`${path}.target`, path);
      },
    ],
  ])('refuses a path that holds %s, names it, and leaves it alone', async (_what, kind, make) => {
    const path = join(await tempDir(), 'feeder.sock');
    await make(path);
    const before = await stat(path);
    const result = await serveOn(path);
    expect(result.started, 'the daemon listened where a file was').toBe(false);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(`^feeder: .*${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}.* ${kind}.*\\(FEEDER_ERR_LISTEN\\)$`, 'm'),
    );
    expect((await stat(path)).ino).toBe(before.ino);
    if (kind !== 'directory') expect(await readFile(path, 'utf8')).toBe('precious data');
  });

  it('refuses a socket another daemon answers on, and takes over a stale one', async () => {
    const path = join(await tempDir(), 'feeder.sock');
    await withDaemon({ listen: `unix:${path}` }, async (first) => {
      const second = await serveOn(path);
      expect(second.started, 'a second daemon took the socket of a running one').toBe(false);
      expect(second.exitCode).toBe(1);
      expect(second.stderr).toMatch(/^feeder: .*another daemon listens on it.*\(FEEDER_ERR_LISTEN\)$/m);
      const status = await first.cli(['status']);
      expect(status.exitCode, `the first daemon no longer answers: ${status.stderr}`).toBe(0);
      // A daemon killed outright leaves its socket behind: the next one must not need a cleanup.
      first.child.kill('SIGKILL');
      await first.child;
      expect((await stat(path)).isSocket()).toBe(true);
      await withDaemon({ listen: `unix:${path}` }, async (third) => {
        expect((await third.cli(['status'])).exitCode).toBe(0);
        // No browser reaches a Unix socket, but a local proxy could: Host is checked here too; no Host at all is fine.
        const socket = { socketPath: path };
        expect((await rawRequest(socket, { method: 'GET', target: '/deployments' })).status).toBe(200);
        expect((await rawRequest(socket, { method: 'GET', target: '/deployments', headers: [['host', 'localhost']] })).status).toBe(200);
        expect((await rawRequest(socket, { method: 'GET', target: '/deployments', headers: [['host', 'evil.example']] })).status).toBe(403);
      });
    });
  });
});
