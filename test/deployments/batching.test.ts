import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/config/paths.js';
import { AbortedError, QueueFullError, TimeoutError } from '../../src/errors.js';
import type { NativeProcess } from '../../src/native/native-process.js';
import type { ResponseFrame } from '../../src/native/protocol.js';
import type { InferenceInputs, TokenBatch } from '../../src/native/token-ids.js';
import { batchSizes, inferenceQueue, loadedNative } from '../support/loaded-native.js';

// The stub answers each token with the model byte it names, over 255, then each argument's value:
// a row split to the wrong request, or shifted, shows.
const bytes = randomBytes(100_003);
const valueOf = (t: number) => bytes[t % bytes.length]! / 255;
const expected = (inputs: InferenceInputs) =>
  inputs.tokens.map((row, b) => row.map((t, i) => [valueOf(t as number), ...(inputs.arg_1 ? [inputs.arg_1[b]![i] as number] : [])]));
const rows = (...lengths: number[]): TokenBatch => lengths.map((n) => Array.from({ length: n }, () => Math.floor(Math.random() * 1e6)));
const idOf = (answer: ResponseFrame) => answer.request_id;
const inference = (answer: ResponseFrame) => (answer.type === 'result' ? answer.result.inference : answer);

const started: NativeProcess[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((n) => n.stop()));
});

/** The stub, answering each frame after `delayMs`: requests sent meanwhile wait, and gather, behind the first. */
async function stub(delayMs: number): Promise<NativeProcess> {
  const native = await loadedNative(bytes, ['--answer-delay-ms', String(delayMs)]);
  started.push(native);
  return native;
}

describe('dynamic batching', () => {
  it('sends the requests that waited behind a frame as one frame, and gives each its own rows of the answer', async () => {
    const native = await stub(150);
    const { queue, metrics } = inferenceQueue();
    const first = { tokens: rows(3) };
    const waiting = [rows(3), rows(3, 3), rows(3), rows(3, 3, 3), rows(3)].map((tokens) => ({ tokens }));
    const answers = await Promise.all([first, ...waiting].map((inputs) => queue.run(native, inputs)));
    answers.forEach((answer, i) => expect(inference(answer)).toEqual(expected([first, ...waiting][i]!)));
    expect(new Set(answers.slice(1).map(idOf)).size).toBe(1);
    expect(idOf(answers[0]!)).not.toBe(idOf(answers[1]!));
    expect(await batchSizes(metrics)).toEqual({ count: 2, sum: 6 });
    expect(queue.stats()).toMatchObject({ inference_count: 6, error_count: 0 });
  });

  it('puts at most max_batch_size rows in a frame; a request with more goes alone', async () => {
    const native = await stub(100);
    const { queue } = inferenceQueue({ maxBatchSize: 4 });
    const inputs = [rows(2), ...Array.from({ length: 10 }, () => rows(2)), rows(2, 2, 2, 2, 2, 2)].map((tokens) => ({ tokens }));
    const answers = await Promise.all(inputs.map((i) => queue.run(native, i)));
    answers.forEach((answer, i) => expect(inference(answer)).toEqual(expected(inputs[i]!)));
    const frames = new Map<string, number>();
    for (const answer of answers.slice(1, 11)) frames.set(idOf(answer), (frames.get(idOf(answer)) ?? 0) + 1);
    expect([...frames.values()]).toEqual([4, 4, 2]);
    expect(answers.slice(0, 11).map(idOf)).not.toContain(idOf(answers[11]!));
    expect(inference(answers[11]!)).toHaveLength(6);
  });

  it('merges raw token requests only with rows of the same length and the same arguments', async () => {
    const native = await stub(100);
    const { queue } = inferenceQueue();
    const twoLong = rows(2);
    const inputs: InferenceInputs[] = [
      { tokens: rows(5) },
      { tokens: rows(2) },
      { tokens: rows(3) },
      { tokens: rows(2) },
      { tokens: rows(3) },
      { tokens: twoLong, arg_1: [[7, 8]] },
      { tokens: rows(2, 3) },
    ];
    const answers = await Promise.all(inputs.map((i) => queue.run(native, i)));
    answers.forEach((answer, i) => expect(inference(answer)).toEqual(expected(inputs[i]!)));
    const ids = answers.map(idOf);
    expect(ids[1]).toBe(ids[3]);
    expect(ids[2]).toBe(ids[4]);
    expect(new Set(ids).size).toBe(5);
  });

  it('pads requests that name their padding to the batch longest, at the end, and merges only equal padding', async () => {
    const native = await stub(100);
    const { queue } = inferenceQueue();
    const pad = { tokens: 0, arg_1: 9 };
    const short = { tokens: rows(2), arg_1: [[1, 1]] };
    const long = { tokens: rows(4), arg_1: [[1, 1, 1, 1]] };
    const otherPad = { tokens: rows(3), arg_1: [[1, 1, 1]] };
    const [, a, b, c] = await Promise.all([
      queue.run(native, { tokens: rows(1) }),
      queue.run(native, short, { pad }),
      queue.run(native, long, { pad }),
      queue.run(native, otherPad, { pad: { tokens: 1, arg_1: 9 } }),
    ]);
    expect(idOf(a)).toBe(idOf(b));
    expect(idOf(c)).not.toBe(idOf(a));
    // The short request's rows keep the batch's length: its own positions first, then the padding's answer.
    expect(inference(a)).toEqual([[...expected(short)[0]!, [valueOf(0), 9], [valueOf(0), 9]]]);
    expect(inference(b)).toEqual(expected(long));
    expect(inference(c)).toEqual(expected(otherPad));
  });

  it('fails a bad request of a batch alone: the others get their answers, and each request is counted once', async () => {
    const native = await stub(100);
    const { queue } = inferenceQueue();
    const good = [rows(3), rows(3), rows(3)].map((tokens) => ({ tokens }));
    // Not an integer: the stub answers the whole frame with an error, as a model refusing one row would.
    const bad = { tokens: [[1, 2.5, 3]] } as InferenceInputs;
    const [, g1, wrong, g2, g3] = await Promise.all(
      [good[0]!, good[1]!, bad, good[2]!, { tokens: rows(3) }].map((i) => queue.run(native, i)),
    );
    expect(wrong).toMatchObject({ type: 'error', error: { error: expect.stringContaining('tokens[0][1] is not an integer') } });
    expect(inference(g1!)).toEqual(expected(good[1]!));
    expect(inference(g2!)).toEqual(expected(good[2]!));
    expect(g3!.type).toBe('result');
    expect(queue.stats()).toMatchObject({ inference_count: 5, error_count: 1 });
  });

  it('holds a request up to max_queue_delay_ms for others to join it, and no longer', async () => {
    const native = await stub(0);
    const { queue, metrics } = inferenceQueue({ maxQueueDelayMs: 300 });
    const sent = performance.now();
    const first = queue.run(native, { tokens: rows(2) });
    await sleep(50);
    const later = [queue.run(native, { tokens: rows(2) }), queue.run(native, { tokens: rows(2) })];
    const answers = await Promise.all([first, ...later]);
    const waited = performance.now() - sent;
    expect(new Set(answers.map(idOf)).size).toBe(1);
    expect(waited).toBeGreaterThanOrEqual(290);
    expect(waited).toBeLessThan(3000);
    expect(await batchSizes(metrics)).toEqual({ count: 1, sum: 3 });
  });

  it('sends a full batch at once, without waiting out the queue delay', async () => {
    const native = await stub(0);
    const { queue } = inferenceQueue({ maxQueueDelayMs: 1000, maxBatchSize: 2 });
    const sent = performance.now();
    await Promise.all([queue.run(native, { tokens: rows(2) }), queue.run(native, { tokens: rows(2) })]);
    expect(performance.now() - sent).toBeLessThan(900);
  });

  it('never sends a request that timed out or was cancelled while it waited in the queue', async () => {
    const native = await stub(400);
    const { queue } = inferenceQueue({ timeoutMs: 250 });
    const cancel = new AbortController();
    const outcomes = Promise.allSettled([
      queue.run(native, { tokens: rows(2) }),
      queue.run(native, { tokens: rows(2) }),
      queue.run(native, { tokens: rows(2) }, { signal: cancel.signal }),
    ]);
    cancel.abort();
    const [sentOne, queuedOne, cancelled] = await outcomes;
    expect((sentOne as PromiseRejectedResult).reason).toBeInstanceOf(TimeoutError);
    expect((queuedOne as PromiseRejectedResult).reason).toBeInstanceOf(TimeoutError);
    expect((cancelled as PromiseRejectedResult).reason).toBeInstanceOf(AbortedError);
    expect(queue.stats()).toMatchObject({ timeout_count: 2, inference_count: 0 });
    // The process numbers the frames it is sent: the next is the second, so the queued two never left.
    const { queue: patient } = inferenceQueue();
    expect(idOf(await patient.run(native, { tokens: rows(1) }))).toBe('2');
  });

  it('counts requests, not frames, against deploy.queueCapacity', async () => {
    const native = await stub(200);
    const { queue } = inferenceQueue({ queueCapacity: 3 });
    const accepted = [1, 2, 3].map(() => queue.run(native, { tokens: rows(1) }));
    await expect(queue.run(native, { tokens: rows(1) })).rejects.toBeInstanceOf(QueueFullError);
    expect(queue.pending).toBe(3);
    await Promise.all(accepted);
    expect(queue.stats()).toMatchObject({ inference_count: 3, rejected_execution_count: 1 });
  });

  it('keeps up to inFlight frames sent at once, and no more', async () => {
    const native = await stub(200);
    const { queue } = inferenceQueue({ inFlight: 2, maxBatchSize: 1 });
    const answers = [1, 2, 3].map(() => queue.run(native, { tokens: rows(1) }));
    expect(native.pendingRequests).toBe(2);
    await Promise.all(answers);
  });

  it('gives each request its own answer when the frames in flight are answered out of order', async () => {
    // The protocol's JavaScript process, answering the frames of one read in reverse order.
    const script = join(packageRoot(), 'test', 'fixtures', 'native', 'js-native.mjs');
    const native = await loadedNative(bytes, [script, '--reverse'], 'node');
    started.push(native);
    const { queue } = inferenceQueue({ inFlight: 40, maxBatchSize: 1 });
    const tokens = Array.from({ length: 40 }, (_, i) => 1000 + i);
    const answers = await Promise.all(tokens.map((t) => queue.run(native, { tokens: [[t]] })));
    expect(answers.map(inference)).toEqual(tokens.map((t) => [[[t]]]));
    expect(queue.stats()).toMatchObject({ inference_count: 40, error_count: 0 });
  });

  it('sends each request alone with max_batch_size 1', async () => {
    const native = await stub(50);
    const { queue, metrics } = inferenceQueue({ maxBatchSize: 1 });
    const answers = await Promise.all([1, 2, 3, 4].map(() => queue.run(native, { tokens: rows(2) })));
    expect(new Set(answers.map(idOf)).size).toBe(4);
    expect(await batchSizes(metrics)).toEqual({ count: 4, sum: 4 });
  });
});
