import { ElasticsearchError } from '../errors.js';
import { hasStatus } from './translate.js';

/**
 * A document as it was read or written at one version. A write conditional on that version
 * (`ifVersion`) fails with a conflict when anyone wrote since: the fence that decides every race
 * between daemons.
 */
export interface Versioned<T> {
  id: string;
  doc: T;
  seqNo: number;
  primaryTerm: number;
}

/** What a get, a search hit or a write answer may carry of a document's identity and version. */
interface VersionFields {
  _id?: string | undefined;
  _seq_no?: number | undefined;
  _primary_term?: number | undefined;
}

interface Hit<T> extends VersionFields {
  _source?: T | undefined;
}

/** A hit (of a get, or of a search with `seq_no_primary_term`) with its source and version. */
export function versionedHit<T>(hit: Hit<T>): Versioned<T> {
  return { ...versionOf(hit), doc: sourceOf(hit) };
}

/** `doc` at the version the write that stored it answered with. */
export function versionedWrite<T>(doc: T, answer: VersionFields): Versioned<T> {
  return { ...versionOf(answer), doc };
}

/** The source of a hit: every read of this project asks for it, so one without is an answer that cannot be used. */
export function sourceOf<T>(hit: Hit<T>): T {
  if (hit._source === undefined) throw unusable('its source', hit._id);
  return hit._source;
}

/** The condition of a write (index or delete) that must find `previous` still current. */
export function ifVersion(previous: Versioned<unknown>): { if_seq_no: number; if_primary_term: number } {
  return { if_seq_no: previous.seqNo, if_primary_term: previous.primaryTerm };
}

/** For `.catch`: a version conflict (409) means another writer came first, which the caller expects; null then. */
export function nullOnConflict(error: unknown): null {
  if (hasStatus(error, 409)) return null;
  throw error;
}

function versionOf(fields: VersionFields): Omit<Versioned<unknown>, 'doc'> {
  const { _id: id, _seq_no: seqNo, _primary_term: primaryTerm } = fields;
  if (id === undefined || seqNo === undefined || primaryTerm === undefined) throw unusable('its _seq_no and _primary_term', id);
  return { id, seqNo, primaryTerm };
}

function unusable(what: string, id: string | undefined): ElasticsearchError {
  return new ElasticsearchError(`Elasticsearch answered for document '${id ?? '(no id)'}' without ${what}, which this request needs`);
}
