import { InternalError, InvalidArgumentError } from '../../errors.js';
import { asVector } from '../scores.js';
import { checkOptions, textOption, withTruncation, type PlanTask } from './plan.js';

/**
 * text_similarity (reranking): each doc scored as a pair with the request's text, the query
 * first; with `span`, a long doc is cut into windows whose scores combine by
 * span_score_combination_function (max, the default, or mean). The score is the model's raw one.
 */
export const planSimilarity: PlanTask = async (model, request) => {
  checkOptions(request.options, 'text_similarity', ['text', 'span_score_combination_function']);
  const query = textOption(request.options, 'text', 'text_similarity');
  const combine = request.options.span_score_combination_function ?? 'max';
  if (combine !== 'max' && combine !== 'mean') {
    throw new InvalidArgumentError(`span_score_combination_function must be max or mean; got ${JSON.stringify(combine)}`);
  }
  const { truncate, maxSequenceLength, span } = request;
  const windows = await Promise.all(
    request.texts.map(async (text) =>
      span < 0
        ? [await model.tokenizer.encodePair(query, text, { truncate, maxSequenceLength })]
        : model.tokenizer.encodeWindows(query, text, { maxSequenceLength, span }),
    ),
  );
  return {
    rows: windows.flat(),
    finish: (outputs) => {
      let next = 0;
      return windows.map((docWindows) => {
        const scores = docWindows.map(() => scoreOf(outputs[next++], model.modelId));
        const score = combine === 'max' ? Math.max(...scores) : scores.reduce((a, b) => a + b, 0) / scores.length;
        return withTruncation(
          { predicted_value: score },
          docWindows.some((w) => w.isTruncated),
        );
      });
    },
  };
};

function scoreOf(output: unknown, modelId: string): number {
  const vector = asVector(output as never);
  if (vector?.length !== 1)
    throw new InternalError(
      `model '${modelId}' answered ${JSON.stringify(vector?.length)} values for a text_similarity pair, where one is its score`,
    );
  return vector[0]!;
}
