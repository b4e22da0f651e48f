import { TimeoutError } from '../errors.js';
import type { Task } from '../model/task-config.js';
import { outputRows } from './batch.js';
import type { InferBody } from './infer-body.js';
import { planClassification, planZeroShot } from './tasks/classification.js';
import { planEmbedding } from './tasks/embedding.js';
import { planFillMask } from './tasks/fill-mask.js';
import { planNer } from './tasks/ner.js';
import type { InferenceResult, PlanTask } from './tasks/plan.js';
import { planQuestionAnswering } from './tasks/question-answering.js';
import { planExpansion, planPassThrough } from './tasks/raw-output.js';
import { planSimilarity } from './tasks/similarity.js';
import type { Forward, TextModel } from './text-model.js';

const PLANNERS: Record<Task, PlanTask> = {
  text_embedding: planEmbedding,
  text_classification: planClassification,
  zero_shot_classification: planZeroShot,
  ner: planNer,
  fill_mask: planFillMask,
  text_similarity: planSimilarity,
  question_answering: planQuestionAnswering,
  text_expansion: planExpansion,
  pass_through: planPassThrough,
};

/**
 * Elastic's `_infer` on a text model: every doc tokenized, all rows of the request in one padded
 * batch (one forward), each output row read back over its doc's own tokens.
 */
export async function inferText(model: TextModel, body: InferBody, forward: Forward): Promise<{ inference_results: InferenceResult[] }> {
  const request = model.requestFor(body);
  const plan = await PLANNERS[model.task](model, request);
  const answer = forward(model.batchOf(plan.rows));
  const frame = await (body.timeoutMs === null ? answer : withinTimeout(answer, body.timeoutMs, model.modelId));
  return { inference_results: await plan.finish(outputRows(frame, plan.rows.length, model.modelId)) };
}

async function withinTimeout<T>(answer: Promise<T>, timeoutMs: number, modelId: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(requestTimeoutError(modelId, timeoutMs)), timeoutMs);
  });
  try {
    return await Promise.race([answer, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** An `_infer` that outlived its own `timeout`, here or on the fleet member it was forwarded to. */
export function requestTimeoutError(modelId: string, timeoutMs: number): TimeoutError {
  return new TimeoutError(`model '${modelId}' did not answer within the request's timeout of ${timeoutMs} ms; raise "timeout"`);
}
