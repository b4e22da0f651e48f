import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/config/paths.js';
import { ASSETS_INDEX, assetDocId } from '../../src/model/layout.js';
import { feeder } from '../support/cli.js';
import { newEs, tempDir, uniqueId } from '../support/es.js';
import { importDir, importModels, showModel } from '../support/import-models.js';
import { torchSetup } from '../support/torch.js';

// What `feeder import` (and `feeder upload --task`) make of a model in Python: the task told from
// the architecture, quantization, a tokenizer from a vocabulary, bad input refused before anything
// is stored. None of it depends on Elasticsearch's version (VERSION_INDEPENDENT in vitest.config.ts):
// the storage path these share is import.test.ts's, which runs on every version.

const es = newEs();
let models: string;
let minilmDir: string;

beforeAll(async () => {
  ({ models, minilmDir } = await importModels());
}, 400_000);

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
    expect((await showModel(modelId)).nlp).toMatchObject({ task, labels, tokenizer_family: 'bert', max_sequence_length: 128 });
    await feeder(['models', 'delete', modelId]);
  });
});

describe('what the conversion stores', () => {
  it('--quantize stores a model with qint8 Linear layers, smaller, and says so in its task config', async () => {
    const [plain, quantized] = [uniqueId('plain'), uniqueId('quantized')];
    expect((await importDir(join(models, 'classifier'), plain)).exitCode).toBe(0);
    const result = await importDir(join(models, 'classifier'), quantized, '--quantize');
    expect(result.exitCode, result.stderr).toBe(0);
    const config = await es.client.get<{ content: string }>({ index: ASSETS_INDEX, id: assetDocId(quantized, 1, 'task_config') });
    expect(JSON.parse(Buffer.from(config._source!.content, 'base64').toString('utf8'))).toMatchObject({ quantized: true });
    expect((await showModel(quantized)).total_length).toBeLessThan((await showModel(plain)).total_length);
    await feeder(['models', 'delete', plain]);
    await feeder(['models', 'delete', quantized]);
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
    expect((await showModel(modelId)).nlp).toMatchObject({ task: 'ner', labels: labels.split(','), tokenizer_family: 'bert' });
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
});
