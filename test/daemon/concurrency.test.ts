// Issue 9: 200 seeded random commands against one real daemon, up to 4 in flight, then the invariants
// that no interleaving may break. Replay a failing run with FEEDER_RACE_SEED=<seed> (every message
// names it); the same seed gives the same commands and the same model bytes, though not the same timing.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { DeploymentStatus } from '../../src/api/wire-types.js';
import { META_INDEX } from '../../src/model/layout.js';
import { uploadModel } from '../../src/upload/upload.js';
import { feeder } from '../support/cli.js';
import { freePort, startDaemon, type RunningDaemon } from '../support/daemon.js';
import { captureLogger, newEs, tempDir, testConfig, uniqueId } from '../support/es.js';
import {
  agreementAfterSettling,
  call,
  deployPath,
  ensureDeploymentsMapping,
  forgetDaemon,
  HungRequest,
  liveSpawned,
  settle,
  stopWithin,
  type Answer,
} from '../support/races.js';
import { between, mulberry32, seededBytes, seedFrom } from '../support/seeded.js';
import { checkServedBytes, judgeAnswer, type Answered, type Generation } from '../support/served-bytes.js';

const SEED = seedFrom('FEEDER_RACE_SEED');
const TAG = `FEEDER_RACE_SEED=${SEED}`;
const COMMANDS = 200;
const MAX_IN_FLIGHT = 4;
const MODELS = 3;
const KIB = 1024;
const CHUNK_SIZE = 64 * KIB;
const MAX_BURST = 6;
const CONFIG = {
  // Throttled loads (a 1 MiB model takes a quarter of a second) so that commands land mid-load.
  // Requests wait up to 5 ms for others (issue 20's dynamic batching), so an inference burst goes to
  // the stub as shared frames whose answers the daemon splits, meeting loads, rollovers and restarts.
  deploy: { args: ['--read-rate', String(4 * 1024 * KIB)], maxQueueDelayMs: 5 },
  daemon: { stopGraceMs: 1000, inferenceTimeoutMs: 5000, maxConcurrentLoads: 2 },
};
const RESTART_EXIT_MS = 8000;

type Command =
  | { kind: 'deploy'; model: number; waitFor: 'started' | 'starting' }
  | { kind: 'undeploy'; model: number }
  | { kind: 'replace'; model: number; size: number; bytesSeed: number }
  | { kind: 'infer'; model: number; rows: number[][] }
  | { kind: 'restart' };

// How often each command comes up, out of 1000. Uploads are few: each is a CLI process and its
// bulk requests, seconds on a busy machine.
const WEIGHTS: Array<[Command['kind'], number]> = [
  ['deploy', 300],
  ['undeploy', 180],
  ['infer', 435],
  ['replace', 70],
  ['restart', 15],
];

function commandsFor(seed: number): Array<Command & { gapMs: number }> {
  const next = mulberry32(seed);
  const commands = Array.from({ length: COMMANDS }, (): Command & { gapMs: number } => {
    const kind = weighted(next() * 1000);
    const model = between(next, 0, MODELS - 1);
    const gapMs = between(next, 0, 60);
    switch (kind) {
      case 'deploy':
        return { kind, model, waitFor: next() < 0.3 ? 'starting' : 'started', gapMs };
      case 'undeploy':
        return { kind, model, gapMs };
      case 'infer': {
        // A burst of requests at once, one row of 4 tokens each: batched, each must get its own answer.
        const burst = between(next, 1, MAX_BURST);
        const rows = Array.from({ length: burst }, () => Array.from({ length: 4 }, () => between(next, 0, 2 ** 31)));
        return { kind, model, rows, gapMs };
      }
      case 'replace':
        return { kind, model, size: modelSize(next), bytesSeed: between(next, 0, 2 ** 31), gapMs };
      case 'restart':
        return { kind, gapMs };
    }
  });
  // Every run restarts the daemon at least twice, a third and two thirds of the way through.
  if (commands.filter((c) => c.kind === 'restart').length < 2)
    for (const at of [COMMANDS / 3, (2 * COMMANDS) / 3]) commands[Math.floor(at)] = { kind: 'restart', gapMs: 0 };
  return commands;
}

function weighted(roll: number): Command['kind'] {
  for (const [kind, weight] of WEIGHTS) {
    if (roll < weight) return kind;
    roll -= weight;
  }
  return WEIGHTS.at(-1)![0];
}

const modelSize = (next: () => number) => between(next, 256 * KIB, 1024 * KIB);
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

interface LogEntry {
  i: number;
  what: string;
  start: number;
  end: number | null;
  outcome: string;
}

describe('200 random commands against one daemon', () => {
  beforeAll(ensureDeploymentsMapping);

  it('keeps its map, its native processes, its desired documents and the bytes it serves in agreement', async () => {
    console.log(`concurrency: ${TAG}; replay with ${TAG} npx vitest run test/daemon/concurrency.test.ts`);
    const next = mulberry32(SEED ^ 0x5eed);
    const t0 = performance.now();
    const now = () => Math.round(performance.now() - t0);
    const name = uniqueId('race-daemon');
    const listen = `127.0.0.1:${await freePort()}`;
    const dir = await tempDir();
    const models = Array.from({ length: MODELS }, () => uniqueId('race'));
    const generations = new Map<string, Generation[]>(models.map((m) => [m, []]));
    const log: LogEntry[] = [];
    const violations: string[] = [];
    const observations: string[] = [];
    const answered: Answered[] = [];
    const restarts: Array<{ start: number; end: number }> = [];
    const daemons: RunningDaemon[] = [];
    // Frames to the stub that carried more than one request, over every daemon run.
    let batchedFrames = 0;
    let current: RunningDaemon;
    let finalStop: Awaited<ReturnType<typeof stopWithin>> | null = null;

    onTestFailed(() => {
      const line = (e: LogEntry) => `  #${e.i} @${e.start}-${e.end ?? '…'} ms ${e.what} → ${e.outcome}`;
      const file = join('test-results', `concurrency-${SEED}.log`);
      const about = [`concurrency failed: ${TAG}`, `models: ${models.join(', ')}; daemon '${name}' on ${listen}`];
      const notes = ['observations:', ...observations.map((o) => `  ${o}`), 'violations:', ...violations.map((v) => `  ${v}`)];
      mkdirSync('test-results', { recursive: true });
      writeFileSync(file, [...about, 'commands:', ...log.map(line), ...notes, ''].join('\n'));
      console.log([...about, `last commands (all of them in ${file}):`, ...log.slice(-30).map(line), ...notes].join('\n'));
    });

    // A restart lets a few commands meet the daemon going and coming (they must fail cleanly), then
    // holds the rest back until the daemon is up, so that most commands reach a running daemon.
    let restarting = null as { over: Promise<void>; dispatched: number } | null;
    const overlapsRestart = (from: number, to: number) => restarts.some((r) => r.start <= to && r.end >= from);
    const violate = (entry: LogEntry, what: string) => violations.push(`#${entry.i} ${entry.what}: ${what}`);

    /** Replaces through the built CLI and records the generation if its commit went through (read back from the meta document). */
    const replace = async (entry: LogEntry, modelId: string, bytes: Buffer) => {
      const path = join(dir, `${modelId}-${entry.i}.pt`);
      await writeFile(path, bytes);
      const from = now();
      const result = await feeder(['upload', path, '--model-id', modelId, '--chunk-size', '64kb', '--replace', '--json'], {
        timeout: 60_000,
      });
      const to = now();
      const meta = (await newEs().client.get<{ generation: number; sha256: string }>({ index: META_INDEX, id: modelId }))._source!;
      if (meta.sha256 === sha256(bytes)) generations.get(modelId)!.push({ generation: meta.generation, bytes, from, to });
      if (result.exitCode === -1) violate(entry, `the upload did not finish within 60 s`);
      return result.exitCode === 0
        ? `generation ${meta.generation}`
        : `exit ${result.exitCode}: ${result.stderr.trim().split('\n').at(-1)}`;
    };

    /** One control API call, judged: a hang or a 5xx is a violation, a refused or reset connection only while a restart is under way. */
    const request = async (
      entry: LogEntry,
      method: string,
      path: string,
      body: unknown,
      timeoutMs: number,
      allowed: number[],
    ): Promise<Answer | null> => {
      const from = now();
      try {
        const answer = await call(listen, method, path, body, timeoutMs);
        const duringRestart = overlapsRestart(from, now());
        if (answer.status >= 500 && !(answer.status === 503 && duringRestart))
          violate(entry, `${method} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
        else if (answer.status < 500 && !allowed.includes(answer.status))
          violate(entry, `${method} answered ${answer.status}, expected one of ${allowed.join(', ')}: ${JSON.stringify(answer.body)}`);
        return answer;
      } catch (error) {
        if (error instanceof HungRequest) violate(entry, `hung: ${error.message}`);
        else if (!overlapsRestart(from, now()))
          violate(entry, `${method} ${path} failed while no restart was under way: ${describeNetworkError(error)}`);
        entry.outcome = describeNetworkError(error);
        return null;
      }
    };

    const statusOf = async (entry: LogEntry, modelId: string) => {
      const answer = await request(entry, 'GET', deployPath(modelId), undefined, 10_000, [200, 404]);
      return answer?.status === 200 ? (answer.body as DeploymentStatus) : null;
    };

    const runners: { [K in Command['kind']]: (entry: LogEntry, command: Extract<Command, { kind: K }>) => Promise<string> } = {
      deploy: async (entry, { model, waitFor }) => {
        const answer = await request(
          entry,
          'PUT',
          deployPath(models[model]!),
          { wait_for: waitFor, timeout_ms: 20_000 },
          35_000,
          [200, 202, 409],
        );
        if (!answer) return entry.outcome;
        const state = answer.body?.state ?? answer.body?.error?.code;
        if (answer.status === 200 && (state === 'failed' || state === 'stopped'))
          observations.push(`#${entry.i} deploy of ${models[model]} answered 200 ${state}: ${answer.body?.reason ?? ''}`);
        return `${answer.status} ${state} pid ${answer.body?.pid ?? '-'}`;
      },
      undeploy: async (entry, { model }) => {
        const answer = await request(entry, 'DELETE', deployPath(models[model]!), undefined, 20_000, [200, 404, 409]);
        return answer ? `${answer.status} ${answer.body?.state ?? answer.body?.error?.code}` : entry.outcome;
      },
      infer: async (entry, { model, rows }) => {
        const modelId = models[model]!;
        const from = now();
        const before = await statusOf(entry, modelId);
        const path = `${deployPath(modelId)}/infer`;
        const answers = await Promise.all(
          rows.map((tokens) => request(entry, 'POST', path, { tokens: [tokens] }, 15_000, [200, 404, 409])),
        );
        const after = await statusOf(entry, modelId);
        const same =
          before?.state === 'started' &&
          after?.state === 'started' &&
          before.pid !== null &&
          before.pid === after.pid &&
          before.generation === after.generation;
        const outcomes = answers.map((answer, k) => {
          if (!answer) return 'no answer';
          if (answer.status !== 200) return `${answer.status} ${answer.body?.error?.code}`;
          if (answer.body?.type !== 'result') {
            violate(entry, `request ${k + 1} of ${rows.length} answered a frame that is not a result: ${JSON.stringify(answer.body)}`);
            return 'error frame';
          }
          answered.push({
            i: entry.i,
            modelId,
            tokens: rows[k]!,
            values: answer.body.result.inference[0].map((cell: number[]) => cell[0]),
            from,
            to: now(),
            confirmed: same ? { pid: before.pid!, generation: before.generation } : null,
          });
          return '200';
        });
        return `${outcomes.join(', ')} from pid ${before?.pid ?? '?'}${same ? '' : ' (status changed around it)'}`;
      },
      replace: async (entry, { model, size, bytesSeed }) => replace(entry, models[model]!, seededBytes(bytesSeed, size)),
      restart: async () => {
        const window = { start: now(), end: Infinity };
        restarts.push(window);
        let over = () => {};
        restarting = { over: new Promise<void>((resolve) => (over = resolve)), dispatched: 0 };
        batchedFrames += await framesOfSeveral(listen);
        const stopped = await stopWithin(current, RESTART_EXIT_MS);
        const problems = [];
        if (!stopped.exited)
          problems.push(
            `SIGTERM did not make the daemon exit within ${RESTART_EXIT_MS / 1000} s (it was SIGKILLed); its last output: ${lastOutput(current)}`,
          );
        else if (stopped.exitCode !== 0)
          problems.push(
            `the daemon ended with ${stopped.signal ?? `exit code ${stopped.exitCode}`} on SIGTERM; its last output: ${lastOutput(current)}`,
          );
        if (stopped.leftRunning.length > 0)
          problems.push(
            `native processes ${stopped.leftRunning.join(', ')} were still running ${stopped.exited ? 'after it exited' : 'when it was given up on'}`,
          );
        current = await startDaemon({ name, listen, config: CONFIG });
        daemons.push(current);
        window.end = now();
        restarting = null;
        over();
        return problems.length ? `VIOLATION ${problems.join('; ')}` : `exited 0 in ${Math.round(stopped.ms)} ms, started again`;
      },
    };

    // Serialized per model (uploads) and for restarts: concurrent --replace of one id has its own
    // tests, and here the generation a commit produced must be known for sure. A command waiting
    // for its turn holds no slot, so the others keep 4 in flight.
    const chains = new Map<string, Promise<unknown>>();
    const afterPrevious = <T>(key: string, task: () => Promise<T>): Promise<T> => {
      const run = (chains.get(key) ?? Promise.resolve()).then(task, task);
      chains.set(
        key,
        run.catch(() => {}),
      );
      return run;
    };
    const slots = new Slots(MAX_IN_FLIGHT);
    const label = (c: Command) =>
      c.kind === 'restart'
        ? 'restart'
        : `${c.kind} ${models[c.model]}${c.kind === 'deploy' ? ` wait_for ${c.waitFor}` : ''}${c.kind === 'replace' ? ` ${c.size} bytes` : ''}`;

    let fatal: Error | null = null;
    const execute = async (entry: LogEntry, command: Command) => {
      try {
        entry.outcome = await runners[command.kind](entry, command as never);
        if (entry.outcome.startsWith('VIOLATION ')) violate(entry, entry.outcome.slice('VIOLATION '.length));
      } catch (error) {
        entry.outcome = `harness error: ${(error as Error).message}`;
        fatal ??= error as Error;
      }
      entry.end = now();
    };
    const dispatch = async (i: number, command: Command): Promise<void> => {
      const entry: LogEntry = { i, what: label(command), start: now(), end: null, outcome: 'waiting for its turn' };
      log.push(entry);
      const key = command.kind === 'replace' ? `upload ${command.model}` : command.kind === 'restart' ? 'restart' : null;
      if (key === null) return execute(entry, command).finally(() => slots.release());
      slots.release();
      await afterPrevious(key, async () => {
        await slots.acquire();
        entry.start = now();
        await execute(entry, command).finally(() => slots.release());
      });
    };

    try {
      // The first generation of each model (in this process: quicker than the CLI), then a daemon.
      await Promise.all(models.map((modelId, m) => uploadFirst(modelId, seededBytes(SEED + m, modelSize(next)), dir, generations)));
      for (const modelId of models) expect(generations.get(modelId), `${TAG}: the first upload of ${modelId}`).toHaveLength(1);
      current = await startDaemon({ name, listen, config: CONFIG });
      daemons.push(current);

      const dispatched: Array<Promise<void>> = [];
      for (const [i, command] of commandsFor(SEED).entries()) {
        if (fatal) break;
        if (restarting && restarting.dispatched >= 3) await restarting.over;
        if (restarting) restarting.dispatched += 1;
        await slots.acquire();
        await sleep(command.gapMs);
        dispatched.push(dispatch(i, command));
      }
      await Promise.all(dispatched);
      if (fatal) throw new Error(`${TAG}: the harness failed: ${(fatal as Error).message}`, { cause: fatal });
      const answersChecked = answered.filter((a) => a.confirmed).length;
      console.log(
        `concurrency: ${TAG}: ${log.length} commands in ${now()} ms, ${restarts.length} restarts, ${answered.length} answers (${answersChecked} with a confirmed started status)`,
      );

      // Answers collected during the run, now that every generation is known.
      for (const answer of answered) {
        const problem = judgeAnswer(answer, generations.get(answer.modelId)!);
        if (problem) violations.push(`#${answer.i} infer ${answer.modelId}: ${problem}`);
      }
      expect.soft(violations, `${TAG}: violations during the run`).toEqual([]);

      const { settled, list } = await settle(current, 60_000);
      expect
        .soft(
          settled,
          `${TAG}: deployments still starting or stopping 60 s after the last command: ${JSON.stringify(list.map((d) => [d.model_id, d.state]))}`,
        )
        .toBe(true);
      const agreement = await agreementAfterSettling(current, 10_000);
      expect.soft(agreement.problems, `${TAG}: the map, the native processes and the desired documents of '${name}'`).toEqual([]);
      const earlier = (await Promise.all(daemons.filter((d) => d !== current).map(liveSpawned))).flat();
      expect.soft(earlier, `${TAG}: native processes of earlier daemon runs still alive`).toEqual([]);

      batchedFrames += await framesOfSeveral(listen);
      expect.soft(batchedFrames, `${TAG}: frames that carried several requests (the bursts were batched)`).toBeGreaterThan(0);

      const served = await checkServedBytes(current, agreement.list, generations);
      expect.soft(served, `${TAG}: started deployments whose answers differ from the bytes of the generation they serve`).toEqual([]);

      finalStop = await stopWithin(current, 10_000);
      expect
        .soft(finalStop, `${TAG}: the final SIGTERM exits 0 and leaves no native process; its last output: ${lastOutput(current)}`)
        .toMatchObject({ exited: true, exitCode: 0, leftRunning: [] });
      const anyLeft = (await Promise.all(daemons.map(liveSpawned))).flat();
      expect.soft(anyLeft, `${TAG}: native processes alive after the final SIGTERM`).toEqual([]);
    } finally {
      if (!finalStop && daemons.length > 0) await stopWithin(current!, 10_000);
      for (const daemon of daemons) for (const pid of await liveSpawned(daemon)) process.kill(pid, 'SIGKILL');
      await forgetDaemon(name);
    }
  }, 150_000);
});

async function uploadFirst(modelId: string, bytes: Buffer, dir: string, generations: Map<string, Generation[]>): Promise<void> {
  const path = join(dir, `${modelId}-first.pt`);
  await writeFile(path, bytes);
  const meta = await uploadModel(
    { es: newEs(), config: testConfig((c) => (c.upload.chunkSize = CHUNK_SIZE)), logger: captureLogger().logger },
    { modelId, path },
  );
  generations.get(modelId)!.push({ generation: meta.generation, bytes, from: 0, to: 0 });
}

/**
 * Frames that carried more than one request since the daemon started, from its
 * feeder_inference_batch_size histogram (every frame minus those of one request); 0 if unreachable.
 */
async function framesOfSeveral(listen: string): Promise<number> {
  const text = await fetch(`http://${listen}/metrics`)
    .then((r) => r.text())
    .catch(() => '');
  const total = (series: string, labelled = '') =>
    [...text.matchAll(new RegExp(`^feeder_inference_batch_size_${series}\\{([^}]*)\\} (\\d+)$`, 'gm'))]
      .filter((m) => m[1]!.includes(labelled))
      .reduce((sum, m) => sum + Number(m[2]), 0);
  return total('count') - total('bucket', 'le="1"');
}

function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return `connection failed (${cause?.code ?? cause?.message ?? (error as Error).message})`;
}

/** The daemon's last log lines and anything it wrote on stderr, for a message about how it stopped. */
function lastOutput(daemon: RunningDaemon): string {
  return daemon.output().slice(-1200);
}

/** A counting semaphore: at most `free` holders at once, the others wait in order. */
class Slots {
  readonly #waiting: Array<() => void> = [];
  constructor(private free: number) {}

  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.free += 1;
  }
}
