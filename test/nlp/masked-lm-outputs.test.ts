import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../support/daemon.js';
import { torchSetup } from '../support/torch.js';
import { docs, importAndDeploy, makeModels, postInfer } from './text-models.js';

// fill_mask and text_expansion of a masked LM with BERT's 30,522-token vocabulary, 4 docs in one
// request, one of them 128 tokens: the traced model reduces to [batch, vocab] (the mask's logits;
// max over tokens of log(1 + relu)), as Elastic's models do, instead of answering [4, 128, 30522]
// (over 100 MB of MessagePack). The answers equal transformers' own model's, doc by doc.

const CONTEXT = 'Anna Berg lives in Paris. She works at the museum by the river.';
const TEXTS = [`[MASK] ${CONTEXT} `.padEnd(1200, `${CONTEXT} `), 'Anna lives in [MASK].', 'The museum stands by the [MASK].', 'Hi [MASK]!'];

// transformers' model (not the traced one), each doc alone and unpadded, truncated to 128 tokens.
const REFERENCE = `
import json, sys, torch, transformers
from tokenizers import Tokenizer
directory, texts = sys.argv[1], json.loads(sys.argv[2])
tokenizer = Tokenizer.from_file(directory + "/tokenizer.json")
tokenizer.no_padding()
tokenizer.enable_truncation(128)
model = transformers.AutoModelForMaskedLM.from_pretrained(directory, use_kernels=False).eval()
mask = tokenizer.token_to_id("[MASK]")
answers = []
for text in texts:
    e = tokenizer.encode(text)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([e.ids]), attention_mask=torch.tensor([e.attention_mask]),
                       token_type_ids=torch.tensor([e.type_ids])).logits[0]
    top = logits[e.ids.index(mask)].softmax(-1).topk(5)
    weights = torch.log1p(torch.relu(logits)).max(dim=0).values.topk(20)
    answers.append({
        "length": len(e.ids),
        "fill": [[tokenizer.decode([i]).strip(), p] for p, i in zip(top.values.tolist(), top.indices.tolist())],
        "expansion": [[tokenizer.id_to_token(i).replace(".", "__"), w] for w, i in zip(weights.values.tolist(), weights.indices.tolist())],
    })
print(json.dumps(answers))
`;

interface Reference {
  length: number;
  fill: Array<[string, number]>;
  expansion: Array<[string, number]>;
}

let daemon: RunningDaemon;
let reference: Reference[];
const ids: Record<string, string> = {};

beforeAll(async () => {
  const models = await makeModels(['fill-mask']);
  const dir = join(models, 'fill-mask');
  const answered = await execa(torchSetup().python, ['-c', REFERENCE, dir, JSON.stringify(TEXTS)]);
  reference = JSON.parse(answered.stdout) as Reference[];
  daemon = await startDaemon({ config: { deploy: { command: torchSetup().binary, args: ['--threads', '1'] } } });
  ids.fill = await importAndDeploy(daemon, dir, 'mlm-fill');
  ids.expansion = await importAndDeploy(daemon, dir, 'mlm-expansion', '--task', 'text_expansion');
}, 600_000);

afterAll(async () => {
  await daemon?.stop();
});

const inferAll = async (modelId: string) => {
  const { status, json } = await postInfer(daemon, modelId, { docs: docs(...TEXTS) });
  expect(status, JSON.stringify(json).slice(0, 500)).toBe(200);
  return json.inference_results as Array<Record<string, any>>;
};

describe('a BERT-vocabulary masked LM, 4 docs of which one is 128 tokens, in one request', () => {
  it('has the long doc at the limit', () => {
    expect(reference.map((r) => r.length)[0]).toBe(128);
  });

  it("fill_mask answers the mask's top 5 tokens and probabilities as transformers does", async () => {
    const results = await inferAll(ids.fill!);
    results.forEach((result, i) => {
      const expected = reference[i]!.fill;
      expect(result.top_classes.map((c: any) => c.class_name)).toEqual(expected.map(([name]) => name));
      result.top_classes.forEach((c: any, k: number) => expect(c.class_probability).toBeCloseTo(expected[k]![1], 5));
      expect(result.predicted_value).toBe(expected[0]![0]);
    });
    expect(results[0]!.is_truncated).toBe(true);
  });

  it('text_expansion answers the weights of the tokens as transformers does, reduced as SPLADE', async () => {
    const results = await inferAll(ids.expansion!);
    results.forEach((result, i) => {
      const weights = result.predicted_value as Record<string, number>;
      for (const [token, weight] of reference[i]!.expansion) expect(weights[token], token).toBeCloseTo(weight, 4);
      const top = Object.entries(weights)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 20);
      expect(top.map(([token]) => token)).toEqual(reference[i]!.expansion.map(([token]) => token));
    });
  });
});
