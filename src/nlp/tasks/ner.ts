import { asMatrix, argmax, softmax } from '../scores.js';
import type { TextModel, TextRequest } from '../text-model.js';
import { toUtf16Offsets, type TokenizedText } from '../tokenizer.js';
import { checkOptions, encodeEach, withTruncation, type InferenceResult, type PlanTask } from './plan.js';

interface IobTag {
  entity: string | null;
  beginning: boolean;
}

/** A word (the pre-tokenizer's piece) tagged by the mean of its tokens' probabilities. */
interface TaggedWord {
  tag: IobTag;
  score: number;
  start: number;
  end: number;
}

// Elastic's tags for a model stored without labels.
const DEFAULT_LABELS = ['O', 'B_MISC', 'I_MISC', 'B_PER', 'I_PER', 'B_ORG', 'I_ORG', 'B_LOC', 'I_LOC'];

/**
 * ner as Elastic does it: softmax per token, each word tagged by the mean over its tokens, words
 * grouped into entities by their IOB tags (a B_ starts a new one), the entity's score the mean of
 * its words'. With `span`, a long text is cut into windows, each word taken from the window where
 * it has the most context after it (the overlap is split in halves).
 */
export const planNer: PlanTask = async (model, request) => {
  checkOptions(request.options, 'ner', []);
  const tags = (model.config.labels ?? DEFAULT_LABELS).map(parseTag);
  const windows = await windowsOf(model, request);
  const rows = windows.flat();
  return {
    rows,
    finish: (outputs) => {
      let next = 0;
      return windows.map((docWindows, d) => {
        const scored = docWindows.map((row) => ({ row, scores: tokenProbabilities(outputs[next++]!, row) }));
        const text = request.texts[d]!;
        const words = tagWords(scored, tags, request.span, text);
        return nerResult(text, groupEntities(words, model.config.tokenization.do_lower_case ? text.toLowerCase() : text), docWindows);
      });
    },
  };
};

async function windowsOf(model: TextModel, request: TextRequest): Promise<TokenizedText[][]> {
  if (request.span < 0) return (await encodeEach(model, request)).map((row) => [row]);
  const { maxSequenceLength, span } = request;
  return Promise.all(request.texts.map((text) => model.tokenizer.encodeWindows(text, undefined, { maxSequenceLength, span })));
}

function parseTag(label: string): IobTag {
  const upper = label.toUpperCase();
  if (upper === 'O') return { entity: null, beginning: false };
  if (/^[BI][-_]/.test(upper)) return { entity: upper.slice(2), beginning: upper.startsWith('B') };
  return { entity: upper, beginning: false };
}

function tokenProbabilities(output: unknown, row: TokenizedText): number[][] {
  return asMatrix(output as never)!
    .slice(0, row.ids.length)
    .map((logits) => softmax(logits));
}

function tagWords(windows: Array<{ row: TokenizedText; scores: number[][] }>, tags: IobTag[], span: number, text: string): TaggedWord[] {
  const taken = new Map<number, TaggedWord>();
  windows.forEach(({ row, scores }, w) => {
    const last = w === windows.length - 1;
    const keepBefore = last ? Infinity : row.ids.length - Math.ceil(Math.max(span, 0) / 2) - 1;
    for (const [word, positions] of wordPositions(row)) {
      if (taken.has(word) || positions[0]! >= keepBefore) continue;
      taken.set(word, tagWord(row, scores, positions, tags, text));
    }
  });
  return [...taken.entries()].sort((a, b) => a[0] - b[0]).map(([, word]) => word);
}

function wordPositions(row: TokenizedText): Map<number, number[]> {
  const words = new Map<number, number[]>();
  row.wordIds.forEach((word, i) => {
    if (word === null || row.sequenceIds[i] === null) return;
    words.set(word, [...(words.get(word) ?? []), i]);
  });
  return words;
}

function tagWord(row: TokenizedText, scores: number[][], positions: number[], tags: IobTag[], text: string): TaggedWord {
  const mean = scores[positions[0]!]!.map((_, label) => positions.reduce((sum, p) => sum + scores[p]![label]!, 0) / positions.length);
  const best = argmax(mean);
  const [start, end] = toUtf16Offsets(text, [[row.offsets[positions[0]!]![0], row.offsets[positions.at(-1)!]![1]]])[0]!;
  return { tag: tags[best] ?? { entity: String(best), beginning: false }, score: mean[best]!, start, end };
}

function groupEntities(words: TaggedWord[], text: string): InferenceResult[] {
  const entities: InferenceResult[] = [];
  for (let i = 0; i < words.length;) {
    const first = words[i]!;
    if (first.tag.entity === null) {
      i += 1;
      continue;
    }
    let j = i + 1;
    while (j < words.length && !words[j]!.tag.beginning && words[j]!.tag.entity === first.tag.entity) j += 1;
    const group = words.slice(i, j);
    const [start, end] = [first.start, group.at(-1)!.end];
    entities.push({
      entity: text.slice(start, end),
      class_name: first.tag.entity,
      class_probability: group.reduce((sum, w) => sum + w.score, 0) / group.length,
      start_pos: start,
      end_pos: end,
    });
    i = j;
  }
  return entities;
}

function nerResult(text: string, entities: InferenceResult[], windows: TokenizedText[]): InferenceResult {
  return withTruncation(
    { predicted_value: annotate(text, entities), entities },
    windows.some((w) => w.isTruncated),
  );
}

/** Elastic's annotated text: each entity as [text](CLASS&text with + for spaces). */
function annotate(text: string, entities: InferenceResult[]): string {
  let annotated = '';
  let at = 0;
  for (const entity of entities) {
    const [start, end] = [entity.start_pos as number, entity.end_pos as number];
    const words = text.slice(start, end);
    annotated += `${text.slice(at, start)}[${words}](${entity.class_name as string}&${words.replaceAll(' ', '+')})`;
    at = end;
  }
  return annotated + text.slice(at);
}
