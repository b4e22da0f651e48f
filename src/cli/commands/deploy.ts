import type { Argv, CommandModule } from 'yargs';
import { formatBytes, parseDuration } from '../../config/units.js';
import { InvalidArgumentError } from '../../errors.js';
import { createProgress } from '../../log/progress.js';
import { callDaemon } from '../../api/client.js';
import type { DeploymentStatus, FleetModelStatus } from '../../api/wire-types.js';
import type { NativeProcess } from '../../native/native-process.js';
import { printJson, runCommand, type ArgsOf, type CommandContext, type GlobalArgs, type OptionsOf } from '../context.js';
import { deployFailure, describeFleetModel, describeStatus, fleetDeployFailure, isFleetStatus, parseTokenRows } from '../format.js';
import type { TokenBatch } from '../../native/token-ids.js';
import { overcommitment, resolveParallelism, type Parallelism } from '../../native/parallelism.js';

const deployOptions = (yargs: Argv<GlobalArgs>) =>
  yargs
    .positional('id', { type: 'string', demandOption: true, describe: 'model id' })
    .option('foreground', {
      type: 'boolean',
      default: false,
      describe: 'run the deployment in this process until interrupted (Ctrl-C stops it), without a daemon',
    })
    .option('allocations', {
      type: 'number',
      describe: 'with a fleet (daemon.fleet): how many daemons of the fleet should run the model, each its own native process (default 1)',
    })
    .option('workers', {
      type: 'number',
      describe:
        "forward()s at once in the model's native process, sharing its one copy of the model (Elastic's number_of_allocations, on one host); default: the host's cores / --threads-per-worker",
    })
    .option('threads-per-worker', {
      type: 'number',
      describe: "intra-op threads of each worker's forward(), a power of 2 up to 32 (Elastic's threads_per_allocation); default 1",
    })
    .option('max-batch-size', {
      type: 'number',
      describe:
        'dynamic batching: rows one frame to the native process carries at most, 1 to turn batching off (default deploy.maxBatchSize: 32)',
    })
    .option('max-queue-delay', {
      type: 'string',
      describe:
        'dynamic batching: how long a request may wait for others to share its frame, e.g. 2ms (default deploy.maxQueueDelayMs: 0, only what already waits)',
    })
    .option('wait-for', {
      choices: ['starting', 'started'] as const,
      default: 'started' as const,
      describe: 'with the daemon: return once the deployment reaches this state',
    })
    .option('timeout', {
      type: 'string',
      describe:
        'how long to wait, e.g. 60s or 10m (default 60s; with --foreground, deploy.timeoutMs: 10m); a deploy that outlasts it keeps going on the daemon',
    })
    .option('tokens', {
      type: 'string',
      // Repeated, the flag is an array: typed so, its reader cannot take it for one string.
      coerce: (rows: string | string[]) => rows,
      describe: 'after loading, run one inference on these comma-separated token ids (0 to 2^64 - 1) and print it; repeat for more rows',
    })
    .option('once', { type: 'boolean', default: false, describe: 'stop the process after loading (and --tokens) instead of waiting' })
    .option('json', { type: 'boolean', default: false, describe: 'print results as JSON' })
    .example('$0 deploy my-model', 'deploy on the running daemon and wait until it is started')
    .example('$0 deploy my-model --max-batch-size 64 --max-queue-delay 2ms', 'batch up to 64 requests, holding one up to 2 ms for others')
    .example('$0 deploy my-model --allocations 2', 'with a fleet: run my-model on two of its daemons, wait until both are started')
    .example('$0 deploy my-model --workers 2 --threads-per-worker 1', 'answer two requests at once, one core each')
    .example('$0 deploy my-model --foreground', 'load my-model in this process and keep it running until Ctrl-C')
    .example('$0 deploy my-model --foreground --tokens 1,2,3 --once', 'load, answer one inference, stop');

type DeployArgs = ArgsOf<typeof deployOptions>;

export const deployCommand: CommandModule<GlobalArgs, OptionsOf<typeof deployOptions>> = {
  command: 'deploy <id>',
  describe: 'Deploy a stored model on the daemon (or, with --foreground, in this process)',
  builder: deployOptions,
  handler: (args) =>
    runCommand(args, async (ctx) => {
      const tokens = args.tokens === undefined ? undefined : parseTokenRows(args.tokens, '--tokens');
      const timeoutMs = args.timeout === undefined ? undefined : parseDuration(args.timeout, '--timeout');
      const parallelism = parallelismOf(args);
      if (args.foreground) return deployInForeground(ctx, args, tokens, timeoutMs, resolveParallelism(parallelism));
      if (tokens) throw new InvalidArgumentError("--tokens goes with --foreground; with the daemon use 'feeder infer'");
      if (args.allocations !== undefined && args.foreground)
        throw new InvalidArgumentError('--allocations asks a fleet of daemons; it does not go with --foreground');
      await deployOnDaemon(ctx, args, timeoutMs ?? 60_000, parallelism);
    }),
};

/** What the flags named, checked before anything is asked of the daemon; the rest are the serving host's defaults. */
function parallelismOf(args: DeployArgs): Partial<Parallelism> {
  const given: Partial<Parallelism> = {};
  if (args.workers !== undefined) given.workers = args.workers;
  if (args.threadsPerWorker !== undefined) given.threadsPerWorker = args.threadsPerWorker;
  resolveParallelism(given, { workers: '--workers', threadsPerWorker: '--threads-per-worker' });
  return given;
}

async function deployOnDaemon(ctx: CommandContext, args: DeployArgs, timeoutMs: number, given: Partial<Parallelism>): Promise<void> {
  const request = {
    wait_for: args.waitFor,
    timeout_ms: timeoutMs,
    ...(args.allocations !== undefined ? { allocations: args.allocations } : {}),
    ...(given.workers !== undefined ? { workers: given.workers } : {}),
    ...(given.threadsPerWorker !== undefined ? { threads_per_worker: given.threadsPerWorker } : {}),
    ...(args.maxBatchSize !== undefined ? { max_batch_size: args.maxBatchSize } : {}),
    ...(args.maxQueueDelay !== undefined ? { max_queue_delay_ms: parseDuration(args.maxQueueDelay, '--max-queue-delay') } : {}),
  };
  const { status, body } = await callDaemon<DeploymentStatus | FleetModelStatus>(
    ctx.config,
    'PUT',
    `/deployments/${encodeURIComponent(args.id)}`,
    {
      signal: ctx.signal,
      body: request,
      wait: { ms: timeoutMs, flag: '--timeout' },
    },
  );
  const waitedOut = status === 202;
  const wait = `${timeoutMs / 1000} s`;
  if (isFleetStatus(body)) {
    const note = `\n(not all started after ${wait}; the fleet keeps going: 'feeder status ${args.id}' follows it)`;
    return reportDeploy(args, body, fleetDeployFailure(body), `${describeFleetModel(body)}${waitedOut ? note : ''}`);
  }
  const note = ` (still ${body.state} after ${wait}; the daemon keeps going: 'feeder status ${args.id}' follows it)`;
  if (body.overcommitment && !args.json) process.stderr.write(`feeder: warning: ${body.overcommitment}\n`);
  reportDeploy(args, body, deployFailure(body), `${describeStatus(body)}${waitedOut ? note : ''}`);
}

/** A failure on stderr with exit code 1; the answer as JSON with --json, else as `text`. */
function reportDeploy(args: DeployArgs, body: unknown, failure: string | null, text: string): void {
  if (failure) {
    process.exitCode = 1;
    if (!args.json) process.stderr.write(`feeder: ${failure}\n`);
  }
  if (args.json) return printJson(body);
  process.stdout.write(`${text}\n`);
}

async function deployInForeground(
  ctx: CommandContext,
  args: DeployArgs,
  tokens: TokenBatch | undefined,
  timeoutMs: number | undefined,
  parallelism: Parallelism,
): Promise<void> {
  const overcommit = overcommitment(parallelism);
  if (overcommit) process.stderr.write(`feeder: warning: ${overcommit}\n`);
  const { feedModel } = await import('../../feed/feed-model.js');
  const progress = createProgress({ label: `deploy ${args.id}`, logger: ctx.logger, fields: { model_id: args.id } });
  const result = await feedModel(ctx, {
    modelId: args.id,
    signal: ctx.signal,
    onProgress: (sent, total) => progress.update(sent, total),
    parallelism,
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
  }).finally(() => progress.finish());
  const { native, loaded, durationMs } = result;
  try {
    const summary = { model_id: args.id, pid: native.pid, bytes: loaded.bytes, sha256: loaded.sha256, load_ms: Math.round(durationMs) };
    if (args.json) printJson({ deployed: summary });
    else
      process.stdout.write(
        `model '${args.id}' deployed into native process ${native.pid}: ${formatBytes(loaded.bytes)}, sha256 verified, in ${(durationMs / 1000).toFixed(1)} s\n`,
      );
    if (tokens) await printInference(native, tokens, args.json ?? false);
    if (!args.once) await untilStoppedOrDead(native, ctx.signal);
  } finally {
    await native.stop();
  }
}

async function printInference(native: NativeProcess, tokens: TokenBatch, json: boolean): Promise<void> {
  const answer = await native.request({ tokens });
  if (answer.type === 'error') throw new InvalidArgumentError(`the native process refused the request: ${answer.error.error}`);
  if (json) return printJson(answer);
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}

async function untilStoppedOrDead(native: NativeProcess, signal: AbortSignal): Promise<void> {
  const stopped = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  await Promise.race([stopped, native.exited]);
  if (!signal.aborted) throw native.failureOf('while serving');
}
