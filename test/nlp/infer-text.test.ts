import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { feeder } from '../support/cli.js';
import { startDaemon, type RunningDaemon } from '../support/daemon.js';
import { uniqueId } from '../support/es.js';
import { maxDifference, torchSetup } from '../support/torch.js';
import { docs, importAndDeploy, inferError, makeModels, postInfer } from './text-models.js';

// POST /deployments/<id>/_infer with Elastic's body, through real native-torch, for the
// classifying and embedding tasks, every doc of a request in one padded batch; and its errors.

const LONG = 'Elasticsearch stores the model in chunks and streams it into the native process, one chunk after another. '.repeat(3);

let daemon: RunningDaemon;
let classifier: string;
let encoder: string;

beforeAll(async () => {
  const models = await makeModels(['classifier', 'encoder']);
  daemon = await startDaemon({ config: { deploy: { command: torchSetup().binary, args: ['--threads', '1'] } } });
  [classifier, encoder] = await Promise.all([
    importAndDeploy(daemon, join(models, 'classifier'), 'classifier'),
    importAndDeploy(daemon, join(models, 'encoder'), 'encoder', '--task', 'text_embedding'),
  ]);
}, 400_000);

afterAll(async () => {
  await daemon?.stop();
});

describe('text_classification', () => {
  it("answers Elastic's shape: the best label and its probability, top_classes only when asked", async () => {
    const { status, json } = await postInfer(daemon, classifier, { docs: docs('The house stands at the end of the road.', 'Hi!') });
    expect(status, JSON.stringify(json)).toBe(200);
    expect(json.inference_results).toHaveLength(2);
    for (const result of json.inference_results) {
      expect(Object.keys(result).sort()).toEqual(['predicted_value', 'prediction_probability']);
      expect(['negative', 'neutral-ish', 'positive']).toContain(result.predicted_value);
      expect(result.prediction_probability).toBeGreaterThan(1 / 3);
    }
    const all = await postInfer(daemon, classifier, {
      docs: docs('Hi!'),
      inference_config: { text_classification: { num_top_classes: -1 } },
    });
    const [result] = all.json.inference_results;
    expect(result.top_classes).toHaveLength(3);
    expect(result.top_classes[0]).toEqual({
      class_name: result.predicted_value,
      class_probability: result.prediction_probability,
      class_score: result.prediction_probability,
    });
    const probabilities = result.top_classes.map((c: { class_probability: number }) => c.class_probability);
    expect(probabilities).toEqual([...probabilities].sort((a, b) => b - a));
    expect(probabilities.reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(1, 6);
    const two = await postInfer(daemon, classifier, {
      docs: docs('Hi!'),
      inference_config: { text_classification: { num_top_classes: 2 } },
    });
    expect(two.json.inference_results[0].top_classes).toEqual(result.top_classes.slice(0, 2));
  });

  it('gives a doc the same answer alone as in one batch with longer docs (within 1e-5)', async () => {
    const alone = await postInfer(daemon, classifier, {
      docs: docs('Hi!'),
      inference_config: { text_classification: { num_top_classes: -1 } },
    });
    const batched = await postInfer(daemon, classifier, {
      docs: docs(LONG, 'Hi!', 'A middling sentence of some length.'),
      inference_config: { text_classification: { num_top_classes: -1 } },
    });
    expect(
      maxDifference(probabilitiesOf(batched.json.inference_results[1]), probabilitiesOf(alone.json.inference_results[0])),
    ).toBeLessThan(1e-5);
    expect(batched.json.inference_results[1].predicted_value).toBe(alone.json.inference_results[0].predicted_value);
  });

  it('cuts a text over the limit as the stored truncate says and says is_truncated; truncate none refuses it', async () => {
    const long = 'word '.repeat(200);
    const { json } = await postInfer(daemon, classifier, { docs: docs(long, 'Hi!') });
    expect(json.inference_results[0].is_truncated).toBe(true);
    expect(json.inference_results[1].is_truncated).toBeUndefined();
    const error = await inferError(daemon, classifier, {
      docs: docs(long),
      inference_config: { text_classification: { tokenization: { bert: { truncate: 'none' } } } },
    });
    expect(error.code).toBe('FEEDER_ERR_INVALID_ARGUMENT');
    expect(error.message).toMatch(
      /the text is 202 tokens, over max_sequence_length 128, and truncate is none: shorten it, or set truncate/,
    );
  });
});

describe('text_embedding of a plain encoder, pooled by the daemon', () => {
  it('answers one normalised mean vector per doc, the same alone as in a batch with longer docs', async () => {
    const alone = await postInfer(daemon, encoder, { docs: docs('Hi!') });
    expect(alone.status, JSON.stringify(alone.json)).toBe(200);
    const vector = alone.json.inference_results[0].predicted_value as number[];
    expect(vector).toHaveLength(32);
    expect(Math.hypot(...vector)).toBeCloseTo(1, 6);
    const batched = await postInfer(daemon, encoder, { docs: docs(LONG, 'Hi!') });
    expect(maxDifference(batched.json.inference_results[1].predicted_value, vector)).toBeLessThan(1e-5);
    expect(maxDifference(batched.json.inference_results[0].predicted_value, vector)).toBeGreaterThan(1e-3);
  });
});

describe('feeder infer --text', () => {
  it("prints each doc's result as a table, or the daemon's answer with --json", async () => {
    const table = await daemon.cli([
      'infer',
      classifier,
      '--text',
      'Hi!',
      '--text',
      'The house.',
      '--task',
      'text_classification',
      '--num-top-classes',
      '-1',
    ]);
    expect(table.exitCode, table.stderr).toBe(0);
    expect(table.stdout).toMatch(
      /^doc 1: Hi!\n {2}predicted_value +(negative|neutral-ish|positive)\n {2}top_classes\n {4}\S+ +0\.\d{4} +0\.\d{4}\n/,
    );
    expect(table.stdout).toContain('\n\ndoc 2: The house.\n');
    const json = await daemon.cli(['infer', classifier, '--text', 'Hi!', '--json']);
    expect(JSON.parse(json.stdout).inference_results).toHaveLength(1);
    const vector = await daemon.cli(['infer', encoder, '--text', 'Hi!']);
    expect(vector.stdout).toMatch(/^ {2}predicted_value +\[(-?0\.\d{4}, ){8}… 32 values\]$/m);
  });

  it('refuses a task option of another task, as the daemon does, and wants --text or --tokens', async () => {
    const wrong = await daemon.cli(['infer', classifier, '--text', 'Hi!', '--labels', 'a,b']);
    expect(wrong.exitCode).toBe(2);
    expect(wrong.stderr).toContain(
      `inference_config names zero_shot_classification, but model '${classifier}' is a text_classification model`,
    );
    const neither = await daemon.cli(['infer', classifier]);
    expect(neither.exitCode).toBe(2);
    expect(neither.stderr).toContain('give --text (a model stored with a task) or --tokens (token ids), one of the two');
  });
});

describe('a bad _infer request names the problem and the fix', () => {
  it('refuses an empty doc list', async () => {
    const error = await inferError(daemon, classifier, { docs: [] });
    expect(error).toMatchObject({ code: 'FEEDER_ERR_INVALID_ARGUMENT' });
    expect(error.message).toContain('docs must hold 1 to 1024 documents, e.g. {"docs": [{"text_field": "some text"}]}');
  });

  it('refuses a doc without the input field, naming the field', async () => {
    const error = await inferError(daemon, classifier, { docs: [{ text_field: 'fine' }, { text: 'misnamed' }] });
    expect(error.message).toContain(
      `docs[1] has no text in "text_field", the input field of model '${classifier}' (it has "text"); send {"text_field": "some text"}`,
    );
  });

  it("refuses an override of another task than the model's", async () => {
    const error = await inferError(daemon, classifier, { docs: docs('Hi!'), inference_config: { ner: {} } });
    expect(error.message).toContain(`inference_config names ner, but model '${classifier}' is a text_classification model`);
  });

  it('refuses an option the task does not know, and a tokenization of another family', async () => {
    const unknown = await inferError(daemon, classifier, { docs: docs('Hi!'), inference_config: { text_classification: { top: 2 } } });
    expect(unknown.message).toContain('inference_config.text_classification takes num_top_classes, tokenization; "top" is not one of them');
    const family = await inferError(daemon, classifier, {
      docs: docs('Hi!'),
      inference_config: { text_classification: { tokenization: { roberta: { truncate: 'first' } } } },
    });
    expect(family.message).toContain('tokenization must name the model\'s tokenizer family, e.g. {"tokenization": {"bert"');
    const span = await inferError(daemon, classifier, {
      docs: docs('Hi!'),
      inference_config: { text_classification: { tokenization: { bert: { span: 16 } } } },
    });
    expect(span.message).toContain('span windows are for ner, question_answering, text_similarity; a text_classification model truncates');
  });

  it('refuses text for a model stored without a task: it takes token ids', async () => {
    const modelId = uniqueId('bare');
    const uploaded = await feeder(['upload', join(torchSetup().fixtures, 'classifier.pt'), '--model-id', modelId]);
    expect(uploaded.exitCode, uploaded.stderr).toBe(0);
    expect((await daemon.cli(['deploy', modelId])).exitCode).toBe(0);
    const error = await inferError(daemon, modelId, { docs: docs('Hi!') });
    expect(error.message).toContain(`model '${modelId}' was stored without a task or tokenizer, so it takes token ids`);
    await daemon.cli(['undeploy', modelId]);
    await feeder(['models', 'delete', modelId]);
  });
});

function probabilitiesOf(result: { top_classes: Array<{ class_name: string; class_probability: number }> }): number[] {
  return [...result.top_classes].sort((a, b) => a.class_name.localeCompare(b.class_name)).map((c) => c.class_probability);
}
