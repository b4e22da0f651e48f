import { InvalidArgumentError } from '../../errors.js';
import { asVector, softmax, topIndexes } from '../scores.js';
import type { TextModel, TextRequest } from '../text-model.js';
import { checkOptions, encodeEach, intOption, withTruncation, type InferenceResult, type PlanTask } from './plan.js';

const DEFAULT_HYPOTHESIS_TEMPLATE = 'This example is {}.';

/** text_classification: softmax over the labels, the best as predicted_value, num_top_classes of them (-1: all). */
export const planClassification: PlanTask = async (model, request) => {
  checkOptions(request.options, 'text_classification', ['num_top_classes']);
  const labels = model.config.labels ?? [];
  const top = intOption(request.options, 'num_top_classes', 0, -1);
  const rows = await encodeEach(model, request);
  return {
    rows,
    finish: (outputs) =>
      outputs.map((output, i) => withTruncation(classified(labels, softmax(asVector(output)!), top), rows[i]!.isTruncated)),
  };
};

/**
 * zero_shot_classification: each doc paired with one hypothesis per label, all in the one batch;
 * the entailment logits softmaxed across the labels, or, with multi_label, entailment against
 * contradiction for each label alone.
 */
export const planZeroShot: PlanTask = async (model, request) => {
  checkOptions(request.options, 'zero_shot_classification', ['labels', 'multi_label', 'hypothesis_template']);
  const { entailment, contradiction } = nliIndexes(model);
  const labels = zeroShotLabels(request);
  const multiLabel = request.options.multi_label ?? false;
  if (typeof multiLabel !== 'boolean')
    throw new InvalidArgumentError(`multi_label must be true or false; got ${JSON.stringify(multiLabel)}`);
  const template = request.options.hypothesis_template ?? DEFAULT_HYPOTHESIS_TEMPLATE;
  if (typeof template !== 'string' || !template.includes('{}')) {
    throw new InvalidArgumentError(`hypothesis_template must be a text holding {} where the label goes; got ${JSON.stringify(template)}`);
  }
  const { truncate, maxSequenceLength } = request;
  const rows = await Promise.all(
    request.texts.flatMap((text) =>
      labels.map((label) => model.tokenizer.encodePair(text, template.replace('{}', label), { truncate, maxSequenceLength })),
    ),
  );
  return {
    rows,
    finish: (outputs) =>
      request.texts.map((_, d) => {
        const logits = labels.map((_, l) => asVector(outputs[d * labels.length + l])!);
        const scores = multiLabel
          ? logits.map((row) => softmax([row[entailment]!, row[contradiction]!])[0]!)
          : softmax(logits.map((row) => row[entailment]!));
        const truncated = rows.slice(d * labels.length, (d + 1) * labels.length).some((r) => r.isTruncated);
        return withTruncation(classified(labels, scores, labels.length), truncated);
      }),
  };
};

function classified(labels: readonly string[], probabilities: number[], top: number): InferenceResult {
  const order = topIndexes(probabilities, top < 0 ? labels.length : top);
  const best = topIndexes(probabilities, 1)[0]!;
  const result: InferenceResult = { predicted_value: labels[best] ?? String(best) };
  if (order.length > 0) {
    result.top_classes = order.map((i) => ({
      class_name: labels[i] ?? String(i),
      class_probability: probabilities[i],
      class_score: probabilities[i],
    }));
  }
  result.prediction_probability = probabilities[best];
  return result;
}

function nliIndexes(model: TextModel): { entailment: number; contradiction: number } {
  const lower = (model.config.labels ?? []).map((l) => l.toLowerCase());
  const [entailment, contradiction] = [lower.indexOf('entailment'), lower.indexOf('contradiction')];
  if (entailment < 0 || contradiction < 0) {
    throw new InvalidArgumentError(
      `zero_shot_classification needs entailment and contradiction among the model's labels; model '${model.modelId}' has ${JSON.stringify(model.config.labels)}: upload it again with --labels`,
    );
  }
  return { entailment, contradiction };
}

function zeroShotLabels(request: TextRequest): string[] {
  const labels = request.options.labels;
  if (!Array.isArray(labels) || labels.length === 0 || !labels.every((l) => typeof l === 'string' && l.length > 0)) {
    throw new InvalidArgumentError(
      `zero_shot_classification needs the labels to choose from: send {"inference_config": {"zero_shot_classification": {"labels": ["sports", "politics"]}}}${labels === undefined ? '' : `; got ${JSON.stringify(labels)}`}`,
    );
  }
  return labels as string[];
}
