import yargs, { type Argv } from 'yargs';
import { controlCommand, serveCommand, statusCommand, undeployCommand } from './commands/daemon.js';
import { inferCommand } from './commands/infer.js';
import { deployCommand } from './commands/deploy.js';
import { importCommand } from './commands/import.js';
import { modelsCommand } from './commands/models.js';
import { nativeCommand } from './commands/native.js';
import { STDIN_ARG, uploadCommand } from './commands/upload.js';
import type { GlobalArgs } from './context.js';
import { globalOptions } from './global-options.js';

export function buildCli(args: string[]): Argv<GlobalArgs> {
  return yargs(args.map((arg) => (arg === '-' ? STDIN_ARG : arg)))
    .scriptName('feeder')
    .usage('$0 <command> [options]\n\nKeeps large ML models in Elasticsearch and streams them into a native inference process.')
    .options(globalOptions)
    .command(uploadCommand)
    .command(importCommand)
    .command(modelsCommand)
    .command(serveCommand)
    .command(deployCommand)
    .command(undeployCommand)
    .command(statusCommand)
    .command(inferCommand)
    .command(controlCommand)
    .command(nativeCommand)
    .demandCommand(1, 'name a command; feeder --help lists them')
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version(false)
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .epilogue('Exit codes: 0 ok, 1 the operation failed, 2 bad usage or input. Configuration: config file < environment < flags.')
    .fail((message, error) => {
      if (error) throw error;
      process.stderr.write(`feeder: ${message}\nRun with --help for usage.\n`);
      process.exit(2);
    });
}
