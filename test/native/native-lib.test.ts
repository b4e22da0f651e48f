import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { beforeAll, describe, expect, it } from 'vitest';
import { seededBytes } from '../support/seeded.js';
import { decodeFrames, failureOf, nativeProcesses, runNative, sizeHeader } from '../support/native-run.js';
import { torchReference, torchSetup } from '../support/torch.js';

// What native-stub and native-torch do through native-lib, checked on both: the ends of the streams,
// the exit codes the daemon cannot provoke, the request keys every process reads, and the log lines.
// (These were native-stub/test/smoke.py's checks, which nothing ran.)

const packr = new Packr({ useRecords: false, largeBigIntToFloat: false });
const pack = (...frames: unknown[]) => Buffer.concat(frames.map((f) => packr.pack(f)));
const STUB_MODEL = seededBytes(18, 64 * 1024);

/** Each process with a model it loads: the stub takes any bytes, native-torch a TorchScript module. */
async function processesWithModels(): Promise<Array<[string, { command: string; model: Buffer }]>> {
  const reference = await torchReference('classifier');
  const torchModel = await readFile(join(torchSetup().fixtures, reference.model));
  const { 'native-stub': stub, 'native-torch': torch } = nativeProcesses();
  return [
    ['native-stub', { command: stub, model: STUB_MODEL }],
    ['native-torch', { command: torch, model: torchModel }],
  ];
}

const loadedInput = (model: Buffer, ...after: Buffer[]) => Buffer.concat([sizeHeader('u32', model.length), model, ...after]);

describe('native-stub and native-torch, through native-lib', () => {
  let processes: Array<[string, { command: string; model: Buffer }]>;
  beforeAll(async () => {
    processes = await processesWithModels();
  });

  it('exit 3, saying how many bytes came, when stdin ends inside the size header or the model', async () => {
    for (const [name, { command }] of processes) {
      const header = await runNative(command, Buffer.from([0, 0, 1]), { args: ['--header', 'u64'] });
      expect(failureOf(header), name).toEqual({ exitCode: 3, error: 'size header ended early: received 3 of 8 bytes' });
      const model = await runNative(command, Buffer.concat([sizeHeader('u32', 1000), Buffer.alloc(600, 1)]));
      expect(failureOf(model), name).toEqual({ exitCode: 3, error: 'model stream ended early: received 600 of 1000 bytes' });
      expect(model.frames, name).toEqual([]);
    }
  });

  it('exit 4 when the request stream is not MessagePack, after answering the requests before it', async () => {
    for (const [name, { command, model }] of processes) {
      const out = await runNative(command, loadedInput(model, pack({ request_id: 'a', control: 0 }), Buffer.from([0xc1, 0xc1])));
      expect(
        out.frames.map((f) => f.type),
        name,
      ).toEqual(['loaded', 'ack']);
      expect(out.exitCode, name).toBe(4);
      expect(failureOf(out).error, name).toMatch(/^invalid MessagePack on stdin: /);
    }
  });

  it('exit 5 with an ERROR line when stdout is gone', async () => {
    for (const [name, { command, model }] of processes) {
      const out = await runNative(command, loadedInput(model), { closeStdout: true });
      expect(failureOf(out), name).toEqual({ exitCode: 5, error: 'write to stdout failed: Broken pipe' });
    }
  });

  it('answers a malformed request with an error frame naming what is wrong, the same in both, and goes on serving', async () => {
    const bad: Array<[unknown, string, string]> = [
      [42, '', 'request is not a map (got positive integer)'],
      [{ tokens: [[1]] }, '', 'missing request_id'],
      [{ request_id: 5, tokens: [[1]] }, '', 'request_id is not a string (got positive integer)'],
      [{ request_id: 'a' }, 'a', 'request has neither tokens nor control'],
      [{ request_id: 'b', tokens: [[1]], control: 0 }, 'b', 'request has both tokens and control'],
      [{ request_id: 'c', control: 9 }, 'c', 'unknown control value 9'],
      [{ request_id: 'd', control: -1 }, 'd', 'unknown control value -1'],
      [{ request_id: 'e', control: 'x' }, 'e', 'control is not an integer (got string)'],
      [{ request_id: 'f', tokens: 'x' }, 'f', 'tokens is not an array (got string)'],
    ];
    const expected = [
      ...bad.map(([, id, error]) => ({ type: 'error', request_id: id, error: { error } })),
      { type: 'ack', request_id: 'after' },
    ];
    for (const [name, { command, model }] of processes) {
      const out = await runNative(
        command,
        loadedInput(model, pack(...bad.map(([request]) => request), { request_id: 'after', control: 0 })),
      );
      expect(out.exitCode, out.stderr).toBe(0);
      expect(out.frames.slice(1), name).toEqual(expected);
    }
  });

  it('logs JSON lines of level, timestamp, message and its own pid, the last one naming the exit code', async () => {
    for (const [name, { command, model }] of processes) {
      const out = await runNative(command, loadedInput(model));
      expect(out.exitCode, out.stderr).toBe(0);
      expect(out.logs.length, name).toBe(out.stderr.trim().split('\n').length);
      for (const line of out.logs) {
        expect(Object.keys(line).sort(), name).toEqual(['level', 'message', 'pid', 'timestamp']);
        expect(line).toMatchObject({ level: expect.stringMatching(/^(DEBUG|INFO|WARN|ERROR)$/), pid: out.pid });
        expect(line.timestamp).toBeGreaterThan(Date.now() - 60_000);
      }
      expect(out.logs.map((l) => l.message).slice(-2), name).toEqual(['stdin closed, exiting', 'exiting with code 0']);
    }
  });
});

describe('native-stub, what it alone answers', () => {
  const stub = () => nativeProcesses()['native-stub'];
  const inferred = (frame: Record<string, any>) => frame.result.inference as number[][][];

  it('answers model[t mod size] / 255 for any token id, and an empty row with an empty one', async () => {
    const size = STUB_MODEL.length;
    const ids = [0, size - 1, size, size + 7, 2n ** 40n, 2n ** 64n - 1n]; // BigInt: a MessagePack integer, never a float
    const out = await runNative(stub(), loadedInput(STUB_MODEL, pack({ request_id: 'r', tokens: [ids, []] })));
    expect(out.frames[0]).toEqual({
      type: 'loaded',
      bytes: size,
      sha256: createHash('sha256').update(STUB_MODEL).digest('hex'),
      ms: expect.any(Number),
    });
    const wanted = ids.map((t) => [STUB_MODEL[Number(BigInt(t) % BigInt(size))]! / 255]);
    expect(inferred(out.frames[1]!)).toEqual([wanted, []]);
  });

  it('loads an empty model (the SHA-256 of nothing) and answers inference on it with an error frame', async () => {
    const out = await runNative(stub(), loadedInput(Buffer.alloc(0), pack({ request_id: 'z', tokens: [[0]] })));
    expect(out.frames[0]).toMatchObject({ bytes: 0, sha256: createHash('sha256').digest('hex') });
    expect(out.frames[1]).toEqual({ type: 'error', request_id: 'z', error: { error: 'no model loaded (model size is 0)' } });
  });

  it('with --discard counts and hashes the bytes without keeping them, and says so to inference', async () => {
    const out = await runNative(stub(), loadedInput(STUB_MODEL, pack({ request_id: 'd', tokens: [[1]] })), { args: ['--discard'] });
    expect(out.frames[0]).toMatchObject({ bytes: STUB_MODEL.length, sha256: createHash('sha256').update(STUB_MODEL).digest('hex') });
    expect(out.frames[1]).toEqual({ type: 'error', request_id: 'd', error: { error: 'model discarded (--discard)' } });
  });

  it('reads a u64 size beyond 4 GiB whole', async () => {
    const out = await runNative(stub(), Buffer.concat([sizeHeader('u64', 2n ** 32n + 10n), Buffer.alloc(5)]), {
      args: ['--header', 'u64', '--discard'],
    });
    expect(failureOf(out)).toEqual({ exitCode: 3, error: 'model stream ended early: received 5 of 4294967306 bytes' });
  });

  it('logs its progress each 256 MiB of the model (native-lib reads it)', async () => {
    const size = 2 ** 28 + 1;
    const out = await runNative(stub(), Buffer.concat([sizeHeader('u32', size), Buffer.alloc(size)]), { args: ['--discard'] });
    expect(out.exitCode, out.stderr).toBe(0);
    // Once the count passes 256 MiB: the read that passes it may end anywhere up to the last byte.
    const progress = out.logs.filter((l) => l.message.startsWith('received ')).map((l) => l.message);
    expect(progress).toHaveLength(1);
    expect(progress[0]).toMatch(new RegExp(`^received \\d+ of ${size} bytes \\((99|100)%\\)$`));
  });

  it('with --exit-code alone exits with it at start, before reading the header', async () => {
    const out = await runNative(stub(), sizeHeader('u32', 0), { args: ['--exit-code', '9'] });
    expect(failureOf(out)).toEqual({ exitCode: 9, error: 'simulated exit with code 9' });
    expect(out.logs.some((l) => l.message.startsWith('size header'))).toBe(false);
  });

  it('after --garbage instead of the loaded frame, serves requests as usual', async () => {
    const out = await runNative(stub(), loadedInput(STUB_MODEL, pack({ request_id: 'x', control: 0 })), { args: ['--garbage'], raw: true });
    expect(out.stdout.subarray(0, 64)).toEqual(Buffer.alloc(64, 0xc1));
    expect(decodeFrames(out.stdout.subarray(64))).toEqual([{ type: 'ack', request_id: 'x' }]);
    expect(out.exitCode).toBe(0);
  });
});
