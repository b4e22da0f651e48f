import { InvalidArgumentError } from '../errors.js';

/**
 * A token id as the protocol carries it: any whole number from 0 to 2^64 - 1. Ids up to 2^53 - 1
 * are plain numbers; larger ones are BigInts, since a JavaScript number cannot hold them exactly.
 */
export type TokenId = number | bigint;
export type TokenBatch = TokenId[][];

/** The optional inputs besides `tokens` that pytorch_inference passes to a model's forward, in order. */
export const ARG_NAMES = ['arg_1', 'arg_2', 'arg_3'] as const;
export type ArgName = (typeof ARG_NAMES)[number];

/** What one inference request carries: `tokens`, and arguments of the same shape. */
export type InferenceInputs = { tokens: TokenBatch } & Partial<Record<ArgName, TokenBatch>>;

export const TOKEN_ID_MAX = 2n ** 64n - 1n;
export const MAX_ROWS = 1024;
export const MAX_ROW_LENGTH = 8192;
const U32_MAX = 2 ** 32 - 1;

/** `tokens` and `arg_1`..`arg_3` of a request body (the control API's JSON), each checked, the arguments against the tokens' shape. */
export function parseInferenceInputs(body: Record<string, unknown>): InferenceInputs {
  const inputs: InferenceInputs = { tokens: parseTokenBatch(body.tokens, 'tokens') };
  for (const name of ARG_NAMES) {
    if (body[name] === undefined) continue;
    const arg = parseTokenBatch(body[name], name);
    requireSameShape(arg, inputs.tokens, name);
    inputs[name] = arg;
  }
  return inputs;
}

/** A batch from JSON: 1..1024 rows of 1..8192 ids, each a whole number or, above 2^53 - 1, a decimal string. */
export function parseTokenBatch(value: unknown, name: string): TokenBatch {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_ROWS) {
    throw new InvalidArgumentError(
      `${name} must be an array of 1 to ${MAX_ROWS} rows of token ids, e.g. {"${name}": [[1, 2, 3]]}; got ${describe(value)}`,
    );
  }
  return value.map((row: unknown, b) => {
    if (!Array.isArray(row) || row.length === 0 || row.length > MAX_ROW_LENGTH)
      throw new InvalidArgumentError(`${name}[${b}] must be an array of 1 to ${MAX_ROW_LENGTH} token ids; got ${describe(row)}`);
    return row.map((id: unknown, i) => parseTokenId(id, `${name}[${b}][${i}]`));
  });
}

/** One id from JSON: a safe whole number, or a decimal string (which alone carries ids above 2^53 - 1 exactly). */
export function parseTokenId(value: unknown, where: string): TokenId {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) {
    if (Number.isSafeInteger(value)) return value;
    throw new InvalidArgumentError(
      `${where} is ${value}, above 2^53 - 1, the largest whole number a JSON number carries exactly (it may have been rounded); send ids above it as decimal strings, e.g. "18446744073709551615"`,
    );
  }
  if (typeof value === 'string' && /^\d{1,20}$/.test(value)) {
    const id = BigInt(value);
    if (id <= TOKEN_ID_MAX) return id <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(id) : id;
  }
  throw new InvalidArgumentError(
    `${where} must be a whole number from 0 to 2^64 - 1 (18446744073709551615), as a number or a decimal string; got ${describe(value)}`,
  );
}

/** One row from the command line: `1,2,3`, each id a decimal from 0 to 2^64 - 1. */
export function parseTokenList(text: string, flag: string): TokenId[] {
  const ids = text.split(',').map((t) => t.trim());
  return ids.map((id, i) => {
    if (/^\d{1,20}$/.test(id) && BigInt(id) <= TOKEN_ID_MAX) return parseTokenId(id, `${flag} id ${i + 1}`);
    throw new InvalidArgumentError(
      `${flag} must be comma-separated whole numbers from 0 to 2^64 - 1 (18446744073709551615), e.g. 1,2,3; got '${text}'`,
    );
  });
}

/** The JSON form of a batch: ids above 2^53 - 1 as decimal strings, which JSON carries exactly. */
export function batchToJson(batch: TokenBatch): Array<Array<number | string>> {
  return batch.map((row) => row.map((id) => (typeof id === 'bigint' ? id.toString() : id)));
}

/**
 * The batch as MessagePack should carry it: msgpackr writes a number above 2^32 - 1 as a float64,
 * which a process reading integers refuses, but a BigInt as a 64-bit integer.
 */
export function packableBatch(batch: TokenBatch): TokenBatch {
  // Not a batch at all: sent as it is, for the process to refuse (tests of its error frames do).
  if (!Array.isArray(batch) || !batch.every((row) => Array.isArray(row))) return batch;
  return batch.some((row) => row.some(isWide)) ? batch.map((row) => row.map((id) => (isWide(id) ? BigInt(id) : id))) : batch;
}

function isWide(id: TokenId): id is number {
  return typeof id === 'number' && id > U32_MAX && Number.isInteger(id);
}

function requireSameShape(arg: TokenBatch, tokens: TokenBatch, name: string): void {
  if (arg.length !== tokens.length)
    throw new InvalidArgumentError(`${name} must have the shape of tokens: ${tokens.length} rows; it has ${arg.length}`);
  arg.forEach((row, b) => {
    if (row.length !== tokens[b]!.length)
      throw new InvalidArgumentError(
        `${name} must have the shape of tokens: ${name}[${b}] has ${row.length} ids where tokens[${b}] has ${tokens[b]!.length}`,
      );
  });
}

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}
