import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { feeder } from '../support/cli.js';
import { startDaemon, type RunningDaemon } from '../support/daemon.js';
import { uniqueId } from '../support/es.js';
import { differences, referenceModels, type Reference, type ReferenceModel } from '../support/reference-models.js';
import { torchSetup } from '../support/torch.js';

// The body of the Python-reference test files: each names the reference models it checks (one file
// per tokenizer family or two, so that the files run beside each other). Each model is imported
// with `feeder import`, deployed into native-torch by one daemon per file, and asked through
// `_infer` for the texts Python answered; the answers must equal Python's, scores within 1e-5.

export const TOLERANCE = 1e-5;

export interface InferAnswer {
  status: number;
  body: { inference_results?: Array<Record<string, unknown>> } & Record<string, unknown>;
}

export async function inferText(daemon: RunningDaemon, modelId: string, body: Record<string, unknown>): Promise<InferAnswer> {
  const res = await fetch(`http://${daemon.listen}/deployments/${modelId}/_infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as InferAnswer['body'] };
}

/** Elastic's question answering takes one doc per request; every other task gets all the docs in one request, one batch. */
function requests(model: ReferenceModel): string[][] {
  return model.task === 'question_answering' ? model.docs.map((doc) => [doc]) : [model.docs];
}

async function answersOf(daemon: RunningDaemon, modelId: string, model: ReferenceModel): Promise<Array<Record<string, unknown>>> {
  const results: Array<Record<string, unknown>> = [];
  for (const docs of requests(model)) {
    const answer = await inferText(daemon, modelId, {
      docs: docs.map((text) => ({ text_field: text })),
      inference_config: model.inference_config,
    });
    expect(answer.status, JSON.stringify(answer.body).slice(0, 2000)).toBe(200);
    results.push(...answer.body.inference_results!);
  }
  return results;
}

export function describePythonReference(names: string[]): void {
  describe('answers equal to transformers (Python) on the same weights and texts', () => {
    let daemon: RunningDaemon;
    let dir: string;
    let reference: Reference;

    beforeAll(async () => {
      ({ dir, reference } = await referenceModels());
      daemon = await startDaemon({ config: { deploy: { command: torchSetup().binary, args: ['--threads', '1'] } } });
    }, 400_000);
    afterAll(async () => {
      await daemon?.stop();
    });

    it('has a reference for each model named here, with long texts that are truncated', () => {
      const built = reference.models.map((m) => m.name);
      expect(built).toEqual(expect.arrayContaining(names));
      for (const name of names.filter((n) => !n.endsWith('question_answering'))) {
        const model = reference.models.find((m) => m.name === name)!;
        expect(
          model.expected.some((e) => e.is_truncated === true),
          name,
        ).toBe(true);
      }
    });

    it.each(names)(
      '%s',
      async (name) => {
        const model = reference.models.find((m) => m.name === name)!;
        const modelId = uniqueId(name.replace(/_/g, '-'));
        const imported = await feeder(['import', join(dir, name), '--model-id', modelId, '--task', model.task]);
        expect(imported.exitCode, imported.stderr).toBe(0);
        try {
          const deployed = await daemon.cli(['deploy', modelId]);
          expect(deployed.exitCode, deployed.stderr).toBe(0);
          const results = await answersOf(daemon, modelId, model);
          expect(results).toHaveLength(model.docs.length);
          const found = model.expected.flatMap((expected, i) =>
            differences(results[i], expected, TOLERANCE, `doc ${i}`).map(
              (d) => `${d} (text ${JSON.stringify(model.docs[i]!.slice(0, 80))})`,
            ),
          );
          expect(found.slice(0, 10)).toEqual([]);
        } finally {
          await fetch(`http://${daemon.listen}/deployments/${modelId}`, { method: 'DELETE' });
          await feeder(['models', 'delete', modelId]);
        }
      },
      180_000,
    );
  });
}
