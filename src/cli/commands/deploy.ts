import type { CommandModule } from 'yargs';
import { formatBytes, parseDuration } from '../../config/units.js';
import { InvalidArgumentError } from '../../errors.js';
import { feedModel } from '../../feed/feed-model.js';
import { createProgress } from '../../log/progress.js';
import type { NativeProcess } from '../../native/native-process.js';
import { printJson, runCommand, type CommandContext, type GlobalArgs } from '../context.js';

interface DeployArgs extends GlobalArgs {
  id: string;
  foreground: boolean;
  timeout?: string;
  tokens?: string;
  once: boolean;
}

export const deployCommand: CommandModule<GlobalArgs, DeployArgs> = {
  command: 'deploy <id>',
  describe: 'Stream a stored model into a new native inference process',
  builder: (yargs) =>
    yargs
      .positional('id', { type: 'string', demandOption: true, describe: 'model id' })
      .option('foreground', { type: 'boolean', default: false, describe: 'run the deployment in this process until interrupted (Ctrl-C stops it)' })
      .option('timeout', { type: 'string', describe: 'how long loading may take, e.g. 60s or 10m (default from deploy.timeoutMs: 10m)' })
      .option('tokens', { type: 'string', describe: 'after loading, run one inference on these comma-separated token ids and print it' })
      .option('once', { type: 'boolean', default: false, describe: 'stop the process after loading (and --tokens) instead of waiting' })
      .option('json', { type: 'boolean', default: false, describe: 'print results as JSON' })
      .example('$0 deploy my-model --foreground', 'load my-model and keep it running until Ctrl-C')
      .example('$0 deploy my-model --foreground --tokens 1,2,3 --once', 'load, answer one inference, stop') as never,
  handler: (args) =>
    runCommand(args, async (ctx) => {
      if (!args.foreground) throw new InvalidArgumentError("pass --foreground to run the deployment in this process");
      const tokens = args.tokens === undefined ? undefined : parseTokens(args.tokens);
      const timeoutMs = args.timeout === undefined ? undefined : parseDuration(args.timeout, '--timeout');
      await deployInForeground(ctx, args, tokens, timeoutMs);
    }),
};

async function deployInForeground(ctx: CommandContext, args: DeployArgs, tokens: number[] | undefined, timeoutMs: number | undefined): Promise<void> {
  const progress = createProgress({ label: `deploy ${args.id}`, logger: ctx.logger, fields: { model_id: args.id } });
  const result = await feedModel(ctx, {
    modelId: args.id,
    signal: ctx.signal,
    onProgress: (sent, total) => progress.update(sent, total),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
  }).finally(() => progress.finish());
  const { native, loaded, durationMs } = result;
  try {
    const summary = { model_id: args.id, pid: native.pid, bytes: loaded.bytes, sha256: loaded.sha256, load_ms: Math.round(durationMs) };
    if (args.json) printJson({ deployed: summary });
    else process.stdout.write(`model '${args.id}' deployed into native process ${native.pid}: ${formatBytes(loaded.bytes)}, sha256 verified, in ${(durationMs / 1000).toFixed(1)} s\n`);
    if (tokens) await printInference(native, tokens, args.json ?? false);
    if (!args.once) await untilStoppedOrDead(native, ctx.signal);
  } finally {
    await native.stop();
  }
}

async function printInference(native: NativeProcess, tokens: number[], json: boolean): Promise<void> {
  const answer = await native.request({ tokens: [tokens] });
  if (answer.type === 'error') throw new InvalidArgumentError(`the native process refused the request: ${answer.error.error}`);
  if (json) return printJson(answer);
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}

async function untilStoppedOrDead(native: NativeProcess, signal: AbortSignal): Promise<void> {
  const stopped = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  await Promise.race([stopped, native.exited]);
  if (!signal.aborted) throw native.failureOf('while serving');
}

export function parseTokens(text: string): number[] {
  const tokens = text.split(',').map((t) => t.trim());
  if (tokens.length === 0 || tokens.some((t) => !/^\d+$/.test(t) || !Number.isSafeInteger(Number(t)))) {
    throw new InvalidArgumentError(`--tokens must be comma-separated non-negative whole numbers, e.g. 1,2,3; got '${text}'`);
  }
  return tokens.map(Number);
}
