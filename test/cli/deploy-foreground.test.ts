import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { storedModel } from '../support/deploy.js';
import { isAlive } from '../support/processes.js';
import { CLI, feeder } from '../support/cli.js';
import { esUrl } from '../support/es.js';
import { waitUntil } from '../support/wait.js';

describe('feeder deploy --foreground', () => {
  it('loads the model, answers an inference from its bytes, and stops with --once', async () => {
    const { modelId, bytes } = await storedModel(700_000);
    const result = await feeder(['deploy', modelId, '--foreground', '--tokens', '0,7,699999', '--once']);
    expect(result.exitCode, result.stderr).toBe(0);
    const [summary, answer] = result.stdout.trim().split('\n');
    expect(summary).toMatch(new RegExp(`model '${modelId}' deployed into native process \\d+: 683\\.6 KiB, sha256 verified`));
    expect(JSON.parse(answer!).result.inference).toEqual([[[bytes[0]! / 255], [bytes[7]! / 255], [bytes[699_999]! / 255]]]);
  });

  it('runs until SIGINT, then stops the native process and exits 0', async () => {
    const { modelId } = await storedModel(300_000);
    const child = execa('node', [CLI, 'deploy', modelId, '--foreground', '--json'], { env: { ES_URL: esUrl() }, reject: false });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await waitUntil('the deploy to answer', () => out.includes('deployed'), { timeoutMs: 10_000, lastSeen: () => out });
    const pid = JSON.parse(out).deployed.pid as number;
    expect(isAlive(pid)).toBe(true);
    child.kill('SIGINT');
    const done = await child;
    expect(done.exitCode).toBe(0);
    expect(isAlive(pid)).toBe(false);
  });

  it('refuses bad tokens with exit code 2 before touching anything', async () => {
    const result = await feeder(['deploy', 'whatever', '--foreground', '--tokens', '1,x'], { env: { ES_URL: 'http://127.0.0.1:9' } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/--tokens must be comma-separated whole numbers from 0 to 2\^64 - 1/);
  });
});
