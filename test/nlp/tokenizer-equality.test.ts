import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { corpusCases, type CorpusCase } from '../../bench/support/nlp-corpus.js';
import { differenceOf, FAMILIES, pythonEncodings, tokenizerFiles, type FamilyReference } from '../../bench/support/nlp-reference.js';
import { TextTokenizer, type TokenizedText, type TokenizerFamily } from '../../src/nlp/tokenizer.js';
import { torchSetup } from '../support/torch.js';

// Ours without truncation must never cut: Python encodes those cases with no limit at all.
const UNLIMITED = 1_000_000;

function encodeCase(tokenizer: TextTokenizer, c: CorpusCase): Promise<TokenizedText | Error> {
  const options =
    c.truncate === undefined
      ? { truncate: 'none' as const, maxSequenceLength: UNLIMITED }
      : { truncate: c.truncate, maxSequenceLength: c.maxSequenceLength! };
  const encoded = c.pair === undefined ? tokenizer.encode(c.text, options) : tokenizer.encodePair(c.text, c.pair, options);
  return encoded.catch((error: unknown) => error as Error);
}

describe('tokenization equals Python tokenizers', () => {
  let cases: CorpusCase[];
  let files: Record<TokenizerFamily, string>;
  let reference: Record<TokenizerFamily, FamilyReference>;

  beforeAll(async () => {
    const { python } = torchSetup();
    cases = await corpusCases();
    files = await tokenizerFiles(python);
    reference = await pythonEncodings(python, files, cases);
  }, 300_000);

  it('has a corpus of at least 2,000 single texts of every category, with pairs and truncations', () => {
    const singles = cases.filter((c) => c.pair === undefined && c.truncate === undefined).map((c) => c.text);
    expect(singles.length).toBeGreaterThanOrEqual(2000);
    expect(singles).toContain('');
    expect(singles.some((t) => t !== '' && t.trim() === '')).toBe(true);
    for (const category of [/\p{M}/u, /\p{Script=Han}/u, /\p{Extended_Pictographic}/u, /\p{Cc}/u, /[éèüñçå]/u]) {
      expect(singles.filter((t) => category.test(t)).length, String(category)).toBeGreaterThan(50);
    }
    expect(singles.filter((t) => t.length > 500).length).toBeGreaterThanOrEqual(100);
    for (const truncate of ['first', 'second', 'balanced'])
      expect(cases.filter((c) => c.truncate === truncate && c.pair !== undefined).length).toBe(150);
  });

  it.each(FAMILIES)('%s: ids, offsets, type ids and mask equal for every case', async (family) => {
    const tokenizer = TextTokenizer.fromJson(await readFile(files[family]));
    expect(tokenizer.family).toBe(family);
    const counts: Record<string, number> = { equal: 0, ids: 0, offsets: 0, 'type ids': 0, mask: 0, error: 0 };
    const examples: string[] = [];
    for (const [i, c] of cases.entries()) {
      const difference = differenceOf(await encodeCase(tokenizer, c), reference[family].encodings[i]!);
      counts[difference ?? 'equal']! += 1;
      if (difference !== undefined && examples.length < 3) examples.push(`${difference}: ${JSON.stringify(c)}`);
    }
    const truncated = cases.filter((c) => c.truncate !== undefined).length;
    const pairs = cases.filter((c) => c.pair !== undefined).length;
    console.log(
      `${family}: ${counts.equal}/${cases.length} equal (${pairs} pairs, ${truncated} truncated); differing: ${JSON.stringify(counts)}`,
    );
    expect(examples).toEqual([]);
    expect(counts.equal).toBe(cases.length);
  });
});
