import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CorpusCase } from '../../bench/support/nlp-corpus.js';
import { FAMILIES, pythonEncodings, tokenizerFiles, type ReferenceEncoding } from '../../bench/support/nlp-reference.js';
import { TextTokenizer, type TokenizerFamily } from '../../src/nlp/tokenizer.js';
import { torchSetup } from '../support/torch.js';

type WindowCase = CorpusCase & { maxSequenceLength: number; span: number };

const LONG = 'The history of the region is long. '.repeat(40) + 'In the end, Peter Smith founded Acme Corporation in Boston.';
const MIXED = 'Café au lait, naïve façade; 東京 and 😀 emoji. '.repeat(12) + 'Ends here.';
const SHORT = 'A short text.';
const QUESTION = 'Who founded Acme Corporation?';

// Several limits and spans, texts shorter and longer than one window, single and paired (the pair's second is cut).
function windowCases(): WindowCase[] {
  const cases: WindowCase[] = [];
  for (const [maxSequenceLength, span] of [
    [128, 32],
    [64, 0],
    [40, 16],
    [48, 7],
  ] as const) {
    for (const text of [LONG, MIXED, SHORT]) {
      cases.push({ text, maxSequenceLength, span });
      cases.push({ text: QUESTION, pair: text, maxSequenceLength, span });
    }
  }
  return cases;
}

// A text of exactly one window, and one token over it: the limit is the text's own length with its special tokens.
async function boundaryCases(tokenizer: TextTokenizer): Promise<WindowCase[]> {
  const text = 'The region is long and its history longer still.';
  const single = (await tokenizer.encode(text, { truncate: 'none', maxSequenceLength: 1_000_000 })).ids.length;
  const pair = (await tokenizer.encodePair(QUESTION, text, { truncate: 'none', maxSequenceLength: 1_000_000 })).ids.length;
  return [
    { text, maxSequenceLength: single, span: 2 },
    { text, maxSequenceLength: single - 1, span: 2 },
    { text: QUESTION, pair: text, maxSequenceLength: pair, span: 2 },
    { text: QUESTION, pair: text, maxSequenceLength: pair - 1, span: 2 },
  ];
}

/**
 * XLM-RoBERTa's template gives every token type id 0, and so does Python's first window; its overflowing
 * windows keep the raw type id 1 of the pair's tokens, which the template never sets. The family's
 * models take no type ids (ids and mask only), so ours follow the template in every window.
 */
function asTemplateTypes(expected: ReferenceEncoding): ReferenceEncoding {
  expect(expected.windows![0]!.typeIds!.every((id) => id === 0)).toBe(true);
  return { windows: expected.windows!.map((w) => ({ ...w, typeIds: w.typeIds!.map(() => 0) })) };
}

async function oursOf(tokenizer: TextTokenizer, c: WindowCase): Promise<ReferenceEncoding> {
  const windows = await tokenizer.encodeWindows(c.text, c.pair, c);
  return { windows: windows.map(({ ids, typeIds, attentionMask, offsets }) => ({ ids, typeIds, attentionMask, offsets })) };
}

describe('span windows equal Python tokenizers’ overflowing encodings', () => {
  const tokenizers = {} as Record<TokenizerFamily, TextTokenizer>;
  const boundaries = {} as Record<TokenizerFamily, WindowCase[]>;
  let cases: WindowCase[];
  let reference: Record<TokenizerFamily, { encodings: ReferenceEncoding[] }>;

  beforeAll(async () => {
    const { python } = torchSetup();
    const files = await tokenizerFiles(python);
    for (const family of FAMILIES) {
      tokenizers[family] = TextTokenizer.fromJson(await readFile(files[family]));
      boundaries[family] = await boundaryCases(tokenizers[family]);
    }
    // Every family encodes every case: another family's boundary is one more limit to compare at.
    cases = [...windowCases(), ...FAMILIES.flatMap((family) => boundaries[family])];
    reference = await pythonEncodings(python, files, cases);
  }, 300_000);

  it.each(FAMILIES)('%s: every window’s ids, type ids, mask and offsets', async (family) => {
    let refused = 0;
    for (const [i, c] of cases.entries()) {
      const what = `${family} ${JSON.stringify({ ...c, text: c.text.slice(0, 20), pair: c.pair?.slice(0, 20) })}`;
      const expected = reference[family].encodings[i]!;
      if (expected.error !== undefined) {
        // Another family's limit may leave this one's question no room beside it: both refuse.
        await expect(oursOf(tokenizers[family], c), `${what}: ${expected.error}`).rejects.toThrow(/use a smaller span/);
        refused += 1;
        continue;
      }
      expect(await oursOf(tokenizers[family], c), what).toEqual(family === 'unigram' ? asTemplateTypes(expected) : expected);
    }
    expect(refused).toBeLessThanOrEqual(2);
    const windowCounts = (list: WindowCase[]) => list.map((c) => reference[family].encodings[cases.indexOf(c)]!.windows?.length ?? 0);
    // One window, exactly one at the limit, two one token over it, and many.
    expect(windowCounts(boundaries[family])).toEqual([1, 2, 1, 2]);
    expect(Math.max(...windowCounts(cases))).toBeGreaterThanOrEqual(4);
  });

  it('keeps the end of a long text: four windows of the findings’ text, as Python gives', async () => {
    const windows = await tokenizers.wordpiece.encodeWindows(QUESTION, LONG, { maxSequenceLength: 128, span: 32 });
    expect(windows.map((w) => w.ids.length)).toEqual([128, 128, 128, 81]);
    expect(windows.at(-1)!.offsets.at(-2)).toEqual([1458, 1459]);
  });

  it('refuses a span that leaves no new tokens per window, naming the fix', async () => {
    await expect(tokenizers.wordpiece.encodeWindows(LONG, undefined, { maxSequenceLength: 34, span: 32 })).rejects.toThrow(
      /leave 32 tokens .*use a smaller span/,
    );
  });
});
