import { InvalidArgumentError, UnloadableModelError } from '../errors.js';
import type { ModelAssets } from '../model/assets.js';
import { parseTaskConfig, type Task, type TaskConfig } from '../model/task-config.js';
import type { ResponseFrame } from '../native/protocol.js';
import { padBatch, type PaddedBatch } from './batch.js';
import { describe, type InferBody } from './infer-body.js';
import { expectedShape } from './probe-shapes.js';
import { shapeOf } from './scores.js';
import { TextTokenizer } from './tokenizer.js';
import { TRUNCATE_OPTIONS, type Truncate } from './truncation.js';

/** One request's texts with the settings its task runs with: the stored ones, with the request's overrides. */
export interface TextRequest {
  texts: string[];
  options: Record<string, unknown>;
  truncate: Truncate;
  /** Tokens the windows of a long text overlap by; -1 for no windows. */
  span: number;
  maxSequenceLength: number;
}

export type Forward = (batch: PaddedBatch) => Promise<ResponseFrame>;

/** The tasks whose results combine over the windows of a long text, as Elastic's do. */
const WINDOWED_TASKS: readonly Task[] = ['ner', 'question_answering', 'text_similarity'];

const PROBE_TEXTS = ['Elasticsearch', 'One short probe of the model.'];

/** A deployed NLP model: its task config and tokenizer, ready before the deployment is started. */
export class TextModel {
  private constructor(
    readonly modelId: string,
    readonly config: TaskConfig,
    readonly tokenizer: TextTokenizer,
  ) {}

  static fromAssets(modelId: string, assets: ModelAssets): TextModel {
    return new TextModel(modelId, parseTaskConfig(assets.task_config, `of model '${modelId}'`), TextTokenizer.fromJson(assets.tokenizer));
  }

  get task(): Task {
    return this.config.task;
  }

  /** The document field the text is read from, Elastic's `input.field_names[0]`. */
  get inputField(): string {
    return this.config.input?.field_names?.[0] ?? 'text_field';
  }

  /** Pads rows into one batch with the family's inputs. */
  batchOf(rows: Parameters<typeof padBatch>[0]): PaddedBatch {
    return padBatch(rows, this.config.inputs, this.tokenizer.padId);
  }

  /** The texts of the docs and the settings of the request, each checked. */
  requestFor(body: InferBody): TextRequest {
    const field = this.inputField;
    const texts = body.docs.map((doc, i) => {
      const text = doc[field];
      if (typeof text !== 'string') {
        const has =
          Object.keys(doc)
            .map((k) => JSON.stringify(k))
            .join(', ') || 'no field';
        throw new InvalidArgumentError(
          `docs[${i}] has no text in "${field}", the input field of model '${this.modelId}' (it has ${has}); send {"${field}": "some text"}`,
        );
      }
      return text;
    });
    const options = { ...(this.overridesOf(body) ?? {}) };
    const tokenization = this.tokenizationOf(options.tokenization);
    delete options.tokenization;
    return { texts, options, ...tokenization };
  }

  private overridesOf(body: InferBody): Record<string, unknown> | null {
    if (!body.override) return null;
    if (body.override.task !== this.task) {
      throw new InvalidArgumentError(
        `inference_config names ${body.override.task}, but model '${this.modelId}' is a ${this.task} model: send {"inference_config": {"${this.task}": {…}}} or none`,
      );
    }
    return body.override.options;
  }

  private tokenizationOf(value: unknown): Omit<TextRequest, 'texts' | 'options'> {
    const { family, truncate, max_sequence_length: maxSequenceLength } = this.config.tokenization;
    const stored = { truncate: truncate as Truncate, span: this.defaultSpan(maxSequenceLength), maxSequenceLength };
    if (value === undefined) return stored;
    const settings = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[family] : undefined;
    if (typeof settings !== 'object' || settings === null || Object.keys(value as object).length !== 1) {
      throw new InvalidArgumentError(
        `tokenization must name the model's tokenizer family, e.g. {"tokenization": {"${family}": {"truncate": "first"}}}; got ${describe(value)}`,
      );
    }
    const given = settings as Record<string, unknown>;
    if (given.truncate !== undefined && !TRUNCATE_OPTIONS.includes(given.truncate as Truncate)) {
      throw new InvalidArgumentError(
        `tokenization.${family}.truncate must be one of ${TRUNCATE_OPTIONS.join(', ')}; got ${describe(given.truncate)}`,
      );
    }
    const span = given.span ?? stored.span;
    if (!Number.isInteger(span) || (span as number) < -1 || (span as number) >= maxSequenceLength / 2) {
      throw new InvalidArgumentError(
        `tokenization.${family}.span must be -1 (no windows) or a whole number of tokens below half of max_sequence_length ${maxSequenceLength}; got ${describe(span)}`,
      );
    }
    if ((span as number) >= 0 && !WINDOWED_TASKS.includes(this.task)) {
      throw new InvalidArgumentError(
        `span windows are for ${WINDOWED_TASKS.join(', ')}; a ${this.task} model truncates a long text (tokenization.${family}.truncate)`,
      );
    }
    return { truncate: (given.truncate as Truncate | undefined) ?? stored.truncate, span: span as number, maxSequenceLength };
  }

  /** Elastic windows a question's context by default (128 tokens of overlap), within our smaller limits too. */
  private defaultSpan(maxSequenceLength: number): number {
    return this.task === 'question_answering' ? Math.min(128, Math.floor(maxSequenceLength / 4)) : -1;
  }

  /**
   * One short forward of two texts through the family's inputs, before the deployment is started:
   * a model that does not take them, or answers another shape than its task needs, fails the
   * deployment at once (no restart cures it), naming the fix.
   */
  async probe(forward: Forward): Promise<void> {
    const rows = await Promise.all(PROBE_TEXTS.map((text) => this.tokenizer.encode(text)));
    const fix = `import it again with 'feeder import', or upload a model traced with forward(${this.config.inputs.join(', ')}) and its right --task and --labels`;
    let frame: ResponseFrame;
    try {
      frame = await forward(this.batchOf(rows));
    } catch (error) {
      throw new UnloadableModelError(
        `model '${this.modelId}' failed the probe forward of two short texts: ${(error as Error).message}; ${fix}`,
      );
    }
    if (frame.type !== 'result') {
      const why = frame.type === 'error' ? frame.error.error : `a ${frame.type} frame`;
      throw new UnloadableModelError(
        `model '${this.modelId}' does not take the ${this.config.tokenization.family} family's inputs (${this.config.inputs.join(', ')}): the probe forward of two short texts got ${why}; ${fix}`,
      );
    }
    const shape = shapeOf(frame.result.inference);
    const expected = expectedShape(this.config, rows.length, Math.max(...rows.map((r) => r.ids.length)));
    if (!expected.matches(shape)) {
      throw new UnloadableModelError(
        `model '${this.modelId}' answered the probe forward of two short texts with shape [${shape.join(', ')}], where ${this.task} needs ${expected.text}; ${fix}`,
      );
    }
  }
}
