import { setTimeout as sleep } from 'node:timers/promises';
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { loadConfig, type ConfigOverrides, type FeederConfig } from '../config/config.js';
import { FeederError } from '../errors.js';
import { Es } from '../es/es.js';
import { createLogger, type Logger } from '../log/logger.js';
import { visibleSecretsWarning } from './visible-secrets.js';

/** What every command gets: configuration, a logger, and the cluster (connected on first use). */
export interface CommandContext {
  config: FeederConfig;
  logger: Logger;
  readonly es: Es;
  signal: AbortSignal;
}

export interface GlobalArgs extends ConfigOverrides {
  // `| undefined` as in ConfigOverrides: yargs types an option it may leave out so, and a handler gets its options as yargs types them.
  json?: boolean | undefined;
}

type OptionsBuilder = (yargs: Argv<GlobalArgs>) => Argv<unknown>;

/**
 * The options a command's builder declares, as yargs types them: a command typed
 * `CommandModule<GlobalArgs, OptionsOf<typeof builder>>` hands its handler exactly those, so an
 * option renamed, retyped or dropped fails to compile where it is read.
 */
export type OptionsOf<B extends OptionsBuilder> = ReturnType<B> extends Argv<infer U> ? U : never;

/** What the handler of a command built by B receives (kebab-case options camel-cased too). */
export type ArgsOf<B extends OptionsBuilder> = ArgumentsCamelCase<OptionsOf<B>>;

/**
 * Runs a command: builds its context, turns a FeederError into `feeder: <message>` on stderr and
 * its exit code, and cancels the work on the first SIGINT/SIGTERM.
 */
export async function runCommand(
  args: GlobalArgs,
  action: (ctx: CommandContext) => Promise<void>,
  logFd: 1 | 2 = 2,
  { closeWithinMs }: { closeWithinMs?: number } = {},
): Promise<void> {
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals) => controller.abort(signal);
  // `on`, not `once`: execa's exit cleanup re-raises a signal that no other listener is left to handle.
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  let es: Es | undefined;
  try {
    warnOfVisibleSecrets(args);
    const config = loadConfig(args);
    const logger = createLogger({ level: config.log.level, fd: logFd });
    const ctx: CommandContext = {
      config,
      logger,
      signal: controller.signal,
      get es() {
        es ??= new Es(config.elasticsearch);
        return es;
      },
    };
    await action(ctx);
  } catch (error) {
    if (controller.signal.aborted) reportInterrupted(controller.signal.reason as NodeJS.Signals);
    else reportError(error);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    // Closing waits for requests still under way; a bound keeps a stalled cluster from holding the command.
    await (closeWithinMs === undefined ? es?.close() : Promise.race([es?.close(), sleep(closeWithinMs)]));
  }
}

/** On stderr, once per command, before anything else: stdout is the command's result. */
function warnOfVisibleSecrets(args: GlobalArgs): void {
  const warning = visibleSecretsWarning(args);
  if (warning !== null) process.stderr.write(`feeder: warning: ${warning}\n`);
}

function reportInterrupted(signal: NodeJS.Signals): void {
  process.stderr.write(`feeder: interrupted by ${signal}; nothing was marked complete (an upload can be finished with --resume)\n`);
  process.exitCode = signal === 'SIGINT' ? 130 : 143;
}

function reportError(error: unknown): void {
  if (error instanceof FeederError) {
    process.stderr.write(`feeder: ${error.message} (${error.code})\n`);
    process.exitCode = error.exitCode;
    return;
  }
  process.stderr.write(`feeder: unexpected error: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exitCode = 1;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
