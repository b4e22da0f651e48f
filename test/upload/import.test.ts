import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ASSETS_INDEX, assetDocId } from '../../src/model/layout.js';
import { CLI, feeder } from '../support/cli.js';
import { startDaemon, type RunningDaemon } from '../support/daemon.js';
import { deploy } from '../support/deploy.js';
import { esUrl, newEs, uniqueId } from '../support/es.js';
import { assetIds, importDir, importModels, showModel } from '../support/import-models.js';
import { maxDifference, torchSetup } from '../support/torch.js';

// `feeder import` with the real Python, what it stores in Elasticsearch and how it is deployed:
// what depends on Elasticsearch, so it runs on every version CI tests. What the conversion itself
// decides (the task, quantization, a vocabulary, bad input) is import-conversion.test.ts's.

interface MinilmCase {
  text: string;
  tokens: number[];
  embedding: number[];
}

const es = newEs();
let models: string;
let minilmDir: string;

beforeAll(async () => {
  ({ models, minilmDir } = await importModels());
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
    const meta = await showModel(modelId);
    expect(meta.nlp).toMatchObject({ task: 'text_embedding', labels: null, tokenizer_family: 'bert', max_sequence_length: 256 });
    const text = await feeder(['models', 'show', modelId]);
    expect(text.stdout).toMatch(/^task +text_embedding$/m);
    expect(text.stdout).toMatch(/^tokenizer +bert$/m);
    expect(text.stdout).toMatch(/^max_seq_length +256$/m);
    expect(await assetIds(es, modelId)).toEqual([assetDocId(modelId, 1, 'task_config'), assetDocId(modelId, 1, 'tokenizer')]);
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

describe('what is stored with the model', () => {
  it('a replace brings its own tokenizer and task config; a delete removes them', async () => {
    const modelId = uniqueId('assets');
    expect((await importDir(join(models, 'classifier'), modelId)).exitCode).toBe(0);
    const replaced = await importDir(join(models, 'ner'), modelId, '--replace');
    expect(replaced.exitCode, replaced.stderr).toBe(0);
    const meta = await showModel(modelId);
    expect(meta.generation).toBe(2);
    expect(meta.nlp.task).toBe('ner');
    expect(await assetIds(es, modelId)).toEqual([assetDocId(modelId, 2, 'task_config'), assetDocId(modelId, 2, 'tokenizer')]);
    // A bare upload over it keeps no tokenizer of the model it replaced.
    const bare = await feeder(['upload', join(torchSetup().fixtures, 'classifier.pt'), '--model-id', modelId, '--replace']);
    expect(bare.exitCode, bare.stderr).toBe(0);
    expect((await showModel(modelId)).nlp).toBeUndefined();
    expect(await assetIds(es, modelId)).toEqual([]);

    expect((await importDir(join(models, 'ner'), modelId, '--replace')).exitCode).toBe(0);
    expect(await assetIds(es, modelId)).toHaveLength(2);
    const deleted = await feeder(['models', 'delete', modelId]);
    expect(deleted.exitCode, deleted.stderr).toBe(0);
    expect(await assetIds(es, modelId)).toEqual([]);
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

  it('an import interrupted while its chunks are sent leaves no model behind', async () => {
    const modelId = uniqueId('midway');
    const importing = startImport(modelId);
    await importing.uploading;
    importing.child.kill('SIGINT');
    const result = await importing.child;
    expect(result.exitCode, String(result.stderr)).not.toBe(0);
    expect(importing.stderr()).toContain(`uploading model '${modelId}'`);
    expect((await feeder(['models', 'show', modelId])).stderr).toContain('does not exist');
    expect(await assetIds(es, modelId)).toEqual([]);
  });

  it('an import --replace that fails removes only its own generation: a model another writer stored meanwhile stays, whole', async () => {
    const modelId = uniqueId('rival');
    // The model does not exist when the import starts; another writer stores it while the import traces.
    const importing = startImport(modelId, '--replace');
    const rival = await feeder(['upload', join(torchSetup().fixtures, 'classifier.pt'), '--model-id', modelId]);
    expect(rival.exitCode, rival.stderr).toBe(0);
    expect(importing.stderr(), 'the rival upload must finish while the import still traces').not.toContain('uploading model');
    await importing.uploading;
    importing.child.kill('SIGINT');
    expect((await importing.child).exitCode).not.toBe(0);
    const meta = await showModel(modelId);
    expect(meta).toMatchObject({ state: 'ready', generation: 1, pending: null, garbage: [] });
    const verified = await feeder(['models', 'verify', modelId]);
    expect(verified.exitCode, verified.stdout + verified.stderr).toBe(0);
    expect(await assetIds(es, modelId)).toEqual([]);
    await feeder(['models', 'delete', modelId]);
  });

  it("an import killed part way is not finished by 'upload --resume', which cannot write its tokenizer: refused, saying to import again", async () => {
    const modelId = uniqueId('killed');
    const importing = startImport(modelId);
    await importing.uploading;
    // No cleanup runs: the unfinished model stays, as after a crash.
    importing.child.kill('SIGKILL');
    await importing.child;
    expect((await showModel(modelId)).state).toBe('uploading');
    const resumed = await feeder(['upload', join(torchSetup().fixtures, 'classifier.pt'), '--model-id', modelId, '--resume']);
    expect(resumed.exitCode).not.toBe(0);
    expect(resumed.stderr).toContain(
      `the unfinished upload of model '${modelId}' is an import, whose tokenizer and task config 'feeder upload --resume' cannot write; run 'feeder import'`,
    );
    expect(resumed.stderr).toContain('FEEDER_ERR_MODEL_STATE');
    expect((await showModel(modelId)).state).toBe('uploading');
    const reimported = await importDir(join(models, 'classifier'), modelId, '--replace');
    expect(reimported.exitCode, reimported.stderr).toBe(0);
    expect((await showModel(modelId)).nlp.task).toBe('text_classification');
    await feeder(['models', 'delete', modelId]);
  });
});

/**
 * `feeder import` of MiniLM in small chunks, which makes its upload of 87 MiB last long enough to be
 * interrupted while it runs; `uploading` resolves once its chunks are being sent (or it exited).
 */
function startImport(modelId: string, ...more: string[]) {
  const child = execa('node', [CLI, 'import', minilmDir, '--model-id', modelId, '--chunk-size', '64kb', ...more], {
    reject: false,
    env: { ES_URL: esUrl(), FEEDER_LOG_LEVEL: 'info' },
  });
  let stderr = '';
  const uploading = new Promise<void>((resolve) => {
    child.stderr.on('data', (data: Buffer) => {
      stderr += data.toString();
      if (stderr.includes(`uploading model '${modelId}'`)) resolve();
    });
    void child.then(() => resolve());
  });
  return { child, uploading, stderr: () => stderr };
}
