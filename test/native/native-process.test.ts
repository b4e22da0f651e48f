import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { NativeProcess } from '../../src/native/native-process.js';
import { isRunning } from '../support/deploy.js';
import { captureLogger } from '../support/es.js';

const command = loadConfig({ config: undefined }, {}).deploy.command;

function start(args: string[], killGraceMs: number) {
  const { logger, lines } = captureLogger();
  const native = new NativeProcess({ command, args, logger, killGraceMs });
  const kills = () => lines.filter((l) => (l.event as { action?: string } | undefined)?.action === 'native-kill');
  return { native, kills };
}

describe('NativeProcess.stop', () => {
  it('kills with SIGKILL a process that ignores SIGTERM, after the grace period, and says so', async () => {
    const { native, kills } = start(['--hang', '--ignore-sigterm'], 300);
    native.stdin.write(Buffer.from([0, 0, 0, 1]));
    await new Promise((resolve) => setTimeout(resolve, 200)); // let it install its SIGTERM handling
    const exit = await native.stop();
    expect(exit).toMatchObject({ signal: 'SIGKILL', forceKilled: true });
    expect(native.describeStop()).toBe('was killed with SIGKILL (it ignored SIGTERM for 0.3 s)');
    expect(kills()).toHaveLength(1);
    expect(isRunning(native.pid)).toBe(false);
  });

  it('does not blame SIGTERM for a SIGKILL from elsewhere (the OOM killer, say) that came as it was being stopped', async () => {
    const { native, kills } = start(['--hang'], 5000);
    native.stdin.write(Buffer.from([0, 0, 0, 1]));
    await new Promise((resolve) => setTimeout(resolve, 200));
    process.kill(native.pid, 'SIGKILL');
    const exit = await native.stop(); // before the exit is seen
    expect(exit).toMatchObject({ signal: 'SIGKILL', forceKilled: false });
    expect(native.describeStop()).toBe('was stopped');
    expect(kills()).toEqual([]);
  });

  it('sends SIGTERM once however often it is asked', async () => {
    const { native, kills } = start(['--hang'], 5000);
    native.stdin.write(Buffer.from([0, 0, 0, 1]));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const exits = await Promise.all([native.stop(), native.stop(), native.stop()]);
    for (const exit of exits) expect(exit).toMatchObject({ signal: 'SIGTERM', forceKilled: false });
    expect(kills()).toEqual([]);
  });
});
