import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { beforeAll, describe, expect, it } from 'vitest';
import { feeder } from '../support/cli.js';
import { runNative, sizeHeader, type RunOptions } from '../support/native-run.js';
import { maxDifference, torchReference, torchSetup, type TorchReference } from '../support/torch.js';

// native-torch driven directly over its stdin and stdout, for what the daemon does not reach:
// the header width from FEEDER_HEADER, token ids as MessagePack integers of any width, control
// requests, extra inputs, and the exit at EOF.

const packr = new Packr({ useRecords: false });

const run = (input: Buffer, options: RunOptions = {}) => runNative(torchSetup().binary, input, options);

describe('native-torch on its own', () => {
  let model: Buffer;
  let reference: TorchReference;
  beforeAll(async () => {
    reference = await torchReference('classifier');
    model = await readFile(join(torchSetup().fixtures, reference.model));
  });

  it('reads a u64 header when FEEDER_HEADER=u64, reports the lowercase SHA-256, answers, and exits 0 at EOF', async () => {
    const { tokens, output } = reference.cases[0]!;
    const out = await run(Buffer.concat([sizeHeader('u64', model.length), model, packr.pack({ request_id: 'r1', tokens })]), {
      env: { FEEDER_HEADER: 'u64' },
    });
    expect(out.exitCode, out.stderr).toBe(0);
    expect(out.frames[0]).toMatchObject({ type: 'loaded', bytes: model.length, sha256: createHash('sha256').update(model).digest('hex') });
    expect(out.frames[0]!.sha256).toBe(reference.sha256);
    expect(out.frames[1]).toMatchObject({ type: 'result', request_id: 'r1', time_ms: expect.any(Number) });
    expect(maxDifference(out.frames[1]!.result.inference, output)).toBeLessThan(1e-5);
    expect(out.stderr).toMatch(/"message":"native-torch starting: header=u64 \(from FEEDER_HEADER\) workers=1 threads=1"/);
  });

  it('takes --header over FEEDER_HEADER, and refuses an unknown FEEDER_HEADER with exit 2', async () => {
    const out = await run(Buffer.concat([sizeHeader('u32', model.length), model]), {
      args: ['--header', 'u32'],
      env: { FEEDER_HEADER: 'u64' },
    });
    expect(out.exitCode, out.stderr).toBe(0);
    expect(out.frames[0]).toMatchObject({ type: 'loaded', bytes: model.length });
    const bad = await run(Buffer.alloc(0), { env: { FEEDER_HEADER: 'u16' } });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/bad value for FEEDER_HEADER: 'u16' \(must be u32 or u64\)/);
    const threads = await run(Buffer.alloc(0), { args: ['--threads', '0'] });
    expect(threads.exitCode).toBe(2);
    expect(threads.stderr).toMatch(/bad value for --threads: '0'/);
  });

  it('takes token ids as MessagePack integers of any width, and answers each malformed request with an error frame', async () => {
    const requests = [
      { request_id: 'big', tokens: [[1n, 2n ** 40n]] }, // 64-bit integers on the wire: reach forward(), out of the vocabulary
      { request_id: 'huge', tokens: [[2n ** 63n + 5n]] }, // beyond int64
      { request_id: 'float', tokens: [[1.5]] },
      { request_id: 'arg', tokens: [[1, 2]], arg_1: [[1]] },
      { request_id: 'gap', tokens: [[1, 2]], arg_2: [[1, 2]] },
      { request_id: 'stats', control: 1 },
      { request_id: 'clear', control: 0 },
      { request_id: 'after', tokens: reference.cases[2]!.tokens },
    ];
    const packer = new Packr({ useRecords: false, largeBigIntToFloat: false });
    const wire = Buffer.concat([sizeHeader('u32', model.length), model, ...requests.map((r) => packer.pack(r))]);
    // 2^40 must travel as a MessagePack integer (int64 0xd3 or uint64 0xcf), not a float64.
    expect([0xcf, 0xd3]).toContain(packer.pack(2n ** 40n)[0]);
    const out = await run(wire);
    expect(out.exitCode, out.stderr).toBe(0);
    const byId = Object.fromEntries(out.frames.slice(1).map((f) => [f.request_id, f]));
    expect(byId.big.error.error).toMatch(/forward\(\) failed: .*index out of range/s);
    expect(byId.huge.error.error).toBe('tokens[0][0] is 9223372036854775813, beyond int64');
    expect(byId.float.error.error).toBe('tokens[0][0] is not an integer (got float64)');
    expect(byId.arg.error.error).toMatch(/arg_1 has shape \[1, 1\], tokens has \[1, 2\]: they must match/);
    expect(byId.gap.error.error).toBe('arg_2 is given without arg_1');
    expect(byId.stats).toMatchObject({ type: 'stats', stats: { memory_rss: expect.any(Number), memory_max_rss: expect.any(Number) } });
    expect(byId.clear).toEqual({ type: 'ack', request_id: 'clear' });
    expect(maxDifference(byId.after.result.inference, reference.cases[2]!.output)).toBeLessThan(1e-5);
  });

  it('exits non-zero with an ERROR line naming the reason when the bytes are not TorchScript, and sends no loaded frame', async () => {
    const junk = Buffer.from('not a zip archive at all');
    const out = await run(Buffer.concat([sizeHeader('u32', junk.length), junk]));
    expect(out.exitCode).toBe(8);
    expect(out.frames).toEqual([]);
    const errors = out.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((l) => l.level === 'ERROR');
    expect(errors[0].message).toMatch(/^the model is not a TorchScript archive libtorch can load: .*zip archive/);
  });

  it("writes what libtorch prints on stderr by itself (its JIT log here) as JSON log lines at WARN, with libtorch's text", async () => {
    const { tokens } = reference.cases[0]!;
    const out = await run(Buffer.concat([sizeHeader('u32', model.length), model, packr.pack({ request_id: 'r1', tokens })]), {
      // JIT passes log straight to std::cerr, past c10's warning handler.
      env: { PYTORCH_JIT_LOG_LEVEL: '>profiling_graph_executor_impl' },
    });
    expect(out.exitCode, out.stderr).toBe(0);
    const lines = out.stderr.trim().split('\n');
    expect(out.logs).toHaveLength(lines.length);
    const jitLog = out.logs.filter((l) => l.message.startsWith('[DUMP profiling_graph_executor_impl.cpp'));
    expect(jitLog.length).toBeGreaterThan(0);
    expect(new Set(jitLog.map((l) => l.level))).toEqual(new Set(['WARN']));
    // Every line libtorch wrote before the exit is re-emitted before the exit line.
    expect(out.logs.map((l) => l.message).slice(-2)).toEqual(['stdin closed, exiting', 'exiting with code 0']);
  });

  it("logs a TorchScript module's print() as an INFO line, and keeps it off stdout, the stream of the frames", async () => {
    const printing = await readFile(join(torchSetup().fixtures, 'prints.pt'));
    // Enough requests that prints buffered for stdout would have been flushed into the frames.
    const requests = Array.from({ length: 200 }, (_, i) => packr.pack({ request_id: `r${i}`, tokens: [[1, 2, 3]] }));
    const out = await run(Buffer.concat([sizeHeader('u32', printing.length), printing, ...requests]));
    expect(out.exitCode, out.stderr).toBe(0);
    expect(out.frames.map((f) => f.request_id)).toEqual([undefined, ...requests.map((_, i) => `r${i}`)]);
    expect(out.frames[1]!.result.inference).toEqual([[2, 4, 6]]);
    const printed = out.logs.filter((l) => l.message === 'TorchScript print: forward() got tokens of shape [1, 3]');
    expect(printed).toHaveLength(200);
    expect(new Set(printed.map((l) => l.level))).toEqual(new Set(['INFO']));
  });
});

describe('feeder native check on native-torch', () => {
  it('passes every case with a real TorchScript model, u32 and u64', async () => {
    const reference = await torchReference('classifier');
    const modelFile = join(torchSetup().fixtures, reference.model);
    for (const width of ['u32', 'u64']) {
      const result = await feeder(['native', 'check', '--json', '--header', width, '--model', modelFile, '--', torchSetup().binary]);
      const report = JSON.parse(result.stdout) as { passed: boolean; cases: Array<{ case: string; outcome: string; detail: string }> };
      expect(
        report.cases.filter((c) => c.outcome !== 'ok'),
        width,
      ).toEqual([]);
      expect(report.cases.length).toBe(16);
      expect(result.exitCode).toBe(0);
    }
  });
});
