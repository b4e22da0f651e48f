import { InvalidArgumentError } from '../errors.js';

/** Elastic's truncation options: which sequence gives up tokens when a text (or pair) is too long. */
export type Truncate = 'first' | 'second' | 'balanced' | 'none';

export const TRUNCATE_OPTIONS: readonly Truncate[] = ['first', 'second', 'balanced', 'none'];

/** The sequences' lengths without special tokens, and the room they have beside them. */
export interface Room {
  first: number;
  second: number | undefined;
  /** max_sequence_length less the special tokens the post-processor adds. */
  budget: number;
  maxSequenceLength: number;
  truncate: Truncate;
}

/**
 * How many tokens each sequence keeps so that, with its special tokens, the whole fits the limit.
 * The arithmetic is Python `tokenizers`' (only_first, only_second, longest_first for `balanced`), so
 * that a truncated encoding equals Python's. A single text is cut whatever the option but `none`,
 * which refuses a text over the limit, as Elastic does.
 */
export function keptLengths(room: Room): [number, number | undefined] {
  const { first, second, budget } = room;
  if (first + (second ?? 0) <= budget) return [first, second];
  if (room.truncate === 'none') throw tooLong(room);
  if (second === undefined) return [atLeastOne(budget, room), undefined];
  if (room.truncate === 'first') return [atLeastOne(budget - second, room), second];
  if (room.truncate === 'second') return [first, atLeastOne(budget - first, room)];
  return balancedLengths(first, second, atLeastOne(budget, room));
}

// longest_first: the shorter sequence is kept whole when the longer can give up the difference;
// otherwise each gets half the room, the longer one (the second, on a tie) the odd token.
function balancedLengths(first: number, second: number, budget: number): [number, number] {
  const half = Math.floor(budget / 2);
  if (2 * Math.min(first, second) > budget) return first > second ? [budget - half, half] : [half, budget - half];
  return first <= second ? [first, budget - first] : [budget - second, second];
}

function atLeastOne(kept: number, room: Room): number {
  if (kept >= 1) return kept;
  const { truncate, maxSequenceLength } = room;
  const other = truncate === 'first' ? 'second' : 'first';
  const reason =
    room.second !== undefined && (truncate === 'first' || truncate === 'second')
      ? `the ${other} text alone leaves the ${truncate} no room within max_sequence_length ${maxSequenceLength}: use truncate balanced, or a larger max_sequence_length`
      : `max_sequence_length ${maxSequenceLength} leaves no room for the text beside the special tokens: raise it`;
  throw new InvalidArgumentError(`cannot truncate ${truncate}: ${reason}`);
}

function tooLong(room: Room): InvalidArgumentError {
  const tokens = room.first + (room.second ?? 0) + room.maxSequenceLength - room.budget;
  const what = room.second === undefined ? 'the text' : 'the pair of texts';
  return new InvalidArgumentError(
    `${what} is ${tokens} tokens, over max_sequence_length ${room.maxSequenceLength}, and truncate is none: shorten it, or set truncate to first, second or balanced`,
  );
}
