import type { NestedNumbers } from '../../native/protocol.js';
import { asMatrix, asVector } from '../scores.js';
import type { TextModel } from '../text-model.js';
import type { TokenizedText } from '../tokenizer.js';
import { checkOptions, encodeEach, withTruncation, type PlanTask } from './plan.js';

/**
 * text_embedding: a model that pools itself answers [batch, dim]; a plain encoder answers
 * [batch, seq, dim], pooled here over the doc's own tokens as the task config says.
 */
export const planEmbedding: PlanTask = async (model, request) => {
  checkOptions(request.options, 'text_embedding', []);
  const rows = await encodeEach(model, request);
  return {
    rows,
    finish: (outputs) =>
      outputs.map((output, i) => withTruncation({ predicted_value: vectorOf(model, output, rows[i]!) }, rows[i]!.isTruncated)),
  };
};

function vectorOf(model: TextModel, output: NestedNumbers, row: TokenizedText): number[] | number[][] {
  const vector = asVector(output);
  if (vector) return vector;
  const tokens = asMatrix(output)!.slice(0, row.ids.length);
  const { pooling = 'mean', normalize = true } = model.config.text_embedding ?? {};
  if (pooling === 'none') return tokens;
  const pooled = poolTokens(tokens, row.attentionMask, pooling);
  return normalize ? normalized(pooled) : pooled;
}

function poolTokens(tokens: number[][], mask: number[], pooling: string): number[] {
  if (pooling === 'cls') return tokens[0]!;
  const kept = tokens.filter((_, i) => mask[i] === 1);
  const dim = tokens[0]!.length;
  if (pooling === 'max') return Array.from({ length: dim }, (_, d) => Math.max(...kept.map((t) => t[d]!)));
  const sums = new Array<number>(dim).fill(0);
  for (const token of kept) token.forEach((x, d) => (sums[d]! += x));
  return sums.map((sum) => sum / Math.max(kept.length, 1));
}

function normalized(vector: number[]): number[] {
  const norm = Math.max(Math.sqrt(vector.reduce((sum, x) => sum + x * x, 0)), 1e-12);
  return vector.map((x) => x / norm);
}
