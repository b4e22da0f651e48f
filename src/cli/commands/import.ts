import type { Argv, CommandModule } from 'yargs';
import { formatBytes } from '../../config/units.js';
import { createProgress } from '../../log/progress.js';
import { ENCODINGS } from '../../chunks/codec/index.js';
import { TASKS } from '../../model/task-config.js';
import type { ModelMeta } from '../../model/meta.js';
import { printJson, runCommand, type GlobalArgs, type OptionsOf } from '../context.js';

const importOptions = (yargs: Argv<GlobalArgs>) =>
  yargs
    .positional('dir', { type: 'string', demandOption: true, describe: 'a local Hugging Face model directory' })
    .option('model-id', {
      type: 'string',
      demandOption: true,
      describe: 'id to store it under: lowercase letters, digits, - _ . (at most 64)',
    })
    .option('task', {
      type: 'string',
      choices: ['auto', ...TASKS] as const,
      default: 'auto' as const,
      describe: 'the task; auto tells it from the architecture and labels, as Eland does',
    })
    .option('chunk-size', { type: 'string', describe: 'bytes per chunk document, 64kb..64mb (default 1mb)' })
    .option('encoding', {
      type: 'string',
      choices: ENCODINGS,
      describe: 'how chunk documents are stored: cbor or base64; default upload.encoding',
    })
    .option('quantize', { type: 'boolean', default: false, describe: 'quantize Linear layers to qint8 (dynamic quantization)' })
    .option('replace', {
      type: 'boolean',
      default: false,
      describe: 'overwrite an existing model; it stays usable until the new one is complete',
    })
    .option('description', { type: 'string', describe: 'free text stored with the model' })
    .option('tag', { type: 'string', array: true, describe: 'a tag stored with the model (repeatable)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the stored meta document as JSON' })
    .example('$0 import ./all-MiniLM-L6-v2 --model-id minilm', 'trace, then store the model with its tokenizer and task');

export const importCommand: CommandModule<GlobalArgs, OptionsOf<typeof importOptions>> = {
  command: 'import <dir>',
  describe: 'Trace a Hugging Face model directory to TorchScript and store it with its tokenizer and task config',
  builder: importOptions,
  handler: (args) =>
    runCommand(args, async (ctx) => {
      const { importModel } = await import('../../upload/import-model.js');
      const progress = createProgress({ label: `import ${args.modelId}`, logger: ctx.logger, fields: { model_id: args.modelId } });
      const meta = await importModel(ctx, {
        dir: args.dir,
        modelId: args.modelId,
        task: args.task,
        quantize: args.quantize,
        replace: args.replace,
        ...(args.encoding !== undefined ? { encoding: args.encoding } : {}),
        signal: ctx.signal,
        onProgress: (done, total) => progress.update(done, total),
        ...(args.description !== undefined ? { description: args.description } : {}),
        ...(args.tag !== undefined ? { tags: args.tag } : {}),
      }).finally(() => progress.finish());
      if (args.json) return printJson(meta);
      process.stdout.write(describeStored(meta));
    }),
};

export function describeStored(meta: ModelMeta): string {
  const nlp = meta.nlp ? `, task ${meta.nlp.task}, ${meta.nlp.tokenizer_family} tokenizer` : '';
  return `model '${meta.model_id}' is ready: ${formatBytes(meta.total_length!)} in ${meta.chunk_count} chunks${nlp}, sha256 ${meta.sha256}\n`;
}
