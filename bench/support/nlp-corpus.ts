import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packageRoot } from '../../src/config/paths.js';

/** One encoding asked of both tokenizers: a text, or a pair, optionally truncated as Elastic names it. */
export interface CorpusCase {
  text: string;
  pair?: string;
  truncate?: 'first' | 'second' | 'balanced';
  maxSequenceLength?: number;
}

/** The shipped seed text: the training corpus of the BPE and Unigram tokenizers, and the corpus's source. */
export const SEED_FILE = join(packageRoot(), 'test', 'fixtures', 'nlp', 'seed.txt');

// Fixed, so that the corpus (and so every figure measured on it) is the same on every machine.
const CORPUS_SEED = 20_260_419;

const CONTROLS = [
  '\u0000',
  '\u0001',
  '\u0007',
  '\b',
  '\t',
  '\n',
  '\u000b',
  '\f',
  '\r',
  '\u001b',
  '\u001f',
  '\u007f',
  '\u0085',
  '\u00ad',
  '\u200b',
  '\u200d',
  '\u2028',
  '\ufeff',
  '\ufffd',
];
const EMOJI = ['😀', '👍🏽', '👨‍👩‍👧‍👦', '🇫🇷', '❤️', '✈️', '🤖', '🧪', '🫠', '👩🏿‍💻', '1️⃣', '🏳️‍🌈', '☕', '🍣', '💯'];
const WHITESPACE = ['', ' ', '\t', '\n', '\r\n', '\u00a0', '\u2003', '\u3000', '\u200b', '\u000b\f'];
// Code point ranges a random string draws from: scripts, symbols, combining marks, beyond the BMP.
const RANGES: Array<[number, number]> = [
  [0x20, 0x7e],
  [0xa0, 0x24f],
  [0x300, 0x36f],
  [0x370, 0x3ff],
  [0x400, 0x4ff],
  [0x590, 0x5ff],
  [0x600, 0x6ff],
  [0x900, 0x97f],
  [0xe00, 0xe7f],
  [0x1100, 0x11ff],
  [0x2000, 0x206f],
  [0x2190, 0x22ff],
  [0x3040, 0x30ff],
  [0x4e00, 0x9fff],
  [0xac00, 0xd7a3],
  [0xe000, 0xe0ff],
  [0xff00, 0xffef],
  [0x1d400, 0x1d7ff],
  [0x1f300, 0x1faff],
  [0x20000, 0x2a6df],
];

type Rng = () => number;

// Numbers from SHA-256 of a counter: the bench build cannot reach the tests' PRNG, and this needs no state but the count.
function seededNumbers(seed: number): Rng {
  let counter = 0;
  return () =>
    createHash('sha256')
      .update(`${seed}:${(counter += 1)}`)
      .digest()
      .readUInt32LE(0) /
    2 ** 32;
}
const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;
const between = (rng: Rng, low: number, high: number): number => low + Math.floor(rng() * (high - low + 1));

/** The seed text's lines, empty ones dropped. */
export async function readSeedLines(): Promise<string[]> {
  return (await readFile(SEED_FILE, 'utf8')).split('\n').filter((line) => line !== '');
}

function insertAt(rng: Rng, text: string, pieces: readonly string[], count: number): string {
  const chars = [...text];
  for (let i = 0; i < count; i += 1) chars.splice(between(rng, 0, chars.length), 0, pick(rng, pieces));
  return chars.join('');
}

function randomString(rng: Rng, length: number): string {
  let out = '';
  for (let i = 0; i < length; i += 1) {
    const [low, high] = pick(rng, RANGES);
    out += rng() < 0.15 ? ' ' : String.fromCodePoint(between(rng, low, high));
  }
  return out;
}

function fragment(rng: Rng, line: string): string {
  const chars = [...line];
  const start = between(rng, 0, chars.length - 1);
  return chars.slice(start, between(rng, start + 1, chars.length)).join('');
}

function longText(rng: Rng, lines: readonly string[]): string {
  return Array.from({ length: between(rng, 10, 40) }, () => pick(rng, lines)).join(pick(rng, [' ', '\n', ' \n\n ']));
}

/** The single texts: every category the equality must hold on, drawn from the seed by fixed rules. */
export function singleTexts(lines: readonly string[]): string[] {
  const rng = seededNumbers(CORPUS_SEED);
  const texts: string[] = [...lines];
  for (const line of lines) texts.push(line.toLowerCase(), line.toUpperCase(), line.normalize('NFD'), line.normalize('NFKC'));
  for (let i = 0; i < 250; i += 1) texts.push(insertAt(rng, pick(rng, lines), CONTROLS, between(rng, 1, 4)));
  for (let i = 0; i < 250; i += 1) texts.push(insertAt(rng, pick(rng, lines), EMOJI, between(rng, 1, 5)));
  for (let i = 0; i < 300; i += 1) texts.push(fragment(rng, pick(rng, lines)));
  for (let i = 0; i < 450; i += 1) texts.push(randomString(rng, between(rng, 1, 60)));
  for (let i = 0; i < 120; i += 1) texts.push(longText(rng, lines));
  for (let i = 0; i < 60; i += 1) texts.push(Array.from({ length: between(rng, 1, 6) }, () => pick(rng, WHITESPACE)).join(''));
  for (let i = 0; i < 60; i += 1) texts.push(pick(rng, ['a', 'é', '中', '😀', 'ab']).repeat(between(rng, 50, 260)));
  for (let i = 0; i < 60; i += 1)
    texts.push(`${between(rng, 0, 99_999)}.${between(rng, 0, 999)}% ${pick(rng, ['$', '€', '¥'])}${between(rng, 1, 9_999_999)}`);
  return texts;
}

/** Pairs, and truncation of texts and pairs to small limits, each strategy on texts long and short. */
export function pairAndTruncationCases(texts: readonly string[]): CorpusCase[] {
  const rng = seededNumbers(CORPUS_SEED + 1);
  const cases: CorpusCase[] = [];
  for (let i = 0; i < 300; i += 1) cases.push({ text: pick(rng, texts), pair: pick(rng, texts) });
  for (const truncate of ['first', 'balanced'] as const) {
    for (let i = 0; i < 150; i += 1) cases.push({ text: pick(rng, texts), truncate, maxSequenceLength: between(rng, 4, 64) });
  }
  for (const truncate of ['first', 'second', 'balanced'] as const) {
    for (let i = 0; i < 150; i += 1)
      cases.push({ text: pick(rng, texts), pair: pick(rng, texts), truncate, maxSequenceLength: between(rng, 8, 96) });
  }
  return cases;
}

/** The whole corpus: every single text, then the pairs and truncations. */
export async function corpusCases(): Promise<CorpusCase[]> {
  const texts = singleTexts(await readSeedLines());
  return [...texts.map((text) => ({ text })), ...pairAndTruncationCases(texts)];
}
