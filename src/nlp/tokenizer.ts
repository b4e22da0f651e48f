import { type Encoding, Tokenizer } from 'tokenizers';
import { InvalidArgumentError } from '../errors.js';
import { keptLengths, type Truncate } from './truncation.js';

export type { Truncate } from './truncation.js';

/** The tokenizer models the feeder serves, by the model type of their tokenizer.json. */
export type TokenizerFamily = 'wordpiece' | 'bpe' | 'unigram';

const FAMILIES: Record<string, TokenizerFamily> = { WordPiece: 'wordpiece', BPE: 'bpe', Unigram: 'unigram' };
const PAD_TOKENS = ['[PAD]', '<pad>'];
// Elastic's default for the models it imports when their tokenizer names no limit.
const DEFAULT_MAX_SEQUENCE_LENGTH = 512;

export interface EncodeOptions {
  /** What gives way when the text (or pair) with its special tokens is longer than the limit; default `first`. */
  truncate?: Truncate;
  /** The limit, special tokens included; default the tokenizer's own. */
  maxSequenceLength?: number;
}

/** One text (or pair) as the model takes it, special tokens included, unpadded. */
export interface TokenizedText {
  ids: number[];
  attentionMask: number[];
  typeIds: number[];
  /**
   * Each token's [start, end) in code points (not UTF-16 units) of the text its `sequenceIds`
   * entry names, as Python `tokenizers` gives them; [0, 0] for a special token.
   * `toUtf16Offsets` turns them into indices of the JavaScript string.
   */
  offsets: Array<[number, number]>;
  /** 0 for a token of the text, 1 of the pair, null for a special token. */
  sequenceIds: Array<0 | 1 | null>;
  specialTokensMask: number[];
  /** Each token's word (pre-tokenizer piece) in its sequence, null for a special token: NER groups a word's pieces. */
  wordIds: Array<number | null>;
  isTruncated: boolean;
}

export interface WindowOptions {
  /** The limit per window, special tokens included. */
  maxSequenceLength: number;
  /** Tokens each window repeats of the one before (Elastic's `span`). */
  span: number;
}

interface TokenizerJson {
  model?: { type?: unknown };
  truncation?: { max_length?: unknown } | null;
  padding?: { pad_id?: unknown } | null;
}

/**
 * A Hugging Face tokenizer.json, encoded by HF's own `tokenizers` (its Rust core, the one Python
 * uses), with the special tokens kept through Elastic's truncation options.
 */
export class TextTokenizer {
  readonly padId: number;
  readonly maxSequenceLength: number;

  /**
   * @param whole the tokenizer as its file says, without padding or truncation
   * @param parts the same without its post-processor: a truncation cuts the sequences before the
   *   special tokens are added. (Cutting a post-processed encoding and post-processing it again would
   *   trim byte-level BPE's offsets twice.)
   */
  private constructor(
    private readonly whole: Tokenizer,
    private readonly parts: Tokenizer,
    readonly family: TokenizerFamily,
    json: TokenizerJson,
  ) {
    this.padId = padIdOf(whole, json);
    this.maxSequenceLength = positiveOr(json.truncation?.max_length, DEFAULT_MAX_SEQUENCE_LENGTH);
  }

  /** Loads a tokenizer.json's text or bytes; a file that is not one is refused with the reason. */
  static fromJson(source: string | Uint8Array): TextTokenizer {
    const text = typeof source === 'string' ? source : Buffer.from(source).toString('utf8');
    let json: TokenizerJson;
    try {
      json = JSON.parse(text) as TokenizerJson;
    } catch (error) {
      throw new InvalidArgumentError(`the tokenizer is not valid JSON (${(error as Error).message}): give the model's tokenizer.json`);
    }
    const family = familyOf(json);
    return new TextTokenizer(loadTokenizer(text), loadTokenizer(JSON.stringify({ ...json, post_processor: null })), family, json);
  }

  /** Encodes one text. */
  encode(text: string, options: EncodeOptions = {}): Promise<TokenizedText> {
    return this.encodeSequences(text, undefined, options);
  }

  /** Encodes a pair (a cross-encoder's query and document, or zero-shot's text and hypothesis). */
  encodePair(text: string, pair: string, options: EncodeOptions = {}): Promise<TokenizedText> {
    return this.encodeSequences(text, pair, options);
  }

  /**
   * Cuts a text (or, with `pair`, the pair's second text) that is over the limit into windows that
   * overlap by `span` tokens, each with its special tokens, as Elastic's `span` does; a text within
   * the limit is one window. (The windows are cut here: the Node binding's own overflow with a
   * stride stops after the second window.)
   */
  async encodeWindows(text: string, pair: string | undefined, options: WindowOptions): Promise<TokenizedText[]> {
    const { maxSequenceLength, span } = options;
    const whole = await this.whole.encode(text, pair ?? null);
    if (whole.getLength() <= maxSequenceLength) return [toTokenized(whole, false)];
    const windowed = pair ?? text;
    const total = (await this.encodePart(windowed)).getLength();
    const fixed = pair === undefined ? 0 : (await this.encodePart(text)).getLength();
    const room = maxSequenceLength - (whole.getLength() - total) - fixed;
    if (room <= span) {
      throw new InvalidArgumentError(
        `windows of max_sequence_length ${maxSequenceLength} leave ${Math.max(room, 0)} tokens for the text beside the special tokens${pair === undefined ? '' : ' and the first text'}, not more than span ${span}: use a smaller span, or a shorter first text`,
      );
    }
    const starts = windowStarts(total, room, span);
    return Promise.all(
      starts.map(async (start) => {
        const part = await this.encodePart(windowed);
        part.truncate(Math.min(start + room, total), 0, 'right');
        part.truncate(Math.min(room, total - start), 0, 'left');
        const encoding =
          pair === undefined ? this.whole.postProcess(part, null, true) : this.whole.postProcess(await this.encodePart(text), part, true);
        return toTokenized(encoding, false);
      }),
    );
  }

  private encodePart(text: string): Promise<Encoding> {
    return this.parts.encode(text, null, { addSpecialTokens: false });
  }

  /** The vocabulary's token for an id, as the model's output columns name them. */
  tokenOf(id: number): string {
    return this.whole.idToToken(id) ?? `[${id}]`;
  }

  /** The id of a token of the vocabulary, or null. */
  idOf(token: string): number | null {
    return this.whole.tokenToId(token);
  }

  /** One id as text, as the tokenizer's decoder writes it. */
  decode(ids: number[]): Promise<string> {
    return this.whole.decode(ids, false);
  }

  private async encodeSequences(text: string, pair: string | undefined, options: EncodeOptions): Promise<TokenizedText> {
    const maxSequenceLength = options.maxSequenceLength ?? this.maxSequenceLength;
    if (!Number.isInteger(maxSequenceLength) || maxSequenceLength < 1) {
      throw new InvalidArgumentError(`max_sequence_length must be a whole number of tokens above 0; got ${maxSequenceLength}`);
    }
    const whole = await this.whole.encode(text, pair ?? null);
    if (whole.getLength() <= maxSequenceLength) return toTokenized(whole, false);
    const [first, second] = await Promise.all([
      this.parts.encode(text, null, { addSpecialTokens: false }),
      pair === undefined ? undefined : this.parts.encode(pair, null, { addSpecialTokens: false }),
    ]);
    const lengths = { first: first.getLength(), second: second?.getLength() };
    const [keepFirst, keepSecond] = keptLengths({
      ...lengths,
      // What the post-processor added to the whole is what the special tokens take of the limit.
      budget: maxSequenceLength - (whole.getLength() - lengths.first - (lengths.second ?? 0)),
      maxSequenceLength,
      truncate: options.truncate ?? 'first',
    });
    first.truncate(keepFirst, 0, 'right');
    if (second !== undefined && keepSecond !== undefined) second.truncate(keepSecond, 0, 'right');
    return toTokenized(this.whole.postProcess(first, second ?? null, true), true);
  }
}

/** Where each window starts: every `room - span` tokens, the last one reaching the end. */
function windowStarts(total: number, room: number, span: number): number[] {
  const starts = [0];
  while (starts.at(-1)! + room < total) starts.push(starts.at(-1)! + room - span);
  return starts;
}

function loadTokenizer(text: string): Tokenizer {
  let tokenizer: Tokenizer;
  try {
    tokenizer = Tokenizer.fromString(text);
  } catch (error) {
    throw new InvalidArgumentError(
      `the tokenizer is not a tokenizer.json that Hugging Face tokenizers can load: ${(error as Error).message}`,
    );
  }
  // Padding is the batch's business, and truncation each call's: the file's own settings are dropped.
  tokenizer.disablePadding();
  tokenizer.disableTruncation();
  return tokenizer;
}

function toTokenized(encoding: Encoding, isTruncated: boolean): TokenizedText {
  return {
    ids: encoding.getIds(),
    attentionMask: encoding.getAttentionMask(),
    typeIds: encoding.getTypeIds(),
    offsets: encoding.getOffsets() as Array<[number, number]>,
    sequenceIds: encoding.getSequenceIds().map((id) => (id === 0 || id === 1 ? id : null)),
    specialTokensMask: encoding.getSpecialTokensMask(),
    wordIds: encoding.getWordIds().map((id) => (typeof id === 'number' ? id : null)),
    isTruncated,
  };
}

/** Code point offsets into `text` (as `TokenizedText` gives them) as UTF-16 indices of the string. */
export function toUtf16Offsets(text: string, offsets: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
  if (!/[\uD800-\uDFFF]/.test(text)) return offsets.map(([start, end]) => [start, end]);
  const units: number[] = [0];
  for (const char of text) units.push(units.at(-1)! + char.length);
  return offsets.map(([start, end]) => [units[start] ?? text.length, units[end] ?? text.length]);
}

function familyOf(json: TokenizerJson): TokenizerFamily {
  const type = json.model?.type;
  const family = typeof type === 'string' ? FAMILIES[type] : undefined;
  if (family === undefined) {
    throw new InvalidArgumentError(
      `the tokenizer's model is ${JSON.stringify(type ?? null)}: the feeder serves WordPiece (BERT, DistilBERT, MPNet), BPE (RoBERTa) and Unigram (XLM-RoBERTa, DeBERTa-v2) tokenizers`,
    );
  }
  return family;
}

function padIdOf(inner: Tokenizer, json: TokenizerJson): number {
  const declared = json.padding?.pad_id;
  if (typeof declared === 'number') return declared;
  for (const token of PAD_TOKENS) {
    const id = inner.tokenToId(token);
    if (id !== null) return id;
  }
  throw new InvalidArgumentError(
    `the tokenizer has no padding token (${PAD_TOKENS.join(' or ')}), which batches of texts need: add one to its added_tokens`,
  );
}

function positiveOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : fallback;
}
