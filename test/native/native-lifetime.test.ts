import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { CLI } from '../support/cli.js';
import { childrenOf, startDaemon } from '../support/daemon.js';
import { storedModel } from '../support/deploy.js';
import { isAlive, stopsRunning } from '../support/processes.js';
import { esUrl, tempDir } from '../support/es.js';
import { waitUntil } from '../support/wait.js';

/** A process a failing test left behind would hold its memory for the rest of the suite. */
function killLeftovers(pids: number[]): void {
  for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
}

describe('a native process does not outlive what started it', () => {
  it('ends when its daemon is SIGKILLed, though it had stopped reading stdin', async () => {
    const { modelId } = await storedModel(1024 * 1024);
    const daemon = await startDaemon({ config: { deploy: { args: ['--hang'] } } });
    let pid = 0;
    try {
      const deploying = await daemon.cli(['deploy', modelId, '--wait-for', 'starting']);
      expect(deploying.exitCode, deploying.stderr).toBe(0);
      const hung = await daemon.waitForLog((l) => l.event?.action === 'native-log' && l.message === 'simulated hang');
      pid = hung.process.pid as number;
      daemon.child.kill('SIGKILL');
      await daemon.child;
      expect(await stopsRunning(pid, 2000), `native process ${pid} outlived its SIGKILLed daemon by 2 s`).toBe(true);
    } finally {
      killLeftovers([pid]);
    }
  });

  it('ends, with the helpers it started, when `feeder deploy --foreground` dies of a signal it does not handle', async () => {
    const { modelId } = await storedModel(300_000);
    const config = join(await tempDir(), 'feeder.json');
    await writeFile(config, JSON.stringify({ deploy: { args: ['--spawn-helper'] } }));
    const child = execa('node', [CLI, 'deploy', modelId, '--foreground', '--json'], {
      env: { ES_URL: esUrl(), FEEDER_CONFIG: config },
      reject: false,
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const pids: number[] = [];
    try {
      await waitUntil('the deploy to answer', () => out.includes('deployed'), { timeoutMs: 10_000, lastSeen: () => out });
      const pid = (JSON.parse(out) as { deployed: { pid: number } }).deployed.pid;
      const helpers = await childrenOf(pid);
      pids.push(pid, ...helpers);
      expect(helpers).toHaveLength(1);
      // SIGHUP: the CLI has no handler of its own, so only its exit cleanup can stop the process.
      child.kill('SIGHUP');
      expect((await child).signal).toBe('SIGHUP');
      const watched = { 'native process': pid, 'its helper': helpers[0]! };
      for (const [what, left] of Object.entries(watched))
        expect(await stopsRunning(left, 2000), `${what} ${left} outlived the CLI by 2 s`).toBe(true);
    } finally {
      child.kill('SIGKILL');
      killLeftovers(pids);
    }
  });
});
