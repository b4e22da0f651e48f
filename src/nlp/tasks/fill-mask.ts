import { InvalidArgumentError } from '../../errors.js';
import { asMatrix, softmax, topIndexes } from '../scores.js';
import type { TextModel } from '../text-model.js';
import { checkOptions, encodeEach, intOption, withTruncation, type PlanTask } from './plan.js';

const MASK_TOKENS = ['[MASK]', '<mask>'];
const DEFAULT_TOP_CLASSES = 5;

/** fill_mask: the one mask token's top tokens, the best as predicted_value, and the text filled with it. */
export const planFillMask: PlanTask = async (model, request) => {
  checkOptions(request.options, 'fill_mask', ['num_top_classes']);
  const top = intOption(request.options, 'num_top_classes', DEFAULT_TOP_CLASSES, 1);
  const mask = maskOf(model);
  request.texts.forEach((text, i) => requireOneMask(text, i, mask.token));
  const rows = await encodeEach(model, request);
  const positions = rows.map((row, i) => {
    const position = row.ids.indexOf(mask.id);
    if (position < 0) throw new InvalidArgumentError(`docs[${i}]'s ${mask.token} was cut off by the truncation: shorten the text`);
    return position;
  });
  return {
    rows,
    finish: (outputs) =>
      Promise.all(
        outputs.map(async (output, i) => {
          const probabilities = softmax(asMatrix(output)![positions[i]!]!);
          const best = topIndexes(probabilities, top);
          const tokens = await Promise.all(best.map(async (id) => (await model.tokenizer.decode([id])).trim()));
          const result = {
            predicted_value: tokens[0],
            top_classes: best.map((id, k) => ({
              class_name: tokens[k],
              class_probability: probabilities[id],
              class_score: probabilities[id],
            })),
            prediction_probability: probabilities[best[0]!],
            predicted_value_sequence: request.texts[i]!.replace(mask.token, tokens[0]!),
          };
          return withTruncation(result, rows[i]!.isTruncated);
        }),
      ),
  };
};

function maskOf(model: TextModel): { token: string; id: number } {
  for (const token of MASK_TOKENS) {
    const id = model.tokenizer.idOf(token);
    if (id !== null) return { token, id };
  }
  throw new InvalidArgumentError(
    `the tokenizer of model '${model.modelId}' has no mask token (${MASK_TOKENS.join(' or ')}); fill_mask needs one`,
  );
}

function requireOneMask(text: string, i: number, mask: string): void {
  const count = text.split(mask).length - 1;
  if (count !== 1) {
    throw new InvalidArgumentError(
      `docs[${i}] must hold the mask token ${mask} exactly once, where the word to guess goes; it holds it ${count} times`,
    );
  }
}
