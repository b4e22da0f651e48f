import type { NestedNumbers } from '../../native/protocol.js';
import { asMatrix, asVector } from '../scores.js';
import type { TextModel } from '../text-model.js';
import type { TokenizedText } from '../tokenizer.js';
import { checkOptions, encodeEach, withTruncation, type PlanTask } from './plan.js';

/**
 * text_expansion: a token → weight map of the weights above 0. A [batch, vocab] output is taken as
 * it is; a masked LM's [batch, seq, vocab] is reduced as SPLADE and ELSER do: the max over the doc's
 * tokens of log(1 + relu(x)). A token holding '.' is written with '__', as Elastic does, since a
 * field name cannot hold one.
 */
export const planExpansion: PlanTask = async (model, request) => {
  checkOptions(request.options, 'text_expansion', []);
  const rows = await encodeEach(model, request);
  return {
    rows,
    finish: (outputs) =>
      outputs.map((output, i) => withTruncation({ predicted_value: weightsOf(model, output, rows[i]!) }, rows[i]!.isTruncated)),
  };
};

/** pass_through: the model's output row for the doc as it is, over the doc's own tokens. */
export const planPassThrough: PlanTask = async (model, request) => {
  checkOptions(request.options, 'pass_through', []);
  const rows = await encodeEach(model, request);
  return {
    rows,
    finish: (outputs) =>
      outputs.map((output, i) => {
        const tokens = asMatrix(output);
        const own = tokens && tokens.length >= rows[i]!.ids.length ? tokens.slice(0, rows[i]!.ids.length) : output;
        return withTruncation({ predicted_value: own }, rows[i]!.isTruncated);
      }),
  };
};

function weightsOf(model: TextModel, output: NestedNumbers, row: TokenizedText): Record<string, number> {
  const vector = asVector(output) ?? spladeOf(asMatrix(output)!.slice(0, row.ids.length), row.attentionMask);
  const weights = vector.map((weight, id) => ({ id, weight })).filter((w) => w.weight > 0);
  weights.sort((a, b) => b.weight - a.weight);
  return Object.fromEntries(weights.map(({ id, weight }) => [model.tokenizer.tokenOf(id).replaceAll('.', '__'), weight]));
}

function spladeOf(tokens: number[][], mask: number[]): number[] {
  const vocab = tokens[0]!.length;
  const pooled = new Array<number>(vocab).fill(0);
  tokens.forEach((logits, t) => {
    if (mask[t] !== 1) return;
    for (let v = 0; v < vocab; v += 1) pooled[v] = Math.max(pooled[v]!, Math.log1p(Math.max(logits[v]!, 0)));
  });
  return pooled;
}
