import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { AbortedError, ModelStateError, NativeProcessError, TimeoutError } from '../../src/errors.js';
import { NativeProcess } from '../../src/native/native-process.js';
import { CONTROL_CLEAR_CACHE, encodeRequest } from '../../src/native/protocol.js';
import { isAlive, procStat, stopsRunning } from '../support/processes.js';
import { pollUntil } from '../support/wait.js';
import { captureLogger } from '../support/es.js';

const command = loadConfig({ config: undefined }, {}).deploy.command;

function start(args: string[], killGraceMs: number) {
  const { logger, lines } = captureLogger();
  const native = new NativeProcess({ command, args, header: 'u32', logger, killGraceMs, modelId: 'np-test', requestTimeoutMs: 30_000 });
  const kills = () => lines.filter((l) => (l.event as { action?: string } | undefined)?.action === 'native-kill');
  return { native, kills, lines };
}

describe('NativeProcess.stop', () => {
  it('kills with SIGKILL a process that ignores SIGTERM, after the grace period, and says so', async () => {
    const { native, kills } = start(['--hang', '--ignore-sigterm'], 300);
    await native.writeHeader(sizeHeader(1), new AbortController().signal);
    await new Promise((resolve) => setTimeout(resolve, 200)); // let it install its SIGTERM handling
    const exit = await native.stop();
    expect(exit).toMatchObject({ signal: 'SIGKILL', forceKilled: true });
    expect(native.describeStop()).toBe('was killed with SIGKILL (it ignored SIGTERM for 0.3 s)');
    expect(kills()).toHaveLength(1);
    expect(isAlive(native.pid)).toBe(false);
  });

  it('does not blame SIGTERM for a SIGKILL from elsewhere (the OOM killer, say) that came as it was being stopped', async () => {
    const { native, kills } = start(['--hang'], 5000);
    await native.writeHeader(sizeHeader(1), new AbortController().signal);
    await new Promise((resolve) => setTimeout(resolve, 200));
    process.kill(native.pid, 'SIGKILL');
    const exit = await native.stop(); // before the exit is seen
    expect(exit).toMatchObject({ signal: 'SIGKILL', forceKilled: false });
    expect(native.describeStop()).toBe('was stopped');
    expect(kills()).toEqual([]);
  });

  it('ends the helpers the process started: SIGTERM goes to its process group', async () => {
    const { native, helperPid } = await startWithHelper([], 5000);
    try {
      expect(procStat(native.pid)?.[2], 'the process leads a group of its own').toBe(String(native.pid));
      expect(procStat(helperPid)?.[2], 'the helper is in its group').toBe(String(native.pid));
      const exit = await native.stop();
      expect(exit).toMatchObject({ signal: 'SIGTERM', forceKilled: false });
      expect(await stopsRunning(helperPid, 2000), 'the helper outlived the stop').toBe(true);
    } finally {
      killLeftover(helperPid);
    }
  });

  it('SIGKILLs the whole group when it ignores SIGTERM, and says so once', async () => {
    const { native, helperPid, kills } = await startWithHelper(['--ignore-sigterm'], 300);
    try {
      const exit = await native.stop();
      expect(exit).toMatchObject({ signal: 'SIGKILL', forceKilled: true });
      expect(native.describeStop()).toBe('was killed with SIGKILL (it ignored SIGTERM for 0.3 s)');
      expect(kills()).toHaveLength(1);
      expect(await stopsRunning(helperPid, 2000), 'the helper outlived the SIGKILL').toBe(true);
    } finally {
      killLeftover(helperPid);
    }
  });

  it('sends SIGTERM once however often it is asked', async () => {
    const { native, kills } = start(['--hang'], 5000);
    await native.writeHeader(sizeHeader(1), new AbortController().signal);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const exits = await Promise.all([native.stop(), native.stop(), native.stop()]);
    for (const exit of exits) expect(exit).toMatchObject({ signal: 'SIGTERM', forceKilled: false });
    expect(kills()).toEqual([]);
  });
});

/** A stub with a `--spawn-helper` child, in the hang state after its header; returns the helper's pid from its log. */
async function startWithHelper(args: string[], killGraceMs: number) {
  const { native, kills, lines } = start(['--spawn-helper', '--hang', ...args], killGraceMs);
  await native.writeHeader(sizeHeader(1), new AbortController().signal);
  const helperPid = () => {
    const started = lines.map((l) => /^helper started: pid (\d+)$/.exec(String(l.msg))).find((m) => m);
    return started && lines.some((l) => String(l.msg) === 'simulated hang') ? Number(started[1]) : undefined;
  };
  const pid = await pollUntil(helperPid, { timeoutMs: 5000, intervalMs: 25 });
  if (pid !== undefined) return { native, helperPid: pid, kills };
  await native.stop();
  throw new Error(`the stub never reported its helper: ${JSON.stringify(lines.map((l) => l.msg))}`);
}

/** A helper that a failing test left behind would hold a pid for the rest of the suite. */
function killLeftover(pid: number): void {
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
}

/** Settles `promise` or says it did not within `ms`: for "never settles" defects, not for speed. */
async function settled<T>(promise: Promise<T>, ms = 3000): Promise<{ value: T } | { error: Error } | 'unsettled'> {
  let timer: NodeJS.Timeout | undefined;
  const unsettled = new Promise<'unsettled'>((resolve) => (timer = setTimeout(() => resolve('unsettled'), ms)));
  try {
    return await Promise.race([
      promise.then(
        (value) => ({ value }),
        (error: Error) => ({ error }),
      ),
      unsettled,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The load phase for a small model: the u32 size header, then the bytes. */
async function load(native: NativeProcess, model: Buffer, after: Buffer = Buffer.alloc(0)): Promise<void> {
  const signal = new AbortController().signal;
  await native.writeHeader(sizeHeader(model.length), signal);
  await native.writeChunk(Buffer.concat([model, after]), signal);
  native.endLoad();
}

function sizeHeader(size: number): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(size);
  return header;
}

const valueOf = (answer: unknown) => (answer as { result: { inference: number[][][] } }).result.inference[0]![0]![0];

describe('NativeProcess.request', () => {
  const model = Buffer.from(Array.from({ length: 32 * 1024 }, (_, i) => (i * 7) % 256));

  it('rejects at once, naming the exit, once the process has exited', async () => {
    const { native } = start([], 5000);
    await load(native, model);
    await native.loaded;
    process.kill(native.pid, 'SIGKILL');
    await native.exited;
    const outcome = await settled(native.request({ tokens: [[1]] }, { timeoutMs: 60_000 }));
    expect(outcome).toMatchObject({ error: expect.any(NativeProcessError) });
    expect((outcome as { error: Error }).error.message).toMatch(/the native process \(pid \d+\) was killed by SIGKILL/);
    expect(native.pendingRequests).toBe(0);
  });

  it('refuses a request before the load phase has ended, so no frame lands in the model bytes', async () => {
    const { native } = start([], 5000);
    try {
      for (const phase of ['before the header', 'during the model'] as const) {
        if (phase === 'during the model') await native.writeHeader(sizeHeader(model.length), new AbortController().signal);
        const outcome = await settled(native.request({ tokens: [[1]] }, { timeoutMs: 1000 }));
        expect(outcome, phase).toMatchObject({ error: expect.any(ModelStateError) });
        expect((outcome as { error: Error }).error.message).toMatch(
          /cannot send a request for model 'np-test' to native process \d+: (the size header has not been written yet|it is still loading the model)/,
        );
      }
      await native.writeChunk(model, new AbortController().signal);
      native.endLoad();
      expect((await native.loaded).bytes).toBe(model.length);
      expect(valueOf(await native.request({ tokens: [[9]] }, { timeoutMs: 10_000 }))).toBe(model[9]! / 255);
    } finally {
      await native.stop();
    }
  });

  it('takes the load phase in order: header, chunks, end; nothing of it after the end', async () => {
    const { native } = start([], 5000);
    const signal = new AbortController().signal;
    try {
      await expect(native.writeChunk(model, signal)).rejects.toThrow(
        /cannot write a model chunk for model 'np-test' to native process \d+: the size header has not been written yet/,
      );
      await load(native, model);
      await expect(native.writeHeader(sizeHeader(1), signal)).rejects.toThrow(ModelStateError);
      await expect(native.writeChunk(model, signal)).rejects.toThrow(/its load phase has ended/);
      expect(() => native.endLoad()).toThrow(/its load phase has ended/);
      expect((await native.loaded).bytes).toBe(model.length);
    } finally {
      await native.stop();
    }
  });

  it('rejects at once while the process is being stopped', async () => {
    const { native } = start(['--ignore-sigterm'], 500);
    await load(native, model);
    await native.loaded;
    const stopped = native.stop();
    const outcome = await settled(native.request({ tokens: [[1]] }, { timeoutMs: 60_000 }));
    expect(outcome).toMatchObject({ error: expect.any(NativeProcessError) });
    expect((outcome as { error: Error }).error.message).toMatch(
      /the native process \(pid \d+\) is being stopped and cannot take requests for model 'np-test'/,
    );
    await stopped;
  });

  it('rejects with TimeoutError naming the model when no answer comes, and forgets the request', async () => {
    const { native } = start(['--hang-after-load'], 5000);
    try {
      await load(native, model);
      const first = native.request({ tokens: [[1]] }, { timeoutMs: 300 });
      const second = native.request({ tokens: [[2]] }, { timeoutMs: 300 });
      expect(native.pendingRequests).toBe(2);
      for (const outcome of [await settled(first), await settled(second)]) {
        expect(outcome).toMatchObject({ error: expect.any(TimeoutError) });
        expect((outcome as { error: Error }).error.message).toBe("inference on model 'np-test' got no answer within 0.3 s");
      }
      expect(native.pendingRequests).toBe(0);
    } finally {
      await native.stop();
    }
  });

  it('drops quietly a late answer to a request that timed out, and keeps serving', async () => {
    // The stub reads this model at 16 KiB/s, so it reads the request behind it about 2 s later.
    const { native } = start(['--read-rate', String(16 * 1024)], 5000);
    try {
      await load(native, model);
      const late = await settled(native.request({ tokens: [[3]] }, { timeoutMs: 200 }));
      expect(late).toMatchObject({ error: expect.any(TimeoutError) });
      await native.loaded;
      // Answers come in request order: this one comes after the late one.
      const answer = await native.request({ tokens: [[5]] }, { timeoutMs: 10_000 });
      expect(valueOf(answer)).toBe(model[5]! / 255);
      expect(native.hasExited).toBe(false);
      expect(valueOf(await native.request({ tokens: [[6]] }, { timeoutMs: 10_000 }))).toBe(model[6]! / 255);
      expect(native.pendingRequests).toBe(0);
    } finally {
      await native.stop();
    }
  });

  it('is stopped for answering a request id it was never sent', async () => {
    const { native } = start([], 5000);
    // A header announcing fewer bytes than follow makes the process read the rest as a request
    // frame: one this side never sent.
    const stray = encodeRequest({ request_id: 'sent-by-someone-else', control: CONTROL_CLEAR_CACHE });
    await load(native, model.subarray(0, 4), stray);
    const outcome = await settled(native.request({ tokens: [[1]] }, { timeoutMs: 30_000 }), 10_000);
    expect(outcome).toMatchObject({ error: expect.any(NativeProcessError) });
    expect((outcome as { error: Error }).error.message).toMatch(/answered a request it was never sent .*sent-by-someone-else/);
    await native.exited;
    expect(native.pendingRequests).toBe(0);
  });

  it('rejects when its signal aborts, forgetting the request and removing its abort listener', async () => {
    const { native } = start(['--hang-after-load'], 5000);
    try {
      await load(native, model);
      const controller = new AbortController();
      const pending = native.request({ tokens: [[1]] }, { timeoutMs: 60_000, signal: controller.signal });
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
      controller.abort(new Error('the deployment is being stopped'));
      const outcome = await settled(pending);
      expect(outcome).toMatchObject({ error: expect.any(AbortedError) });
      expect((outcome as { error: Error }).error.message).toBe("inference on model 'np-test' was cancelled");
      expect(native.pendingRequests).toBe(0);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    } finally {
      await native.stop();
    }
  });
});
