import type { Argv, CommandModule } from 'yargs';
import { callDaemon } from '../../api/client.js';
import type { DeploymentStatus, FleetModelStatus, FleetStatus } from '../../api/wire-types.js';
import { InvalidArgumentError } from '../../errors.js';
import { undeployFromStoppedDaemon } from '../../maintenance/offline-undeploy.js';
import { printJson, runCommand, type CommandContext, type GlobalArgs, type OptionsOf } from '../context.js';
import { formatBytes } from '../../config/units.js';
import { CONTROL_NAMES } from '../../native/protocol.js';
import { describeFleet, describeFleetModel, describeStatus, isFleetStatus } from '../format.js';

interface IdArgs extends GlobalArgs {
  id: string;
}

const serveOptions = (yargs: Argv<GlobalArgs>) =>
  yargs
    .option('advertise', {
      type: 'string',
      describe:
        'the address other daemons and clients reach this one at: HOST[:PORT] or [IPv6][:PORT] [env FEEDER_ADVERTISE] (default: the address listened on; on 0.0.0.0, the first address of this machine)',
      group: 'Daemon:',
    })
    .option('insecure-plain-http', {
      type: 'boolean',
      describe:
        'serve plain HTTP beyond loopback, where TLS is otherwise required: the token and every inference cross the network in clear [env FEEDER_INSECURE_PLAIN_HTTP]',
      group: 'Daemon:',
    })
    .example('$0 serve --listen 127.0.0.1:9465', 'serve on a loopback port')
    .example('$0 serve --listen unix:/run/feeder/feeder.sock', 'serve on a Unix socket (mode 0600)')
    .example(
      '$0 serve --listen 0.0.0.0:9465 --token-file /etc/feeder/token --tls-cert /etc/feeder/cert.pem --tls-key /etc/feeder/key.pem',
      'serve on every interface, with a token and TLS (required there)',
    );

export const serveCommand: CommandModule<GlobalArgs, OptionsOf<typeof serveOptions>> = {
  command: 'serve',
  describe:
    'Run the daemon: control API on loopback (or beyond, with a token and TLS), deployments kept in Elasticsearch, ECS logs on stdout',
  builder: serveOptions,
  // The daemon's modules (metrics among them) load only when it runs.
  // Once stopped, the daemon exits: a request left waiting on a stalled cluster (the lease release gave
  // up on it) would otherwise hold the process open until its own timeout.
  handler: async (args) => {
    await runCommand(args, async (ctx) => (await import('../../daemon/serve.js')).serve(ctx, ctx.signal), 1, { closeWithinMs: 1000 });
    process.exit();
  },
};

const undeployOptions = (yargs: Argv<GlobalArgs>) =>
  yargs
    .positional('id', { type: 'string', demandOption: true })
    .option('daemon', {
      type: 'string',
      describe: 'a daemon that is gone for good: remove its deployment of the model from Elasticsearch directly (refused while it runs)',
    })
    .option('json', { type: 'boolean', default: false });

export const undeployCommand: CommandModule<GlobalArgs, OptionsOf<typeof undeployOptions>> = {
  command: 'undeploy <id>',
  describe: "Stop a model's native process on the daemon (SIGTERM, then SIGKILL after a delay)",
  builder: undeployOptions,
  handler: (args) =>
    runCommand(args, async (ctx) => {
      if (args.daemon !== undefined) return undeployFromStopped(ctx, args.daemon, args);
      const { body } = await callDaemon<DeploymentStatus>(ctx.config, 'DELETE', `/deployments/${encodeURIComponent(args.id)}`, {
        signal: ctx.signal,
        // A fleet undeploy waits up to 30 s for the holders to stop their allocations.
        wait: { ms: ctx.config.daemon.stopGraceMs + 30_000 },
      });
      if (args.json) return printJson(body);
      process.stdout.write(`model '${args.id}' undeployed\n`);
    }),
};

async function undeployFromStopped(ctx: CommandContext, daemon: string, args: IdArgs): Promise<void> {
  if (daemon === '') throw new InvalidArgumentError("--daemon needs the daemon's name (its daemon.name / FEEDER_DAEMON_NAME)");
  const result = await undeployFromStoppedDaemon(ctx.es, daemon, args.id, ctx.logger);
  if (args.json) return printJson(result);
  process.stdout.write(
    result.undeployed
      ? `model '${args.id}' undeployed from daemon '${daemon}', which is not running: its desired-deployment document is removed\n`
      : `daemon '${daemon}' had no deployment of model '${args.id}': nothing to undeploy (${describeDeployedOn(result.deployed_on)})\n`,
  );
  if (result.generations_removed.length > 0)
    process.stdout.write(`removed old generations ${result.generations_removed.join(', ')} of model '${args.id}'\n`);
  if (result.generations_kept.length > 0)
    process.stdout.write(
      `kept old generations ${result.generations_kept.join(', ')} of model '${args.id}': another deployment still uses them, or their delete failed (see the log)\n`,
    );
}

function describeDeployedOn(daemons: string[]): string {
  return daemons.length === 0 ? 'no daemon has one' : `it is deployed on ${daemons.map((d) => `'${d}'`).join(', ')}`;
}

const statusOptions = (yargs: Argv<GlobalArgs>) =>
  yargs.positional('id', { type: 'string', describe: 'one model id (default: all)' }).option('json', { type: 'boolean', default: false });

export const statusCommand: CommandModule<GlobalArgs, OptionsOf<typeof statusOptions>> = {
  command: 'status [id]',
  describe: 'Show deployments: state, reason, bytes streamed, throughput, pid, restarts, inferences',
  builder: statusOptions,
  handler: (args) =>
    runCommand(args, async (ctx) => {
      if (args.id) {
        const { body } = await callDaemon<DeploymentStatus | FleetModelStatus>(
          ctx.config,
          'GET',
          `/deployments/${encodeURIComponent(args.id)}`,
          {
            signal: ctx.signal,
          },
        );
        if (args.json) return printJson(body);
        return void process.stdout.write(`${isFleetStatus(body) ? describeFleetModel(body) : describeStatus(body)}\n`);
      }
      const { body } = await callDaemon<{ deployments: DeploymentStatus[]; fleet?: FleetStatus }>(ctx.config, 'GET', '/deployments', {
        signal: ctx.signal,
      });
      // A fleet member answers for the whole fleet: every allocation, on whichever daemon.
      if (body.fleet) return args.json ? printJson(body.fleet) : void process.stdout.write(`${describeFleet(body.fleet)}\n`);
      const statuses = body.deployments;
      if (args.json) return printJson(statuses);
      if (statuses.length === 0) return void process.stdout.write('no deployments\n');
      for (const s of statuses) process.stdout.write(`${describeStatus(s)}\n`);
    }),
};

type Answer = { type: string; error?: { error: string } } & Record<string, unknown>;

export const controlCommand: CommandModule<GlobalArgs, IdArgs & { request: string }> = {
  command: 'control <id> <request>',
  describe: "Send a control request to a started deployment's native process: stats (memory) or clear-cache",
  builder: (yargs) =>
    yargs
      .positional('id', { type: 'string', demandOption: true })
      .positional('request', {
        choices: Object.keys(CONTROL_NAMES),
        demandOption: true,
        describe: 'stats (control 1) or clear-cache (control 0)',
      })
      .option('json', { type: 'boolean', default: false })
      .example('$0 control my-model stats', "the native process's memory_rss and memory_max_rss"),
  handler: (args) =>
    runCommand(args, async (ctx) => {
      const { body } = await callDaemon<Answer>(ctx.config, 'POST', `/deployments/${encodeURIComponent(args.id)}/control`, {
        signal: ctx.signal,
        body: { control: CONTROL_NAMES[args.request] },
        wait: { ms: ctx.config.daemon.inferenceTimeoutMs },
      });
      if (body.type === 'error') {
        process.exitCode = 1;
        process.stderr.write(`feeder: the native process refused the request: ${body.error?.error}\n`);
      }
      if (args.json) return printJson(body);
      if (body.type === 'stats') process.stdout.write(`${describeStats(body.stats)}\n`);
      else if (body.type !== 'error') process.stdout.write(`${args.request}: ${body.type}\n`);
    }),
};

function describeStats(stats: unknown): string {
  if (typeof stats !== 'object' || stats === null) return `stats: ${JSON.stringify(stats)}`;
  return Object.entries(stats)
    .map(([name, value]) => `${name} ${typeof value === 'number' && /memory/.test(name) ? formatBytes(value) : JSON.stringify(value)}`)
    .join(', ');
}
