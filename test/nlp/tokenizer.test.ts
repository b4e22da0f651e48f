import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tokenizerFiles } from '../../bench/support/nlp-reference.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { TextTokenizer, toUtf16Offsets } from '../../src/nlp/tokenizer.js';
import { torchSetup } from '../support/torch.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'nlp');
const loadFixture = async (name: string) => TextTokenizer.fromJson(await readFile(join(FIXTURES, name), 'utf8'));

describe('TextTokenizer', () => {
  let wordpiece: TextTokenizer;
  let bpe: TextTokenizer;
  let unigram: TextTokenizer;

  beforeAll(async () => {
    const files = await tokenizerFiles(torchSetup().python);
    wordpiece = TextTokenizer.fromJson(await readFile(files.wordpiece));
    [bpe, unigram] = await Promise.all([loadFixture('bpe.json'), loadFixture('unigram.json')]);
  });

  it('reads the family, the pad id and the limit from the tokenizer.json', () => {
    expect([wordpiece.family, wordpiece.padId, wordpiece.maxSequenceLength]).toEqual(['wordpiece', 0, 128]);
    expect([bpe.family, bpe.padId, bpe.maxSequenceLength]).toEqual(['bpe', 1, 512]);
    expect([unigram.family, unigram.padId]).toEqual(['unigram', 1]);
  });

  it('encodes a text to ids, mask, type ids and code point offsets, with BERT special tokens', async () => {
    const encoded = await wordpiece.encode('Hello 😀 world');
    expect(encoded.ids).toEqual([101, 7592, 100, 2088, 102]);
    expect(encoded.attentionMask).toEqual([1, 1, 1, 1, 1]);
    expect(encoded.typeIds).toEqual([0, 0, 0, 0, 0]);
    // The emoji is one code point, two UTF-16 units: "world" starts at 8 in code points, 9 in the string.
    expect(encoded.offsets).toEqual([
      [0, 0],
      [0, 5],
      [6, 7],
      [8, 13],
      [0, 0],
    ]);
    expect(toUtf16Offsets('Hello 😀 world', encoded.offsets)).toEqual([
      [0, 0],
      [0, 5],
      [6, 8],
      [9, 14],
      [0, 0],
    ]);
    expect(encoded.sequenceIds).toEqual([null, 0, 0, 0, null]);
    expect(encoded.specialTokensMask).toEqual([1, 0, 0, 0, 1]);
    expect(encoded.isTruncated).toBe(false);
  });

  it('encodes a pair with each family template: type ids 1 for BERT second text, <s> A </s></s> B </s> for RoBERTa and XLM-R', async () => {
    const bert = await wordpiece.encodePair('a cat', 'a dog');
    expect(bert.typeIds).toEqual([0, 0, 0, 0, 1, 1, 1]);
    expect(bert.sequenceIds).toEqual([null, 0, 0, null, 1, 1, null]);
    for (const tokenizer of [bpe, unigram]) {
      const pair = await tokenizer.encodePair('a cat', 'a dog');
      const specials = pair.sequenceIds.flatMap((id, i) => (id === null ? [pair.ids[i]] : []));
      expect(specials).toEqual([0, 2, 2, 2]);
      expect(pair.typeIds.every((t) => t === 0)).toBe(true);
    }
  });

  it('encodes the empty and whitespace-only texts to the special tokens alone', async () => {
    for (const text of ['', ' \t\n\u3000']) {
      expect((await wordpiece.encode(text)).ids).toEqual([101, 102]);
      expect((await bpe.encode(text)).ids.at(0)).toBe(0);
    }
  });

  it('truncates a long text to max_sequence_length and keeps the special tokens at both ends', async () => {
    const long = 'word '.repeat(600);
    for (const truncate of ['first', 'second', 'balanced'] as const) {
      const encoded = await wordpiece.encode(long, { truncate, maxSequenceLength: 16 });
      expect(encoded.ids).toHaveLength(16);
      expect([encoded.ids[0], encoded.ids[15]]).toEqual([101, 102]);
      expect(encoded.isTruncated).toBe(true);
    }
    // The tokenizer's own limit (MiniLM's file says 128) when the call names none.
    expect((await wordpiece.encode(long)).ids).toHaveLength(128);
  });

  it('truncates the side the option names in a pair: first, second, or both in balance', async () => {
    const short = 'one two three';
    const long = 'word '.repeat(50);
    const lengths = async (a: string, b: string, truncate: 'first' | 'second' | 'balanced') => {
      const { sequenceIds } = await wordpiece.encodePair(a, b, { truncate, maxSequenceLength: 20 });
      return [sequenceIds.filter((id) => id === 0).length, sequenceIds.filter((id) => id === 1).length];
    };
    expect(await lengths(long, short, 'first')).toEqual([14, 3]);
    expect(await lengths(short, long, 'second')).toEqual([3, 14]);
    expect(await lengths(short, long, 'balanced')).toEqual([3, 14]);
    // Both longer than half the 17 tokens of room: the longer (the first) gets the odd one.
    expect(await lengths(long + long, long, 'balanced')).toEqual([9, 8]);
  });

  it('refuses a text over the limit with truncate none, and a truncation that cannot fit, naming the fix', async () => {
    await expect(wordpiece.encode('word '.repeat(20), { truncate: 'none', maxSequenceLength: 10 })).rejects.toThrow(
      /the text is 22 tokens, over max_sequence_length 10, and truncate is none: shorten it, or set truncate to first, second or balanced/,
    );
    expect(await wordpiece.encode('word '.repeat(8), { truncate: 'none', maxSequenceLength: 10 })).toMatchObject({ isTruncated: false });
    const error = await wordpiece
      .encodePair('short', 'word '.repeat(30), { truncate: 'first', maxSequenceLength: 10 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toMatch(
      /cannot truncate first: the second text alone leaves the first no room .*use truncate balanced/,
    );
    await expect(wordpiece.encode('text', { maxSequenceLength: 0 })).rejects.toThrow(
      /max_sequence_length must be a whole number of tokens above 0/,
    );
    await expect(wordpiece.encode('text', { maxSequenceLength: 2 })).rejects.toThrow(
      /leaves no room for the text beside the special tokens/,
    );
  });

  it("cuts a long text (or a pair's second text) into windows of the limit overlapping by span, each with its special tokens", async () => {
    const text = 'the house stands at the end of the long road by the river in the old town '.repeat(3);
    const whole = (await wordpiece.encode(text, { maxSequenceLength: 512 })).offsets.slice(1, -1);
    const windows = await wordpiece.encodeWindows(text, undefined, { maxSequenceLength: 16, span: 4 });
    expect(windows.length).toBeGreaterThan(3);
    const content = windows.map((w) => {
      expect(w.ids.length).toBeLessThanOrEqual(16);
      expect([w.ids[0], w.ids.at(-1)]).toEqual([101, 102]);
      return w.offsets.filter((_, i) => w.sequenceIds[i] === 0);
    });
    content.slice(1).forEach((window, k) => expect(window.slice(0, 4)).toEqual(content[k]!.slice(-4)));
    const covered = content.flatMap((window, k) => (k === 0 ? window : window.slice(4)));
    expect(covered).toEqual(whole);
    const pairs = await wordpiece.encodeWindows('where is the house', text, { maxSequenceLength: 24, span: 4 });
    for (const pair of pairs) expect(pair.sequenceIds.filter((s) => s === 0)).toHaveLength(4);
    expect(new Set((await wordpiece.encode('unaffable house')).wordIds)).toEqual(new Set([null, 0, 1]));
  });

  it('refuses a tokenizer that is not valid JSON, not a tokenizer.json, or of a model it does not serve', () => {
    expect(() => TextTokenizer.fromJson('{"model": ')).toThrow(/the tokenizer is not valid JSON .*give the model's tokenizer.json/);
    expect(() => TextTokenizer.fromJson('{"model": {"type": "WordPiece"}}')).toThrow(
      /not a tokenizer.json that Hugging Face tokenizers can load/,
    );
    const wordLevel = { version: '1.0', model: { type: 'WordLevel', vocab: { '[PAD]': 0, a: 1 }, unk_token: '[PAD]' } };
    expect(() => TextTokenizer.fromJson(JSON.stringify(wordLevel))).toThrow(
      /the tokenizer's model is "WordLevel": the feeder serves WordPiece .*, BPE .* and Unigram/,
    );
  });

  it('converts offsets beyond the BMP to UTF-16 indices that slice the JavaScript string', async () => {
    const text = '𝐀𝐁 café 𠀀 end';
    const encoded = await unigram.encode(text);
    const slices = toUtf16Offsets(text, encoded.offsets).map(([start, end]) => text.slice(start, end));
    expect(slices.join('').replaceAll(' ', '')).toBe(text.replaceAll(' ', ''));
  });
});
