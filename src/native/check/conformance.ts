import { createHash, randomBytes } from 'node:crypto';
import type { HeaderKind } from '../../config/config.js';
import { encodeSizeHeader } from '../../feed/header.js';
import { Harness, packFrame } from './harness.js';

export interface CheckOptions {
  command: string;
  args: string[];
  /** The whole environment, as nativeEnvironment makes it for the daemon. */
  env: Record<string, string>;
  header: HeaderKind;
  /** The model to load; a few KiB of random bytes when not given (a stand-in like the stub takes any bytes). */
  model?: Buffer;
  /** The wait for the loaded report and for each answer. */
  timeoutMs: number;
  /** The wait for an exit after EOF or SIGTERM (the daemon's daemon.stopGraceMs). */
  graceMs: number;
}

export type Outcome = 'ok' | 'fail' | 'skip';

export interface CaseResult {
  case: string;
  outcome: Outcome;
  detail: string;
}

/** Thrown by a case to fail it with what the process got wrong. */
class Violation extends Error {}

const GENERATED_MODEL_BYTES = 4096 + 7;
const LARGE_IDS = [2n ** 32n, 2n ** 53n + 1n, 2n ** 64n - 1n];

type Frame = Record<string, unknown>;

/**
 * Drives one native process through the protocol's cases (docs/native-protocol.md) and says, case
 * by case, what it got wrong. It checks shapes, types and request ids, never the values a model
 * answers, so that any model in any conforming process passes.
 */
export async function checkNativeProcess(options: CheckOptions): Promise<CaseResult[]> {
  const model = options.model ?? randomBytes(GENERATED_MODEL_BYTES);
  const results: CaseResult[] = [];
  const run = new Run(options, results);
  const serving = new Harness(options.command, options.args, options.env);
  try {
    await run.serving(serving, model);
  } finally {
    await serving.kill();
  }
  await run.case('SIGTERM ends it', () => checkSigterm(options, model));
  return results;
}

class Run {
  #blocked: string | null = null;

  constructor(
    private readonly options: CheckOptions,
    private readonly results: CaseResult[],
  ) {}

  /** Runs one case; after a case others depend on fails, the rest of the process's cases are skipped. */
  async case(name: string, check: () => Promise<string | void>, essential = false): Promise<void> {
    if (this.#blocked) return void this.results.push({ case: name, outcome: 'skip', detail: `not run: ${this.#blocked}` });
    try {
      const detail = await check();
      this.results.push({ case: name, outcome: 'ok', detail: detail ?? '' });
    } catch (error) {
      if (!(error instanceof Violation)) throw error;
      this.results.push({ case: name, outcome: 'fail', detail: error.message });
      if (essential) this.#blocked = `'${name}' failed`;
    }
  }

  async serving(harness: Harness, model: Buffer): Promise<void> {
    const { timeoutMs, graceMs } = this.options;
    const answers = new Answers(harness, timeoutMs);
    // The first request rides in the same write as the last model byte: a process that reads past
    // the model's size swallows it and never answers.
    const first = answers.frame({ request_id: 'check-1', tokens: [[1, 2, 3]] });
    harness.write(Buffer.concat([encodeSizeHeader(model.length, this.options.header), model, first]));
    await this.case('loaded report', () => expectLoaded(harness, model, timeoutMs), true);
    await this.case(
      'exact length',
      async () => {
        const answer = await answers.for(
          'check-1',
          'the request written right after the last model byte (a process that reads past its size swallows it)',
        );
        answers.keep('check-1', answer);
      },
      true,
    );
    await this.case('request id echoed', async () => expectResult(answers.take('check-1'), 'check-1', 1));
    await this.case('batch of rows', async () => {
      const rows = [
        [5, 6, 7, 8],
        [9, 10, 11, 12],
        [13, 14, 15, 16],
      ];
      return expectResult(await answers.ask({ request_id: 'check-batch', tokens: rows }), 'check-batch', rows.length);
    });
    await this.case('large token ids', async () => {
      const answer = await answers.ask({ request_id: 'check-large', tokens: [LARGE_IDS] });
      return expectAnswer(answer, 'check-large', 'ids of 2^32, 2^53 + 1 and 2^64 - 1 as MessagePack integers');
    });
    await this.case('arguments', async () => {
      const answer = await answers.ask({ request_id: 'check-args', tokens: [[1, 2, 3]], arg_1: [[1, 1, 1]], arg_2: [[0, 0, 0]] });
      return expectAnswer(answer, 'check-args', 'arg_1 and arg_2 of the shape of tokens');
    });
    await this.case('pipelined requests', async () => {
      // Written in one go: the answers may come in any order, and each must carry its own id.
      const ids = ['check-pipe-1', 'check-pipe-2', 'check-pipe-3'];
      harness.write(Buffer.concat(ids.map((id, i) => answers.frame({ request_id: id, tokens: [[i + 1, i + 2]] }))));
      for (const id of ids) expectResult(await answers.for(id, `request '${id}' (of three written at once)`), id, 1);
      return 'three written at once, each answered';
    });
    await this.case('answers in any order', async () => inFlight(harness, answers));
    await this.case('extra keys ignored', async () => {
      const answer = await answers.ask({ request_id: 'check-extra', tokens: [[1, 2, 3]], x_feeder_check: { ignore: 'me' } });
      return expectResult(answer, 'check-extra', 1);
    });
    await this.case('malformed request', async () => {
      const answer = await answers.ask({ request_id: 'check-bad', tokens: 'not an array' });
      expectError(answer, 'check-bad');
      const after = await answers.ask({ request_id: 'check-after-bad', tokens: [[1, 2, 3]] });
      expectResult(after, 'check-after-bad', 1);
      return `error frame: ${JSON.stringify((answer.error as Frame).error)}; kept serving`;
    });
    await this.case('control 1 (stats)', async () => {
      const answer = await answers.ask({ request_id: 'check-stats', control: 1 });
      expectType(answer, 'stats', 'check-stats');
      if (!isObject(answer.stats)) throw new Violation(`the stats frame has no stats map: ${show(answer)}`);
    });
    await this.case('control 0 (clear cache)', async () =>
      expectType(await answers.ask({ request_id: 'check-ack', control: 0 }), 'ack', 'check-ack'),
    );
    await this.case('EOF ends it', async () => {
      harness.closeStdin();
      const exit = await harness.exitWithin(graceMs);
      if (!exit) throw new Violation(`still running ${graceMs / 1000} s after its stdin closed`);
      if (exit.exitCode !== 0) throw new Violation(`exited with ${describeExit(exit)} after its stdin closed; the protocol wants 0`);
      return 'exit 0';
    });
    this.#blocked = null;
    await this.case('stdout is MessagePack', async () => {
      if (harness.decodeError) throw new Violation(`stdout stopped decoding: ${harness.decodeError.message}`);
    });
    await this.case('stderr lines are JSON', async () => checkStderr(harness.stderrLines));
  }
}

/** Answers by request id, in whatever order they come (the protocol allows any). */
class Answers {
  readonly #early = new Map<string, Frame>();
  readonly #written = new Set<string>();
  /** Ids written and not answered yet: an answer with any other id is wrong, and said so at once. */
  readonly #unanswered = new Set<string>();
  /** Every answer's request id, in the order the answers came. */
  readonly arrivals: string[] = [];

  constructor(
    private readonly harness: Harness,
    private readonly timeoutMs: number,
  ) {}

  /** Packs a request whose answer is then awaited: every request is written through this. */
  frame(request: Frame): Buffer {
    this.#written.add(String(request.request_id));
    this.#unanswered.add(String(request.request_id));
    return packFrame(request);
  }

  async ask(request: Frame): Promise<Frame> {
    this.harness.write(this.frame(request));
    return this.for(String(request.request_id), `request '${String(request.request_id)}'`);
  }

  async for(requestId: string, what: string): Promise<Frame> {
    const kept = this.#early.get(requestId);
    if (kept) return (this.#early.delete(requestId), kept);
    for (;;) {
      const frame = await this.harness.nextFrame(this.timeoutMs);
      if (frame === null) throw new Violation(`no answer to ${what} ${this.#why()}`);
      if (!isObject(frame)) throw new Violation(`wrote a frame that is not a map: ${show(frame)}`);
      if (typeof frame.request_id !== 'string') throw new Violation(`wrote a frame without a string request_id: ${show(frame)}`);
      this.#requireAwaited(frame.request_id, what);
      this.#unanswered.delete(frame.request_id);
      this.arrivals.push(frame.request_id);
      if (frame.request_id === requestId) return frame;
      this.#early.set(frame.request_id, frame);
    }
  }

  /** Waiting out the timeout for an answer that came with the wrong id would only report "no answer". */
  #requireAwaited(answered: string, what: string): void {
    if (this.#unanswered.has(answered)) return;
    const waiting = [...this.#unanswered];
    const to = waiting.length > 1 ? `one of the requests ${waiting.map((id) => `'${id}'`).join(', ')}` : what;
    const carried = this.#written.has(answered) ? 'which was answered already' : 'which no request carried';
    throw new Violation(`answered request_id '${answered}', ${carried}, to ${to}`);
  }

  keep(requestId: string, frame: Frame): void {
    this.#early.set(requestId, frame);
  }

  take(requestId: string): Frame {
    return this.#early.get(requestId)!;
  }

  #why(): string {
    if (this.harness.decodeError) return `(stdout stopped decoding: ${this.harness.decodeError.message})`;
    if (this.harness.exit) return `(it ${describeExit(this.harness.exit)})`;
    return `within ${this.timeoutMs / 1000} s`;
  }
}

const IN_FLIGHT = 6;
/** Rows × ids of the first request in flight: long enough that a runtime with workers finishes later ones first. */
const LONG_REQUEST = { rows: 32, ids: 128 };

/**
 * Several requests in flight at once, the first a long one: each must be answered with its own id,
 * in any order (the daemon matches by id). What order they came in is reported, not judged: a
 * process with one worker answers in order, one with several may not.
 */
async function inFlight(harness: Harness, answers: Answers): Promise<string> {
  const ids = Array.from({ length: IN_FLIGHT }, (_, i) => `check-flight-${i + 1}`);
  const long = Array.from({ length: LONG_REQUEST.rows }, (_, r) => Array.from({ length: LONG_REQUEST.ids }, (_, i) => ((r + i) % 500) + 1));
  const rows = (i: number) => (i === 0 ? long : [[i + 1, i + 2, i + 3]]);
  harness.write(Buffer.concat(ids.map((id, i) => answers.frame({ request_id: id, tokens: rows(i) }))));
  for (const [i, id] of ids.entries()) {
    const answer = await answers.for(id, `request '${id}' (of ${IN_FLIGHT} in flight)`);
    // A model may refuse the long one (a shorter maximum length): an error frame with its id is an answer too.
    if (i === 0) expectAnswer(answer, id, 'the long request', LONG_REQUEST.rows);
    else expectResult(answer, id, 1);
  }
  const order = answers.arrivals.filter((id) => ids.includes(id)).map((id) => id.slice('check-flight-'.length));
  const inOrder = order.every((n, i) => Number(n) === i + 1);
  return `${IN_FLIGHT} in flight, the first of ${LONG_REQUEST.rows}×${LONG_REQUEST.ids} ids: answered ${inOrder ? 'in the order sent' : `out of order (${order.join(', ')})`}`;
}

async function expectLoaded(harness: Harness, model: Buffer, timeoutMs: number): Promise<string> {
  const frame = await harness.nextFrame(timeoutMs);
  if (frame === null) {
    const why = harness.decodeError
      ? `stdout is not MessagePack (${harness.decodeError.message})`
      : harness.exit
        ? `it ${describeExit(harness.exit)}`
        : `none within ${timeoutMs / 1000} s`;
    throw new Violation(`no loaded report: ${why}`);
  }
  if (!isObject(frame) || frame.type !== 'loaded') throw new Violation(`the first frame is not {type: "loaded", ...}: ${show(frame)}`);
  if (frame.bytes !== model.length) throw new Violation(`bytes is ${show(frame.bytes)}; ${model.length} were sent`);
  const sha256 = createHash('sha256').update(model).digest('hex');
  if (typeof frame.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(frame.sha256))
    throw new Violation(`sha256 is ${show(frame.sha256)}, not 64 hex digits`);
  if (frame.sha256.toLowerCase() !== sha256) throw new Violation(`sha256 is ${frame.sha256}; the bytes sent hash to ${sha256}`);
  if (typeof frame.ms !== 'number') throw new Violation(`ms is ${show(frame.ms)}, not a number`);
  return `${model.length} bytes, sha256 matches`;
}

function expectAnswer(answer: Frame, requestId: string, what: string, rows = 1): string {
  if (answer.type === 'error')
    return (expectError(answer, requestId), `answered with an error frame: ${show((answer.error as Frame).error)}`);
  expectResult(answer, requestId, rows);
  return `answered ${what}`;
}

/** A result: the id, `result.inference` nested arrays of numbers with one entry per row of tokens, `time_ms`. */
function expectResult(answer: Frame, requestId: string, rows: number): string {
  expectType(answer, 'result', requestId);
  const inference = isObject(answer.result) ? answer.result.inference : undefined;
  const shape = shapeOf(inference);
  if (!shape) throw new Violation(`result.inference is not nested arrays of numbers of one shape: ${show(answer.result)}`);
  if (shape[0] !== rows) throw new Violation(`result.inference has ${shape[0]} entries for ${rows} rows of tokens`);
  if (typeof answer.time_ms !== 'number') throw new Violation(`time_ms is ${show(answer.time_ms)}, not a number`);
  return `shape [${shape.join(', ')}]`;
}

function expectError(answer: Frame, requestId: string): void {
  expectType(answer, 'error', requestId);
  if (!isObject(answer.error) || typeof answer.error.error !== 'string')
    throw new Violation(`the error frame has no error.error text: ${show(answer)}`);
}

function expectType(answer: Frame, type: string, requestId: string): void {
  if (answer.type !== type) throw new Violation(`expected a '${type}' frame for request '${requestId}'; got ${show(answer)}`);
}

/** The dimensions of a rectangular array of numbers, or null when it is none. */
export function shapeOf(value: unknown): number[] | null {
  if (typeof value === 'number') return Number.isFinite(value) ? [] : null;
  if (!Array.isArray(value) || value.length === 0) return null;
  const inner = value.map(shapeOf);
  const first = inner[0];
  if (!first || inner.some((s) => !s || s.join() !== first.join())) return null;
  return [value.length, ...first];
}

function checkStderr(lines: string[]): string {
  for (const line of lines) {
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      throw new Violation(`a stderr line is not JSON: ${show(line)}`);
    }
    if (!isObject(entry) || typeof entry.level !== 'string' || typeof entry.message !== 'string')
      throw new Violation(`a stderr line lacks level or message: ${show(line)}`);
  }
  return `${lines.length} lines`;
}

async function checkSigterm(options: CheckOptions, model: Buffer): Promise<string> {
  const harness = new Harness(options.command, options.args, options.env);
  try {
    harness.write(Buffer.concat([encodeSizeHeader(model.length, options.header), model]));
    // Loaded or not, it must stop: a daemon stops processes in every state.
    await harness.nextFrame(options.timeoutMs);
    harness.signalGroup('SIGTERM');
    const exit = await harness.exitWithin(options.graceMs);
    if (!exit)
      throw new Violation(`still running ${options.graceMs / 1000} s after SIGTERM to its process group (the daemon would SIGKILL it)`);
    return `it ${describeExit(exit)}`;
  } finally {
    await harness.kill();
  }
}

function describeExit(exit: { exitCode: number | null; signal: string | null }): string {
  return exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.exitCode}`;
}

function isObject(value: unknown): value is Frame {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function show(value: unknown): string {
  const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? String(value);
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}
