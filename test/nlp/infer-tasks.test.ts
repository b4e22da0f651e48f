import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/model/assets.js';
import { ASSETS_INDEX, META_INDEX, assetDocId } from '../../src/model/layout.js';
import { feeder } from '../support/cli.js';
import { startDaemon, type RunningDaemon } from '../support/daemon.js';
import { newEs, uniqueId } from '../support/es.js';
import { maxDifference, torchSetup } from '../support/torch.js';
import { docs, importAndDeploy, inferError, makeModels, postInfer } from './text-models.js';

// Each task's _infer wire shape through real native-torch, with the small fixed-seed models of
// test/fixtures/nlp/make-nlp-models.py (random weights: the shapes, offsets and batching are the
// point here; the equality with transformers.pipeline is test/nlp's reference tests' business).

const CONTEXT = 'Anna Berg lives in Paris. She works at the museum by the river.';
const LONG = `${CONTEXT} `.repeat(12);

const es = newEs();
let daemon: RunningDaemon;
let models: string;
const ids: Record<string, string> = {};

beforeAll(async () => {
  models = await makeModels(['ner', 'zero-shot', 'similarity', 'qa', 'fill-mask', 'encoder', 'classifier']);
  daemon = await startDaemon({ config: { deploy: { command: torchSetup().binary, args: ['--threads', '1'] } } });
  const wanted: Array<[string, string, ...string[]]> = [
    ['ner', 'ner'],
    ['zero-shot', 'zero-shot'],
    ['similarity', 'similarity'],
    ['qa', 'qa'],
    ['fill-mask', 'fill-mask'],
    ['expansion', 'fill-mask', '--task', 'text_expansion'],
    ['pass-through', 'encoder', '--task', 'pass_through'],
  ];
  for (const [name, dir, ...more] of wanted) ids[name] = await importAndDeploy(daemon, join(models, dir), name, ...more);
}, 600_000);

afterAll(async () => {
  await daemon?.stop();
});

const infer = async (name: string, body: Record<string, unknown>) => {
  const { status, json } = await postInfer(daemon, ids[name]!, body);
  expect(status, JSON.stringify(json)).toBe(200);
  return json.inference_results as Array<Record<string, any>>;
};

describe('ner', () => {
  it('groups words into entities with character offsets, annotates the text, and answers a doc alike alone and batched', async () => {
    const [alone] = await infer('ner', { docs: docs(CONTEXT) });
    const [, batched] = await infer('ner', { docs: docs(LONG, CONTEXT) });
    expectAlike(batched!, alone!);
    expect(Object.keys(alone!).sort()).toEqual(['entities', 'predicted_value']);
    let annotated = CONTEXT;
    for (const entity of [...alone!.entities].reverse()) {
      expect(Object.keys(entity).sort()).toEqual(['class_name', 'class_probability', 'end_pos', 'entity', 'start_pos']);
      expect(['PER', 'LOC']).toContain(entity.class_name);
      // MiniLM's tokenizer is uncased: Elastic gives the entity lowercased, the annotation as written.
      const words = CONTEXT.slice(entity.start_pos, entity.end_pos);
      expect(entity.entity).toBe(words.toLowerCase());
      expect(words).toMatch(/^\S(.*\S)?$/);
      annotated = `${annotated.slice(0, entity.start_pos)}[${words}](${entity.class_name}&${words.replaceAll(' ', '+')})${annotated.slice(entity.end_pos)}`;
    }
    expect(alone!.predicted_value).toBe(annotated);
  });

  it('cuts a long text into span windows that together cover it: nothing is truncated', async () => {
    const [windowed] = await infer('ner', {
      docs: docs(LONG),
      inference_config: { ner: { tokenization: { bert: { truncate: 'none', span: 16 } } } },
    });
    expect(windowed!.is_truncated).toBeUndefined();
    const [cut] = await infer('ner', { docs: docs(LONG) });
    expect(cut!.is_truncated).toBe(true);
    const last = (result: Record<string, any>) => Math.max(0, ...result.entities.map((e: { end_pos: number }) => e.end_pos));
    expect(last(windowed!)).toBeGreaterThanOrEqual(last(cut!));
  });
});

describe('zero_shot_classification', () => {
  it("scores the request's labels in one batch of doc × label pairs: softmax across them, or each alone with multi_label", async () => {
    const labels = ['art', 'travel', 'sports'];
    const [single] = await infer('zero-shot', { docs: docs(CONTEXT), inference_config: { zero_shot_classification: { labels } } });
    expect(single!.top_classes.map((c: { class_name: string }) => c.class_name).sort()).toEqual([...labels].sort());
    expect(single!.top_classes.reduce((sum: number, c: { class_probability: number }) => sum + c.class_probability, 0)).toBeCloseTo(1, 6);
    expect(single!.predicted_value).toBe(single!.top_classes[0].class_name);
    const [multi] = await infer('zero-shot', {
      docs: docs(CONTEXT),
      inference_config: { zero_shot_classification: { labels, multi_label: true } },
    });
    const sum = multi!.top_classes.reduce((total: number, c: { class_probability: number }) => total + c.class_probability, 0);
    expect(Math.abs(sum - 1)).toBeGreaterThan(1e-3);
    const [, batched] = await infer('zero-shot', { docs: docs(LONG, CONTEXT), inference_config: { zero_shot_classification: { labels } } });
    expect(maxDifference(sortedScores(batched!), sortedScores(single!))).toBeLessThan(1e-5);
  });

  it('refuses a request without labels', async () => {
    const error = await inferError(daemon, ids['zero-shot']!, { docs: docs(CONTEXT) });
    expect(error.message).toContain(
      'zero_shot_classification needs the labels to choose from: send {"inference_config": {"zero_shot_classification": {"labels": [',
    );
  });
});

describe('text_similarity', () => {
  it('scores each doc as a pair with the query, the raw score, alike alone and batched', async () => {
    const config = { text_similarity: { text: 'Where does Anna live?' } };
    const [alone] = await infer('similarity', { docs: docs(CONTEXT), inference_config: config });
    expect(Object.keys(alone!)).toEqual(['predicted_value']);
    const [, batched] = await infer('similarity', { docs: docs(LONG, CONTEXT), inference_config: config });
    expect(Math.abs(batched!.predicted_value - alone!.predicted_value)).toBeLessThan(1e-5);
  });

  it('refuses a request without the query text', async () => {
    const error = await inferError(daemon, ids.similarity!, { docs: docs(CONTEXT) });
    expect(error.message).toContain(
      'text_similarity needs the text in the request: send {"inference_config": {"text_similarity": {"text": "…"}}}',
    );
  });
});

describe('question_answering', () => {
  it('answers the best span of the context within max_answer_length, with offsets and top classes', async () => {
    const config = { question_answering: { question: 'Where does Anna live?', max_answer_length: 4, num_top_classes: 3 } };
    const [answer] = await infer('qa', { docs: docs(CONTEXT), inference_config: config });
    expect(answer!.predicted_value).toBe(CONTEXT.slice(answer!.start_offset, answer!.end_offset));
    expect(answer!.top_classes).toHaveLength(3);
    expect(answer!.top_classes[0]).toEqual({
      answer: answer!.predicted_value,
      score: answer!.prediction_probability,
      start_offset: answer!.start_offset,
      end_offset: answer!.end_offset,
    });
    for (const entry of answer!.top_classes) expect(entry.answer.split(/\s+/).length).toBeLessThanOrEqual(4);
    const [, batched] = await infer('qa', { docs: docs(LONG, CONTEXT), inference_config: config });
    expectAlike(batched!, answer!);
  });

  it('windows a long context (span) and finds answers past the first window', async () => {
    const [answer] = await infer('qa', { docs: docs(LONG), inference_config: { question_answering: { question: 'Where?' } } });
    expect(answer!.is_truncated).toBeUndefined();
    expect(answer!.predicted_value).toBe(LONG.slice(answer!.start_offset, answer!.end_offset));
  });

  it('refuses a request without a question', async () => {
    const error = await inferError(daemon, ids.qa!, { docs: docs(CONTEXT), inference_config: { question_answering: {} } });
    expect(error.message).toContain('question_answering needs the question in the request');
  });
});

describe('fill_mask', () => {
  it("answers the mask token's top 5 and the filled sequence", async () => {
    const text = 'Anna lives in [MASK].';
    const [result] = await infer('fill-mask', { docs: docs(text) });
    expect(result!.top_classes).toHaveLength(5);
    expect(result!.predicted_value).toBe(result!.top_classes[0].class_name);
    expect(result!.predicted_value_sequence).toBe(`Anna lives in ${result!.predicted_value}.`);
    // A masked LM answers seq × vocabulary numbers per row: a longer doc, but not LONG, keeps the frame small.
    const [, batched] = await infer('fill-mask', { docs: docs(`[MASK] ${CONTEXT} ${CONTEXT}`, text) });
    expectAlike(batched!, result!);
  });

  it('refuses a text without the mask token', async () => {
    const error = await inferError(daemon, ids['fill-mask']!, { docs: docs('No mask here.') });
    expect(error.message).toContain('docs[0] must hold the mask token [MASK] exactly once');
  });
});

describe('text_expansion and pass_through', () => {
  it('text_expansion of a masked LM answers token weights above 0, reduced as SPLADE in the imported model', async () => {
    const [alone] = await infer('expansion', { docs: docs('Hi!') });
    const weights = Object.values(alone!.predicted_value as Record<string, number>);
    expect(weights.length).toBeGreaterThan(10);
    expect(Math.min(...weights)).toBeGreaterThan(0);
    const [, batched] = await infer('expansion', { docs: docs(LONG, 'Hi!') });
    expect(Object.keys(batched!.predicted_value).sort()).toEqual(Object.keys(alone!.predicted_value).sort());
  });

  it("pass_through answers the model's row over the doc's own tokens", async () => {
    const [alone] = await infer('pass-through', { docs: docs('Hi!') });
    expect(alone!.predicted_value).toHaveLength(4);
    expect(alone!.predicted_value[0]).toHaveLength(32);
    const [, batched] = await infer('pass-through', { docs: docs(LONG, 'Hi!') });
    expect(maxDifference(batched!.predicted_value, alone!.predicted_value)).toBeLessThan(1e-5);
  });
});

describe('the probe forward before started', () => {
  it("fails the deployment at once, without restarts, when the model's answer does not fit the task config", async () => {
    const modelId = uniqueId('misfit');
    expect((await feeder(['import', join(models, 'classifier'), '--model-id', modelId])).exitCode).toBe(0);
    await alterTaskConfig(modelId, (config) => ({ ...config, labels: [...config.labels, 'one-too-many'] }));
    const deployed = await daemon.cli(['deploy', modelId]);
    expect(deployed.exitCode).not.toBe(0);
    const status = JSON.parse((await daemon.cli(['status', modelId, '--json'])).stdout);
    expect(status).toMatchObject({ state: 'failed', restarts: 0 });
    expect(status.reason).toContain(
      `model '${modelId}' answered the probe forward of two short texts with shape [2, 3], where text_classification needs [2, 4] (one score per label)`,
    );
    expect(status.reason).toContain("import it again with 'feeder import'");
    await daemon.cli(['undeploy', modelId]);
    await feeder(['models', 'delete', modelId]);
  });
});

/** Rewrites the stored task config and its digest in the meta document, as a hand-made config would be. */
async function alterTaskConfig(modelId: string, change: (config: Record<string, any>) => Record<string, unknown>): Promise<void> {
  const id = assetDocId(modelId, 1, 'task_config');
  const stored = await es.client.get<{ content: string }>({ index: ASSETS_INDEX, id });
  const bytes = Buffer.from(JSON.stringify(change(JSON.parse(Buffer.from(stored._source!.content, 'base64').toString('utf8')))));
  await es.client.update({ index: ASSETS_INDEX, id, doc: { content: bytes.toString('base64'), length: bytes.length }, refresh: true });
  await es.client.update({ index: META_INDEX, id: modelId, doc: { nlp: { assets: { task_config: digestOf(bytes) } } }, refresh: true });
}

function sortedScores(result: Record<string, any>): number[] {
  return [...result.top_classes].sort((a, b) => a.class_name.localeCompare(b.class_name)).map((c) => c.class_probability);
}

/** The same result within 1e-5: strings and offsets equal, scores within rounding. */
function expectAlike(actual: unknown, expected: unknown, where = 'result'): void {
  if (typeof expected === 'number') return void expect(Math.abs((actual as number) - expected), where).toBeLessThan(1e-5);
  if (typeof expected !== 'object' || expected === null) return void expect(actual, where).toEqual(expected);
  expect(Object.keys(actual as object).sort(), where).toEqual(Object.keys(expected).sort());
  for (const [key, value] of Object.entries(expected)) expectAlike((actual as Record<string, unknown>)[key], value, `${where}.${key}`);
}
