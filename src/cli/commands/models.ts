import type { Argv, CommandModule } from 'yargs';
import { formatBytes } from '../../config/units.js';
import { stoppedDaemons } from '../../coordination/daemon-presence.js';
import { daemonsRunning } from '../../coordination/desired-deployments.js';
import { fleetsDesiring } from '../../coordination/fleet-allocations.js';
import { DAEMONS_INDEX } from '../../model/layout.js';
import type { Es } from '../../es/es.js';
import { deleteModel } from '../../maintenance/delete.js';
import { listMetas, requireMeta, type ModelMeta } from '../../model/meta.js';
import { validateModelId } from '../../model/model-id.js';
import { removeReportedStrays, verifyModel } from '../../maintenance/verify.js';
import { printJson, runCommand, type GlobalArgs, type OptionsOf } from '../context.js';
import { describeVerifyReport } from '../format.js';

interface IdArgs extends GlobalArgs {
  id: string;
}

const withId = (yargs: Argv<GlobalArgs>) =>
  yargs
    .positional('id', { type: 'string', demandOption: true, describe: 'model id' })
    .option('json', { type: 'boolean', default: false, describe: 'print JSON' });

const list: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'list',
  describe: 'List the stored models and their state',
  builder: (yargs) => yargs.option('json', { type: 'boolean', default: false, describe: 'print JSON' }),
  handler: (args) =>
    runCommand(args, async (ctx) => {
      const metas = await listMetas(ctx.es);
      if (args.json) return printJson(metas);
      if (metas.length === 0) return void process.stdout.write('no models stored\n');
      printTable(metas);
    }),
};

const show: CommandModule<GlobalArgs, IdArgs> = {
  command: 'show <id>',
  describe: "Show one model's meta document",
  builder: withId,
  handler: (args) =>
    runCommand(args, async (ctx) => {
      const { meta } = await requireMeta(ctx.es, validateModelId(args.id), ctx.signal);
      if (args.json) return printJson(meta);
      const { nlp, ...rest } = meta;
      for (const [key, value] of Object.entries({ ...rest, ...nlpLines(nlp) }))
        process.stdout.write(`${key.padEnd(14)} ${typeof value === 'object' ? JSON.stringify(value) : String(value)}\n`);
    }),
};

const verifyOptions = (yargs: Argv<GlobalArgs>) =>
  withId(yargs).option('remove-strays', {
    type: 'boolean',
    default: false,
    describe: 'delete the stray chunk documents verify finds, by id (only when the model is otherwise intact)',
  });

const verify: CommandModule<GlobalArgs, OptionsOf<typeof verifyOptions>> = {
  command: 'verify <id>',
  describe: 'Re-read every chunk and check count, lengths, checksums and SHA-256 (exit 1 if damaged); warn of stray chunk documents',
  builder: verifyOptions,
  handler: (args) =>
    runCommand(args, async (ctx) => {
      const report = await verifyModel(ctx.es, args.id, { prefetch: ctx.config.deploy.prefetch, signal: ctx.signal });
      const removal = args.removeStrays ? await removeReportedStrays(ctx.es, report, ctx.signal) : null;
      if (!report.ok) process.exitCode = 1;
      if (args.json) return printJson(removal ? { ...report, ...removal } : report);
      process.stdout.write(describeVerifyReport(report, removal));
    }),
};

const remove: CommandModule<GlobalArgs, IdArgs> = {
  command: 'delete <id>',
  describe: 'Delete a model: its meta document and every chunk',
  builder: withId,
  handler: (args) =>
    runCommand(args, async (ctx) => {
      await deleteModel(ctx.es, args.id, ctx.logger, { refuse: refuseIfDeployed(ctx.es, ctx.signal), signal: ctx.signal });
      if (args.json) return printJson({ deleted: args.id });
      process.stdout.write(`model '${args.id}' deleted\n`);
    }),
};

export const modelsCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'models',
  describe: 'List, show, verify or delete stored models',
  builder: (yargs) =>
    yargs
      .command(list)
      .command(show)
      .command(verify)
      .command(remove)
      .demandCommand(1, 'name a models command: list, show, verify or delete'),
  handler: () => {},
};

/**
 * A deployed model is refused: its native process would lose its source. A daemon that is gone
 * cannot undeploy it, so the refusal names the way out for those.
 */
function refuseIfDeployed(es: Es, signal: AbortSignal) {
  return async (meta: ModelMeta) => {
    const fleets = await fleetsDesiring(es, meta.model_id, signal);
    if (fleets.length > 0)
      return `it is deployed in fleet ${fleets.map((f) => `'${f}'`).join(', ')}; run 'feeder undeploy ${meta.model_id}' against a daemon of that fleet first`;
    const daemons = await daemonsRunning(es, meta.model_id, signal);
    if (daemons.length === 0) return null;
    const wayOut = (await stoppedDaemons(es, daemons)).map(
      (d) =>
        `; daemon '${d}' is not running (no live lease in ${DAEMONS_INDEX}): 'feeder undeploy ${meta.model_id} --daemon ${d}' removes its deployment`,
    );
    return `it is deployed on daemon ${daemons.map((d) => `'${d}'`).join(', ')}; run 'feeder undeploy ${meta.model_id}' first${wayOut.join('')}`;
  };
}

/** What the model is for, in words; the assets' digests are in `--json`. */
function nlpLines(nlp: ModelMeta['nlp']): Record<string, string> {
  if (!nlp) return { task: 'none (a bare tensor model: requests send token ids)' };
  return {
    task: nlp.task,
    labels: nlp.labels?.join(', ') ?? '-',
    tokenizer: nlp.tokenizer_family,
    max_seq_length: String(nlp.max_sequence_length),
  };
}

function printTable(metas: ModelMeta[]): void {
  const rows = metas.map((m) => [
    m.model_id,
    m.state,
    m.total_length === null ? '-' : formatBytes(m.total_length),
    String(m.chunk_count ?? '-'),
    m.chunks_index,
    m.updated_at,
  ]);
  const header = ['MODEL ID', 'STATE', 'SIZE', 'CHUNKS', 'INDEX', 'UPDATED'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows])
    process.stdout.write(
      `${row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd()}\n`,
    );
}
