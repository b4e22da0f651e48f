import type { NestedNumbers } from '../../native/protocol.js';
import { asMatrix } from '../scores.js';
import type { TextRequest, TextModel } from '../text-model.js';
import { toUtf16Offsets, type TokenizedText } from '../tokenizer.js';
import { checkOptions, intOption, textOption, withTruncation, type InferenceResult, type PlanTask } from './plan.js';

interface Span {
  score: number;
  start: number;
  end: number;
}

// Elastic's value for the positions that cannot be an answer, before the softmax.
const EXCLUDED = -10000;

/**
 * question_answering as Elastic does it: the question first, the doc second, cut into windows of
 * `span` overlap when long; per window, start and end logits softmaxed over the context (and the
 * first token), each span's score start × end within max_answer_length, the best over all windows.
 */
export const planQuestionAnswering: PlanTask = async (model, request) => {
  checkOptions(request.options, 'question_answering', ['question', 'max_answer_length', 'num_top_classes']);
  const question = textOption(request.options, 'question', 'question_answering');
  const maxAnswerLength = intOption(request.options, 'max_answer_length', 15, 1);
  const top = intOption(request.options, 'num_top_classes', 0, 0);
  const windows = await Promise.all(request.texts.map((text) => windowsOf(model, request, question, text)));
  return {
    rows: windows.flat(),
    finish: (outputs) => {
      let next = 0;
      return windows.map((docWindows, d) => {
        const spans = docWindows.flatMap((row) => spansOf(outputs[next++]!, row, maxAnswerLength, request.texts[d]!));
        return answerOf(spans, top, request.texts[d]!, docWindows);
      });
    },
  };
};

function windowsOf(model: TextModel, request: TextRequest, question: string, text: string): Promise<TokenizedText[]> {
  const { truncate, maxSequenceLength, span } = request;
  if (span < 0) return model.tokenizer.encodePair(question, text, { truncate, maxSequenceLength }).then((row) => [row]);
  return model.tokenizer.encodeWindows(question, text, { maxSequenceLength, span });
}

function spansOf(output: NestedNumbers, row: TokenizedText, maxAnswerLength: number, text: string): Span[] {
  const logits = asMatrix(output)!.slice(0, row.ids.length);
  const contextStart = row.sequenceIds.indexOf(1);
  const isCandidate = (i: number) => i === 0 || (i >= contextStart && i < row.ids.length - 1 && row.sequenceIds[i] === 1);
  const starts = normalizedWith(
    logits.map((l) => l[0]!),
    isCandidate,
  );
  const ends = normalizedWith(
    logits.map((l) => l[1]!),
    isCandidate,
  );
  const offsets = toUtf16Offsets(text, row.offsets);
  const spans: Span[] = [];
  for (let i = contextStart; i < row.ids.length; i += 1) {
    if (!isCandidate(i) || i === 0) continue;
    for (let j = i; j < Math.min(i + maxAnswerLength, row.ids.length); j += 1) {
      if (!isCandidate(j)) continue;
      spans.push({ score: starts[i]! * ends[j]!, start: offsets[i]![0], end: offsets[j]![1] });
    }
  }
  return spans;
}

function normalizedWith(logits: number[], keep: (i: number) => boolean): number[] {
  const masked = logits.map((x, i) => (keep(i) ? x : EXCLUDED));
  const max = Math.max(...masked);
  const exps = masked.map((x) => Math.exp(x - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((x) => x / sum);
}

function answerOf(spans: Span[], top: number, text: string, windows: TokenizedText[]): InferenceResult {
  const best = [...spans].sort((a, b) => b.score - a.score).slice(0, Math.max(top, 1));
  const first = best[0] ?? { score: 0, start: 0, end: 0 };
  const result: InferenceResult = {
    predicted_value: text.slice(first.start, first.end),
    start_offset: first.start,
    end_offset: first.end,
    prediction_probability: first.score,
  };
  if (top > 0) {
    result.top_classes = best.map((s) => ({
      answer: text.slice(s.start, s.end),
      score: s.score,
      start_offset: s.start,
      end_offset: s.end,
    }));
  }
  return withTruncation(
    result,
    windows.some((w) => w.isTruncated),
  );
}
