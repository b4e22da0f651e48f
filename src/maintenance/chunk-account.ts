import type { ModelMeta } from '../model/meta.js';

const DAMAGED = 'the stored model is damaged: upload it again with --replace';

/**
 * What the chunks say about the model, each chunk having passed its own checks (its length is its
 * document's `definition_length`, its CRC32 its `crc32`): evidence that does not come from the meta
 * document, so verify can tell a damaged chunk from a meta document that is wrong.
 */
export interface ChunkAccount {
  /** Length of each chunk, by doc_num. */
  lengths: number[];
  /** `total_definition_length` of each chunk, by doc_num; null when the upload did not know it. */
  totals: Array<number | null>;
  bytes: number;
  sha256: string;
}

/** Chunks whose length no other chunk shares: those are damaged, whatever the meta document says. */
export function oddChunkProblems(meta: ModelMeta, account: ChunkAccount, where: (docNum: number) => string): string[] {
  const size = chunkSizeOf(meta, account);
  const last = account.lengths.length - 1;
  const implied = size === meta.chunk_size ? "the other chunks and the model's meta document imply" : 'the other chunks have';
  const problems: string[] = [];
  account.lengths.forEach((length, docNum) => {
    if (docNum < last && length !== size)
      problems.push(`${where(docNum)} has ${length} bytes, as its document says, but ${implied} ${size}; ${DAMAGED}`);
    if (docNum === last && last > 0 && length > size)
      problems.push(`${where(docNum)}, the last, has ${length} bytes, more than the ${size} of every other chunk; ${DAMAGED}`);
  });
  return problems;
}

/**
 * Null when the meta document describes the chunks; otherwise what each side says, and which one
 * verify believes. Only asked once every chunk passed its own checks and no chunk is odd.
 */
export function metaDisagreement(meta: ModelMeta, account: ChunkAccount): string | null {
  const count = account.lengths.length;
  const size = chunkSizeOf(meta, account);
  const shaAgrees = account.sha256 === meta.sha256;
  if (meta.chunk_count === count && meta.total_length === account.bytes && (count === 1 || meta.chunk_size === size)) {
    if (shaAgrees) return null;
    return (
      `the chunks' SHA-256 ${account.sha256} differs from the recorded ${meta.sha256}; every chunk passes its CRC32 and the lengths agree, ` +
      `so a chunk was rewritten whole or the meta document's sha256 was changed, and verify cannot tell which; upload the model again with --replace`
    );
  }
  const sizes = count > 1 && meta.chunk_size !== size;
  const metaSays = `${meta.total_length} bytes in ${meta.chunk_count} chunks${sizes ? ` of ${meta.chunk_size}` : ''}`;
  const chunksHold = `${account.bytes} bytes in ${count} chunks${sizes ? ` of ${size}` : ''}${recordsItsTotal(account) ? ' (the total each of them records)' : ''}`;
  const evidence = shaAgrees
    ? 'every chunk passes its CRC32 and their SHA-256 is the one the meta document records, so verify believes the chunks'
    : `every chunk passes its CRC32 and the chunks agree among themselves, so verify believes the chunks; their SHA-256 ${account.sha256} is not the recorded ${meta.sha256} either, so the meta document may describe another upload`;
  return (
    `the meta document and the chunks disagree: the meta document says ${metaSays}, the chunks hold ${chunksHold}; ${evidence}; ` +
    `upload the model again with --replace (until then a deploy of it fails: a deploy trusts the meta document)`
  );
}

/**
 * A warning, not damage: nothing reads `total_definition_length`, and an upload resumed from a
 * file of another size leaves the old total on the chunks it kept. When a chunk is `damaged` (of
 * an odd length), the bytes the chunks hold are not the model's length, so each total is held
 * against the one most chunks record instead: the shortfall is that chunk's, not theirs.
 */
export function totalsWarning(account: ChunkAccount, damaged: boolean): string | null {
  const expected = damaged ? mostRecordedTotal(account) : account.bytes;
  const odd = account.totals.flatMap((total, docNum) => (total !== null && total !== expected ? [docNum] : []));
  if (odd.length === 0) return null;
  const shown = odd.length > 10 ? `${odd.slice(0, 10).join(', ')} and ${odd.length - 10} more` : odd.join(', ');
  const against = damaged ? `the ${expected} bytes most chunks record` : `the ${expected} bytes the chunks hold`;
  return (
    `chunk ${shown} record${odd.length === 1 ? 's' : ''} a total_definition_length that is not ${against}; ` +
    `nothing reads it, but the chunks come from more than one upload (a --resume from another file) or another writer`
  );
}

/** The length of every chunk but the last: the most common one (the meta document's on a tie). */
function chunkSizeOf(meta: ModelMeta, account: ChunkAccount): number {
  return mostCommon(account.lengths.slice(0, -1), meta.chunk_size);
}

function mostRecordedTotal(account: ChunkAccount): number | null {
  return mostCommon<number | null>(
    account.totals.filter((total) => total !== null),
    null,
  );
}

/** The value seen most often in `values`; `preferred` when none is seen more often than it. */
function mostCommon<T>(values: T[], preferred: T): T {
  const seen = new Map<T, number>();
  for (const value of values) seen.set(value, (seen.get(value) ?? 0) + 1);
  let best = preferred;
  for (const [value, times] of seen) if (times > (seen.get(best) ?? 0)) best = value;
  return best;
}

function recordsItsTotal(account: ChunkAccount): boolean {
  return account.totals.length > 0 && account.totals.every((total) => total === account.bytes);
}
