// `npm run bench:tokenizers`: the measurement that chose the tokenizer library. Each candidate that
// installs from the registry encodes the NLP corpus (bench/support/nlp-corpus.ts) with each
// family's tokenizer.json; the figures are how many of Python `tokenizers`' encodings it matches
// (ids; offsets where it gives them) and its encode throughput, beside Python's own.
// transformers.js is not a candidate of its own: its tokenizers are @huggingface/tokenizers, and
// its install fails here (onnxruntime-node downloads its runtime at install, from outside the registry).
// Writes bench/results/tokenizers.json.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer as JsTokenizer } from '@huggingface/tokenizers';
import { TextTokenizer, type TokenizerFamily } from '../src/nlp/tokenizer.js';
import { corpusCases, type CorpusCase } from './support/nlp-corpus.js';
import { differenceOf, FAMILIES, projectPython, pythonEncodings, tokenizerFiles, type FamilyReference } from './support/nlp-reference.js';
import { median, round, table, wholeFromEnv } from './support/report.js';

const RESULT_FILE = fileURLToPath(new URL('../../bench/results/tokenizers.json', import.meta.url));
const RUNS = wholeFromEnv(process.env, 'BENCH_RUNS', 3, 1);

interface Measure {
  library: string;
  family: TokenizerFamily;
  /** Cases whose ids equal Python's, of those the library can encode at all. */
  ids_equal: number;
  /** Cases whose offsets equal Python's too, or null when the library gives no offsets. */
  offsets_equal: number | null;
  cases: number;
  /** Cases it cannot encode: truncation, which it does not offer. */
  unsupported: number;
  texts_per_s: number;
}

const isSingle = (c: CorpusCase): boolean => c.pair === undefined && c.truncate === undefined;

/** The single texts encoded one after the other, as a request's docs are, per second: the median of RUNS passes. */
async function textsPerSecond(cases: CorpusCase[], encode: (text: string) => unknown): Promise<number> {
  const singles = cases.filter(isSingle).map((c) => c.text);
  const rates: number[] = [];
  for (let run = 0; run < RUNS; run += 1) {
    const start = process.hrtime.bigint();
    for (const text of singles) await encode(text);
    rates.push(singles.length / (Number(process.hrtime.bigint() - start) / 1e9));
  }
  return round(median(rates));
}

async function measureOurs(family: TokenizerFamily, json: string, cases: CorpusCase[], reference: FamilyReference): Promise<Measure> {
  const tokenizer = TextTokenizer.fromJson(json);
  let idsEqual = 0;
  let allEqual = 0;
  for (const [i, c] of cases.entries()) {
    const options =
      c.truncate === undefined
        ? { truncate: 'none' as const, maxSequenceLength: 1e6 }
        : { truncate: c.truncate, maxSequenceLength: c.maxSequenceLength! };
    const ours = await (c.pair === undefined ? tokenizer.encode(c.text, options) : tokenizer.encodePair(c.text, c.pair, options)).catch(
      (e: unknown) => e as Error,
    );
    const difference = differenceOf(ours, reference.encodings[i]!);
    if (difference === undefined) allEqual += 1;
    if (difference === undefined || difference !== 'ids') idsEqual += 1;
  }
  const rate = await textsPerSecond(cases, (text) => tokenizer.encode(text, { truncate: 'none', maxSequenceLength: 1e6 }));
  return {
    library: 'tokenizers (HF, Rust)',
    family,
    ids_equal: idsEqual,
    offsets_equal: allEqual,
    cases: cases.length,
    unsupported: 0,
    texts_per_s: rate,
  };
}

async function measurePureJs(family: TokenizerFamily, file: string, cases: CorpusCase[], reference: FamilyReference): Promise<Measure> {
  const configFile = join(dirname(file), 'tokenizer_config.json');
  const config: unknown = family === 'wordpiece' && existsSync(configFile) ? JSON.parse(await readFile(configFile, 'utf8')) : {};
  const tokenizer = new JsTokenizer(JSON.parse(await readFile(file, 'utf8')) as object, config);
  let idsEqual = 0;
  let unsupported = 0;
  for (const [i, c] of cases.entries()) {
    if (c.truncate !== undefined) {
      unsupported += 1;
      continue;
    }
    const expected = reference.encodings[i]!.ids;
    try {
      if (JSON.stringify(tokenizer.encode(c.text, { text_pair: c.pair ?? null }).ids) === JSON.stringify(expected)) idsEqual += 1;
    } catch {
      // A throw is a difference like any other.
    }
  }
  const rate = await textsPerSecond(cases, (text) => tokenizer.encode(text));
  return {
    library: '@huggingface/tokenizers (JS)',
    family,
    ids_equal: idsEqual,
    offsets_equal: null,
    cases: cases.length,
    unsupported,
    texts_per_s: rate,
  };
}

async function main(): Promise<void> {
  const python = await projectPython();
  const cases = await corpusCases();
  const files = await tokenizerFiles(python);
  const reference = await pythonEncodings(python, files, cases);
  const measures: Measure[] = [];
  for (const family of FAMILIES) {
    measures.push(await measureOurs(family, await readFile(files[family], 'utf8'), cases, reference[family]));
    measures.push(await measurePureJs(family, files[family], cases, reference[family]));
  }
  const pythonRate = Object.fromEntries(FAMILIES.map((f) => [f, round(reference[f].singles / reference[f].singleSeconds)]));
  const singles = cases.filter(isSingle).length;
  const report = { cases: cases.length, single_texts: singles, runs: RUNS, python_texts_per_s: pythonRate, measures };
  await writeFile(RESULT_FILE, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`${cases.length} cases (${singles} single texts, then pairs and truncations); Python tokenizers 0.23.3 as the reference\n`);
  const rows = measures.map((m) => [
    m.library,
    m.family,
    `${m.ids_equal}/${m.cases - m.unsupported}`,
    m.offsets_equal === null ? 'none given' : `${m.offsets_equal}/${m.cases}`,
    m.unsupported,
    m.texts_per_s,
    round(m.texts_per_s / pythonRate[m.family]!, 2),
  ]);
  console.log(table(['library', 'family', 'ids equal', 'all equal (offsets too)', 'no truncation', 'texts/s', 'vs Python'], rows));
  console.log('\nwritten to bench/results/tokenizers.json');
}

await main();
