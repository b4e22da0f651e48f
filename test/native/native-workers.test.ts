import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultNativeCommand } from '../../src/config/paths.js';
import { failureOf, runNative, sizeHeader } from '../support/native-run.js';
import { maxDifference, torchSetup } from '../support/torch.js';

// Workers inside one native process: requests queued by one reader, answered by N threads, each
// answer written whole as it is done, so out of order when a long request is ahead of short ones.

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const STUB = defaultNativeCommand();

/** MiniLM ids: [CLS] ... [SEP] around `length` ids of the sentence, shifted per row so that no two rows are alike. */
function rows(count: number, length: number, seed: number): number[][] {
  return Array.from({ length: count }, (_, r) => [101, ...Array.from({ length }, (_, i) => 1000 + ((seed * 31 + r * 7 + i) % 5000)), 102]);
}

const requests = (list: Array<{ id: string; tokens: number[][] }>) =>
  Buffer.concat(list.map(({ id, tokens }) => packr.pack({ request_id: id, tokens })));

describe('native-torch with workers', () => {
  let model: Buffer;
  // The long one first: with two workers, the second answers every short one meanwhile.
  const list = [
    { id: 'long', tokens: rows(32, 254, 0) },
    ...Array.from({ length: 6 }, (_, i) => ({ id: `short-${i + 1}`, tokens: rows(2, 6 + i, i + 1) })),
  ];
  beforeAll(async () => {
    model = await readFile(join(torchSetup().fixtures, 'minilm.pt'));
  });

  const serve = async (args: string[], env: Record<string, string> = {}) => {
    const run = await runNative(torchSetup().binary, Buffer.concat([sizeHeader('u32', model.length), model, requests(list)]), {
      args,
      env,
    });
    expect(run.exitCode, run.stderr).toBe(0);
    const answers = run.frames.filter((f) => f.type !== 'loaded');
    expect(answers.map((f) => f.type)).toEqual(list.map(() => 'result'));
    return { run, answers, byId: new Map(answers.map((f) => [f.request_id as string, f.result.inference])) };
  };

  it('answers as one worker does, within 1e-6, and the short requests before the long one ahead of them', async () => {
    const one = await serve(['--workers', '1']);
    expect(one.answers.map((f) => f.request_id)).toEqual(list.map((r) => r.id));
    const two = await serve(['--workers', '2', '--threads', '1']);
    for (const { id } of list) expect(maxDifference(two.byId.get(id), one.byId.get(id)), id).toBeLessThan(1e-6);
    const order = two.answers.map((f) => f.request_id);
    expect(order.indexOf('long'), order.join(', ')).toBe(list.length - 1);
    expect(two.run.logs.map((l) => l.message)).toContain('native-torch starting: header=u32 (from default) workers=2 threads=1');
  });

  it('takes workers and threads from FEEDER_WORKERS and FEEDER_THREADS_PER_WORKER, and its flags over them', async () => {
    const fromEnv = await serve([], { FEEDER_WORKERS: '2', FEEDER_THREADS_PER_WORKER: '2' });
    expect(fromEnv.run.logs[0]!.message).toMatch(/workers=2 threads=2$/);
    const flagWins = await serve(['--workers', '1'], { FEEDER_WORKERS: '3', FEEDER_THREADS_PER_WORKER: '1' });
    expect(flagWins.run.logs[0]!.message).toMatch(/workers=1 threads=1$/);
  });

  it.each([
    [['--threads', '3'], {}, "bad value for --threads: '3' (must be a power of 2 up to 32)"],
    [['--threads', '64'], {}, "bad value for --threads: '64' (must be 1..32)"],
    [['--workers', '0'], {}, "bad value for --workers: '0' (must be 1..256)"],
    [[], { FEEDER_THREADS_PER_WORKER: '6' }, "bad value for FEEDER_THREADS_PER_WORKER: '6' (must be a power of 2 up to 32)"],
    [[], { FEEDER_WORKERS: '' }, "bad value for FEEDER_WORKERS: '' (must be 1..256)"],
  ])('refuses %j %j as a usage error', async (args, env, message) => {
    const run = await runNative(torchSetup().binary, Buffer.alloc(0), { args, env });
    expect(failureOf(run)).toEqual({ exitCode: 2, error: message });
  });
});

describe('the stub with workers, and reordering', () => {
  const model = Buffer.from('abcdefgh');
  const input = (count: number) =>
    Buffer.concat([
      sizeHeader('u32', model.length),
      model,
      requests(Array.from({ length: count }, (_, i) => ({ id: `r${i + 1}`, tokens: [[i]] }))),
    ]);
  const answered = (frames: Array<Record<string, any>>) => frames.filter((f) => f.type === 'result').map((f) => f.request_id as string);

  it('answers 4 requests that sleep 400 ms each in about the time of one with 4 workers', async () => {
    const started = performance.now();
    const run = await runNative(STUB, input(4), { args: ['--workers', '4', '--answer-delay-ms', '400'] });
    const ms = performance.now() - started;
    expect(run.exitCode, run.stderr).toBe(0);
    expect(answered(run.frames).sort()).toEqual(['r1', 'r2', 'r3', 'r4']);
    // One worker would need 1600 ms.
    expect(ms).toBeLessThan(1200);
  });

  it('with --reorder swaps its answers in pairs, and answers a last lone one at EOF', async () => {
    const run = await runNative(STUB, input(5), { args: ['--reorder'] });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(answered(run.frames)).toEqual(['r2', 'r1', 'r4', 'r3', 'r5']);
    for (const frame of run.frames.filter((f) => f.type === 'result')) {
      const token = Number(String(frame.request_id).slice(1)) - 1;
      expect(frame.result.inference).toEqual([[[model[token]! / 255]]]);
    }
  });

  it('refuses --reorder with --workers above 1, and takes no workers from FEEDER_WORKERS with it', async () => {
    const run = await runNative(STUB, Buffer.alloc(0), { args: ['--reorder', '--workers', '2'] });
    expect(failureOf(run)).toEqual({ exitCode: 2, error: '--reorder answers with one worker; got --workers 2' });
    const fromEnv = await runNative(STUB, input(2), { args: ['--reorder'], env: { FEEDER_WORKERS: '2' } });
    expect(answered(fromEnv.frames)).toEqual(['r2', 'r1']);
    expect(fromEnv.logs[0]!.message).toMatch(/ workers=1 .*reorder=true/);
  });
});
