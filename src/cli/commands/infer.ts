import type { CommandModule } from 'yargs';
import { callDaemon, inferText } from '../../api/client.js';
import { InvalidArgumentError } from '../../errors.js';
import { ARG_NAMES, batchToJson } from '../../native/token-ids.js';
import { printJson, runCommand, type GlobalArgs } from '../context.js';
import { parseTokenRows } from '../format.js';
import { describeResults } from '../infer-results.js';

type Rows = string | string[];
interface InferArgs extends GlobalArgs {
  id: string;
  json: boolean;
  tokens: Rows | undefined;
  arg1?: Rows | undefined;
  arg2?: Rows | undefined;
  arg3?: Rows | undefined;
  text: Rows | undefined;
  task: string | undefined;
  labels: string | undefined;
  multiLabel?: boolean | undefined;
  question: string | undefined;
  maxAnswerLength?: number | undefined;
  query: string | undefined;
  numTopClasses?: number | undefined;
}

const ROWS_HINT = 'comma-separated ids from 0 to 2^64 - 1; repeat the flag for more rows';

export const inferCommand: CommandModule<GlobalArgs, InferArgs> = {
  command: 'infer <id>',
  describe: 'Run one inference on a started deployment: texts (a model stored with a task) or token ids',
  builder: (yargs) =>
    yargs
      .positional('id', { type: 'string', demandOption: true })
      .option('text', { type: 'string', describe: 'a text, one doc; repeat the flag for more docs (one batch)' })
      .option('tokens', { type: 'string', describe: `token ids, e.g. 1,2,3 (${ROWS_HINT})` })
      .option('arg-1', { type: 'string', describe: `arg_1, of the shape of --tokens (${ROWS_HINT})` })
      .option('arg-2', { type: 'string', describe: 'arg_2, the same way' })
      .option('arg-3', { type: 'string', describe: 'arg_3, the same way' })
      .option('labels', { type: 'string', describe: 'zero_shot_classification: the labels to choose from, comma-separated' })
      .option('multi-label', { type: 'boolean', describe: 'zero_shot_classification: score each label alone' })
      .option('question', { type: 'string', describe: 'question_answering: the question the texts answer' })
      .option('max-answer-length', { type: 'number', describe: 'question_answering: the most tokens of an answer (default 15)' })
      .option('query', { type: 'string', describe: 'text_similarity: the text each doc is scored against' })
      .option('num-top-classes', {
        type: 'number',
        describe: 'the classes (answers, tokens) to list; -1 all; give --task with it unless a flag above names the task',
      })
      .option('task', { type: 'string', describe: "the model's task, for --num-top-classes: text_classification, fill_mask, …" })
      .option('json', { type: 'boolean', default: false })
      .example('$0 infer minilm --text "The house stands at the end of the road."', 'an embedding')
      .example('$0 infer nli --text "The match ended 2-1." --labels sports,politics', 'zero-shot classification')
      .example('$0 infer squad --text "Anna lives in Paris." --question "Where does Anna live?"', 'question answering')
      .example('$0 infer my-model --tokens 101,2023,102', 'one row of token ids'),
  handler: (args) =>
    runCommand(args, async (ctx) => {
      if ((args.text === undefined) === (args.tokens === undefined)) {
        throw new InvalidArgumentError('give --text (a model stored with a task) or --tokens (token ids), one of the two');
      }
      if (args.text !== undefined) {
        const texts = Array.isArray(args.text) ? args.text : [args.text];
        const { body } = await inferText<{ inference_results: Array<Record<string, unknown>> }>(
          ctx.config,
          args.id,
          textBody(texts, args),
          ctx.signal,
        );
        if (args.json) return printJson(body);
        return void process.stdout.write(`${describeResults(texts, body.inference_results)}\n`);
      }
      const { body } = await callDaemon<{ type: string; result?: { inference: unknown[] }; error?: { error: string } }>(
        ctx.config,
        'POST',
        `/deployments/${encodeURIComponent(args.id)}/infer`,
        // The daemon answers 504 itself once its own inference timeout is over.
        { signal: ctx.signal, body: tokensBody(args), wait: { ms: ctx.config.daemon.inferenceTimeoutMs } },
      );
      if (body.type === 'error') {
        process.exitCode = 1;
        process.stderr.write(`feeder: the native process refused the request: ${body.error?.error}\n`);
      }
      if (args.json) return printJson(body);
      if (body.result) process.stdout.write(`${JSON.stringify(body.result.inference)}\n`);
    }),
};

/** Elastic's _infer body: one doc per --text, the task's options from the flags that name them. */
function textBody(texts: string[], args: InferArgs): Record<string, unknown> {
  const body: Record<string, unknown> = { docs: texts.map((text) => ({ text_field: text })) };
  const options: Record<string, unknown> = {};
  if (args.labels !== undefined)
    options.labels = args.labels
      .split(',')
      .map((l) => l.trim())
      .filter(Boolean);
  if (args.multiLabel !== undefined) options.multi_label = args.multiLabel;
  if (args.question !== undefined) options.question = args.question;
  if (args.maxAnswerLength !== undefined) options.max_answer_length = args.maxAnswerLength;
  if (args.query !== undefined) options.text = args.query;
  if (args.numTopClasses !== undefined) options.num_top_classes = args.numTopClasses;
  if (Object.keys(options).length > 0) body.inference_config = { [taskOf(args)]: options };
  return body;
}

function taskOf(args: InferArgs): string {
  if (args.task !== undefined) return args.task;
  if (args.labels !== undefined || args.multiLabel !== undefined) return 'zero_shot_classification';
  if (args.question !== undefined || args.maxAnswerLength !== undefined) return 'question_answering';
  if (args.query !== undefined) return 'text_similarity';
  throw new InvalidArgumentError("--num-top-classes needs the model's task: give --task text_classification (or fill_mask)");
}

/** The JSON body of an inference: rows from the repeated flags, ids above 2^53 - 1 as strings. */
function tokensBody(args: InferArgs): Record<string, unknown> {
  const body: Record<string, unknown> = { tokens: batchToJson(parseTokenRows(args.tokens!, '--tokens')) };
  const given = [args.arg1, args.arg2, args.arg3];
  ARG_NAMES.forEach((name, i) => {
    const rows = given[i];
    if (rows !== undefined) body[name] = batchToJson(parseTokenRows(rows, `--arg-${i + 1}`));
  });
  return body;
}
