import { execa } from 'execa';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgress } from '../../src/log/progress.js';
import { CLI, feeder } from '../support/cli.js';
import { captureLogger, esUrl, randomModelFile, uniqueId } from '../support/es.js';

const MiB = 1024 * 1024;
const BAR = /\[#{30}\] 100% 4\.0 MiB [\d.]+ MiB\/s/;

/** A stream that is not a terminal: where a bar must never be drawn. */
function notATerminal(): { stream: NodeJS.WriteStream; written: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (part: Buffer) => (text += part.toString()));
  return { stream: stream as unknown as NodeJS.WriteStream, written: () => text };
}

describe('upload progress', () => {
  it('is a bar on a terminal (a real pseudo-terminal, from script(1)), filled to 100% when done', async () => {
    const { path } = await randomModelFile(4 * MiB);
    const modelId = uniqueId('progress-tty');
    const command = ['node', CLI, 'upload', path, '--model-id', modelId, '--chunk-size', '256kb'].map((a) => `'${a}'`).join(' ');
    const run = await execa('script', ['-q', '-e', '-c', command, '/dev/null'], { reject: false, env: { ES_URL: esUrl() } });
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`upload ${modelId} ${BAR.source}`));
    expect(run.stdout).toContain(`model '${modelId}' is ready`);
  });

  it('is never a bar when the output is not a terminal', async () => {
    const { path } = await randomModelFile(4 * MiB);
    const modelId = uniqueId('progress-pipe');
    const run = await feeder(['upload', path, '--model-id', modelId, '--chunk-size', '256kb']);
    expect(run.exitCode).toBe(0);
    expect(`${run.stdout}${run.stderr}`).not.toMatch(/\[#+\.*\]/);
    expect(run.stderr).toContain(`model '${modelId}' is ready`);
  });

  it('is a log line with bytes, percent and MiB/s otherwise, at most once per interval', async () => {
    const { logger, lines } = captureLogger();
    const out = notATerminal();
    const progress = createProgress({ label: 'upload m', logger, stream: out.stream, logEveryMs: 20, fields: { model_id: 'm' } });
    progress.update(1 * MiB, 4 * MiB); // too soon after the start: not logged
    await new Promise((resolve) => setTimeout(resolve, 30));
    progress.update(2 * MiB, 4 * MiB);
    progress.update(3 * MiB, 4 * MiB); // too soon after the last line
    progress.finish();
    const logged = lines.filter((l) => (l.event as { action?: string } | undefined)?.action === 'progress');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({
      feeder: { model_id: 'm', bytes: 2 * MiB, total_bytes: 4 * MiB, percent: 50, mib_s: expect.any(Number) },
      msg: expect.stringMatching(/^upload m: 2\.0 MiB \(50%\) at [\d.]+ MiB\/s$/),
    });
    expect(out.written()).toBe('');
  });

  it('has no percent when the size is not known in advance (stdin)', async () => {
    const { logger, lines } = captureLogger();
    const progress = createProgress({ label: 'upload m', logger, stream: notATerminal().stream, logEveryMs: 0 });
    progress.update(5 * MiB, null);
    expect(lines.at(-1)).toMatchObject({
      feeder: { bytes: 5 * MiB, total_bytes: null, percent: null },
      msg: expect.stringMatching(/^upload m: 5\.0 MiB at [\d.]+ MiB\/s$/),
    });
  });

  it('is a log line in the daemon even on a terminal (bar: false): its output is a log', async () => {
    const { logger, lines } = captureLogger();
    const terminal = notATerminal();
    Object.assign(terminal.stream, { isTTY: true });
    const progress = createProgress({ label: 'loading m', logger, stream: terminal.stream, logEveryMs: 0, bar: false });
    progress.update(1 * MiB, 2 * MiB);
    progress.finish();
    expect(terminal.written()).toBe('');
    expect(lines.at(-1)).toMatchObject({ feeder: { percent: 50 } });
  });
});
