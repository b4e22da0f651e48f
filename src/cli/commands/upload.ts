import type { Argv, CommandModule } from 'yargs';
import { createProgress } from '../../log/progress.js';
import { ENCODINGS } from '../../chunks/codec/index.js';
import { InvalidArgumentError } from '../../errors.js';
import { TASKS } from '../../model/task-config.js';
import type { TracedUploadOptions } from '../../upload/import-model.js';
import { printJson, runCommand, type ArgsOf, type GlobalArgs, type OptionsOf } from '../context.js';
import { describeStored } from './import.js';

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
    .option('task', {
      type: 'string',
      choices: TASKS,
      describe: 'the task of a model you traced; stores a tokenizer and task config with it',
    })
    .option('tokenizer', { type: 'string', describe: "with --task: the model's tokenizer.json" })
    .option('vocabulary', {
      type: 'string',
      describe: 'with --task, instead of --tokenizer: an Elastic ML vocabulary document (vocabulary, merges, scores)',
    })
    .option('tokenizer-family', {
      type: 'string',
      choices: ['bert', 'roberta', 'xlm_roberta'] as const,
      default: 'bert' as const,
      describe: "with --vocabulary: the vocabulary's tokenizer (WordPiece, byte-level BPE or Unigram)",
    })
    .option('lower-case', { type: 'boolean', default: false, describe: 'with --vocabulary --tokenizer-family bert: lowercase the text' })
    .option('labels', { type: 'string', describe: "with --task: the model's output labels, in order, comma-separated" })
    .option('max-sequence-length', { type: 'number', describe: 'with --task: the most tokens the model takes (default 512)' })
    .example('$0 upload model.pt --model-id my-model', 'store model.pt')
    .example(
      '$0 upload model.pt --model-id my-model --task ner --tokenizer tokenizer.json --labels O,B_PER,I_PER',
      'store a traced NER model',
    )
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
      const { uploadTraced } = await import('../../upload/import-model.js');
      const progress = createProgress({ label: `upload ${args.modelId}`, logger: ctx.logger, fields: { model_id: args.modelId } });
      const common = {
        modelId: args.modelId,
        path: args.file === STDIN_ARG ? '-' : args.file,
        replace: args.replace,
        ...(args.encoding !== undefined ? { encoding: args.encoding } : {}),
        signal: ctx.signal,
        onProgress: (done: number, total: number | null) => progress.update(done, total),
        ...(args.description !== undefined ? { description: args.description } : {}),
        ...(args.tag !== undefined ? { tags: args.tag } : {}),
      };
      const traced = tracedOptions(args);
      const meta = await (
        traced ? uploadTraced(ctx, { ...common, ...traced }) : uploadModel(ctx, { ...common, resume: args.resume })
      ).finally(() => progress.finish());
      if (args.json) return printJson(meta);
      process.stdout.write(describeStored(meta));
    }),
};

type UploadArgs = ArgsOf<typeof uploadOptions>;

/** The options that make an upload store a tokenizer and task config; null for a bare model. */
function tracedOptions(args: UploadArgs): Pick<TracedUploadOptions, 'task' | 'tokenizer' | 'labels' | 'maxSequenceLength'> | null {
  const needsTask = args.tokenizer ?? args.vocabulary ?? args.labels;
  if (args.task === undefined) {
    if (needsTask !== undefined)
      throw new InvalidArgumentError("--tokenizer, --vocabulary and --labels go with --task: name the model's task");
    return null;
  }
  if (args.file === STDIN_ARG || args.resume)
    throw new InvalidArgumentError('--task needs a model file, not stdin, and cannot --resume: upload it again with --replace');
  if ((args.tokenizer === undefined) === (args.vocabulary === undefined)) {
    throw new InvalidArgumentError(
      "--task needs the model's tokenizer: give --tokenizer tokenizer.json or --vocabulary vocabulary.json (one of them)",
    );
  }
  const tokenizer =
    args.tokenizer !== undefined
      ? { file: args.tokenizer }
      : { vocabulary: args.vocabulary!, family: args.tokenizerFamily, lowerCase: args.lowerCase };
  const labels = args.labels
    ?.split(',')
    .map((label) => label.trim())
    .filter((label) => label !== '');
  return {
    task: args.task,
    tokenizer,
    ...(labels !== undefined ? { labels } : {}),
    ...(args.maxSequenceLength !== undefined ? { maxSequenceLength: args.maxSequenceLength } : {}),
  };
}
