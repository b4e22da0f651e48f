import { readFile } from 'node:fs/promises';
import type { Argv, CommandModule } from 'yargs';
import { parseDuration } from '../../config/units.js';
import { InvalidArgumentError, SourceError } from '../../errors.js';
import { printJson, runCommand, type ArgsOf, type GlobalArgs, type OptionsOf } from '../context.js';
import { buildStubCommand } from './native-build.js';

const checkOptions = (yargs: Argv<GlobalArgs>) =>
  yargs
    .positional('command', { type: 'string', describe: 'the program, as deploy.command: a path, or a name on PATH' })
    .positional('args', { type: 'string', array: true, describe: 'its arguments, as deploy.args (after --)' })
    .option('header', {
      choices: ['u32', 'u64'] as const,
      describe: 'the size header width (default deploy.header); the process gets it as FEEDER_HEADER',
    })
    .option('model', {
      type: 'string',
      describe: 'a model file to load (default: 4 KiB of random bytes, which a stand-in takes but a real runtime refuses)',
    })
    .option('timeout', { type: 'string', default: '60s', describe: 'the wait for the loaded report and for each answer' })
    .option('grace', { type: 'string', describe: 'the wait for an exit after EOF or SIGTERM (default daemon.stopGraceMs)' })
    .option('json', { type: 'boolean', default: false })
    .example('$0 native check -- ./native-stub/build/native-stub', 'check the stub')
    .example(
      '$0 native check --header u64 --model model.pt -- python3 my_runtime.py --threads 2',
      'check your own process on a real model',
    );

const checkCommand: CommandModule<GlobalArgs, OptionsOf<typeof checkOptions>> = {
  command: 'check [command] [args..]',
  describe: 'Drive a native process through the protocol (docs/native-protocol.md) and say what it gets wrong',
  builder: checkOptions,
  handler: (args) =>
    runCommand(args, async (ctx) => {
      const [command, ...commandArgs] = commandLine(args);
      if (!command) throw new InvalidArgumentError('name the native process to check: feeder native check -- <command> [args...]');
      const { resolveCommand } = await import('../../native/command-path.js');
      const { nativeEnvironment } = await import('../../native/native-env.js');
      const { checkNativeProcess } = await import('../../native/check/conformance.js');
      const header = args.header ?? ctx.config.deploy.header;
      const env = nativeEnvironment(ctx.config.deploy.env, header);
      const results = await checkNativeProcess({
        command: await resolveCommand(command, env.PATH),
        args: commandArgs,
        env,
        header,
        ...(args.model !== undefined ? { model: await readModel(args.model) } : {}),
        timeoutMs: parseDuration(args.timeout, '--timeout'),
        graceMs: args.grace === undefined ? ctx.config.daemon.stopGraceMs : parseDuration(args.grace, '--grace'),
      });
      const passed = results.every((r) => r.outcome === 'ok');
      if (!passed) process.exitCode = 1;
      if (args.json) return printJson({ command, args: commandArgs, header, passed, cases: results });
      for (const r of results) process.stdout.write(`${describeResult(r)}\n`);
      const failed = results.filter((r) => r.outcome !== 'ok').length;
      process.stdout.write(
        passed ? `all ${results.length} cases passed\n` : `${failed} of ${results.length} cases failed or were not run\n`,
      );
    }),
};

/** The command and its arguments: before `--` as positionals, after it (where its own flags go) in `_`, behind `native check`. */
function commandLine(args: ArgsOf<typeof checkOptions>): string[] {
  const afterDashes = args._.slice(2).map(String);
  return [...(args.command !== undefined ? [args.command] : []), ...(args.args ?? []).map(String), ...afterDashes];
}

function describeResult(r: { case: string; outcome: string; detail: string }): string {
  if (r.outcome === 'ok') return `ok    ${r.case}${r.detail ? ` (${r.detail})` : ''}`;
  return `${r.outcome === 'fail' ? 'FAIL' : 'SKIP'}  ${r.case}: ${r.detail}`;
}

async function readModel(path: string): Promise<Buffer> {
  return readFile(path).catch((error: NodeJS.ErrnoException) => {
    throw new SourceError(`cannot read the model file '${path}' (${error.code}); give --model a readable file`);
  });
}

export const nativeCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'native <command>',
  describe: 'Native processes: check one against the protocol, build the stub',
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs.command(checkCommand).command(buildStubCommand).demandCommand(1, 'name a subcommand: check, build-stub'),
  handler: () => {},
};
