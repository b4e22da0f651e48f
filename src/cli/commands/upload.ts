import type { Argv, CommandModule } from 'yargs';
import { formatBytes } from '../../config/units.js';
import { createProgress } from '../../log/progress.js';
import { ENCODINGS } from '../../chunks/codec/index.js';
import { printJson, runCommand, type GlobalArgs, type OptionsOf } from '../context.js';

// yargs reads a lone `-` as an option with no name, so cli.ts swaps it for this before parsing;
// a NUL byte can never be part of a path. Kept here, beside its one reader, so that cli.ts imports
// this command and nothing imports cli.ts back.
export const STDIN_ARG = '\0stdin';

const uploadOptions = (yargs: Argv<GlobalArgs>) =>
  yargs
    .positional('file', { type: 'string', demandOption: true, describe: 'model file, or - to read stdin' })
    .option('model-id', {
      type: 'string',
      demandOption: true,
      describe: 'id to store it under: lowercase letters, digits, - _ . (at most 64)',
    })
    .option('chunk-size', { type: 'string', describe: 'bytes per chunk document, 64kb..64mb (default 1mb)' })
    .option('encoding', {
      type: 'string',
      choices: ENCODINGS,
      describe:
        'how chunk documents are stored: cbor (raw bytes, the fast path) or base64 (JSON with base64 text, as Elastic ML stores models); default upload.encoding, cbor',
    })
    .option('replace', {
      type: 'boolean',
      default: false,
      describe: 'overwrite an existing model; the old one stays usable until the new one is complete',
    })
    .option('resume', {
      type: 'boolean',
      default: false,
      describe: 'finish an interrupted upload, sending only chunks missing or different',
    })
    .option('description', { type: 'string', describe: 'free text stored with the model' })
    .option('tag', { type: 'string', array: true, describe: 'a tag stored with the model (repeatable)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the stored meta document as JSON' })
    .example('$0 upload model.pt --model-id my-model', 'store model.pt')
    .example('curl -s https://example.org/model.pt | $0 upload - --model-id my-model', 'store from a pipe')
    .example('$0 upload model.pt --model-id my-model --resume', 'finish an interrupted upload')
    .example('$0 upload model.pt --model-id my-model --encoding base64', 'store Elastic-ML-style JSON documents');

export const uploadCommand: CommandModule<GlobalArgs, OptionsOf<typeof uploadOptions>> = {
  command: 'upload <file>',
  describe: 'Store a model file (or stdin, with -) in Elasticsearch as chunk documents',
  builder: uploadOptions,
  handler: (args) =>
    runCommand(args, async (ctx) => {
      const { uploadModel } = await import('../../upload/upload.js');
      const progress = createProgress({ label: `upload ${args.modelId}`, logger: ctx.logger, fields: { model_id: args.modelId } });
      const meta = await uploadModel(ctx, {
        modelId: args.modelId,
        path: args.file === STDIN_ARG ? '-' : args.file,
        replace: args.replace,
        resume: args.resume,
        ...(args.encoding !== undefined ? { encoding: args.encoding } : {}),
        signal: ctx.signal,
        onProgress: (done, total) => progress.update(done, total),
        ...(args.description !== undefined ? { description: args.description } : {}),
        ...(args.tag !== undefined ? { tags: args.tag } : {}),
      }).finally(() => progress.finish());
      if (args.json) return printJson(meta);
      process.stdout.write(
        `model '${meta.model_id}' is ready: ${formatBytes(meta.total_length!)} in ${meta.chunk_count} chunks, sha256 ${meta.sha256}\n`,
      );
    }),
};
