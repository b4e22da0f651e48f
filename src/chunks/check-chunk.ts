import { CHUNK_SIZE_MAX } from '../config/config.js';
import { IntegrityError } from '../errors.js';
import { describeChunk, type ChunkAddress } from './chunk-address.js';
import type { ChunkSource } from './chunk-source.js';
import { crc32 } from './crc32.js';

// Where a chunk is checked: by a deploy before a native process sees a byte of it, and by verify.
// Its length against its own document (and the meta document), its CRC32 against the one recorded
// at upload. The CRC of what arrived is computed as it is decoded (codec/chunk-buffer.ts).

/** The verdict, and the fix, for a chunk that is wrong by itself. */
export const DAMAGED = 'the stored model is damaged: upload it again with --replace';

/** The checksum an upload records in each chunk document, and a read checks. */
export function checksumOf(bytes: Buffer): number {
  return crc32(bytes);
}

/** The chunk's bytes once its length and checksum are right; an IntegrityError naming the chunk and the fix otherwise. */
export function checkChunk(doc: ChunkSource, address: ChunkAddress): Buffer {
  // Described only on a failure: this runs once per chunk of every deploy.
  const where = () => describeChunk(address);
  const expectedLength = address.expectedLength;
  if (doc.length !== doc.definition_length || doc.length !== expectedLength) {
    // A chunk as long as its own document says may be right and the meta document wrong: a deploy
    // cannot tell, since it reads one chunk at a time, but verify compares them all.
    const verdict =
      doc.length === doc.definition_length
        ? `the chunk or the meta document is wrong ('feeder models verify ${address.modelId}' tells which); upload the model again with --replace`
        : DAMAGED;
    throw new IntegrityError(
      `${where()} has ${doc.length} bytes (its document says ${doc.definition_length}, the model's meta document implies ${expectedLength}); ${verdict}`,
    );
  }
  if (doc.crc !== doc.crc32) {
    throw new IntegrityError(`${where()} fails its CRC32 check; ${DAMAGED}`);
  }
  return doc.bytes;
}

/**
 * What is wrong with a chunk judged on its own terms, or null: verify's check, which reads every
 * chunk and reports each problem rather than stopping at the first. `expectedLength` is the length
 * the chunk's own document gave, so a chunk that differs from it changed while verify read it.
 */
export function chunkProblem(doc: ChunkSource, address: ChunkAddress): string | null {
  const where = describeChunk(address);
  if (doc.definition_length > CHUNK_SIZE_MAX)
    return `${where} says it holds ${doc.definition_length} bytes, more than any chunk can (${CHUNK_SIZE_MAX}); ${DAMAGED}`;
  if (doc.length !== doc.definition_length)
    return `${where} has ${doc.length} bytes but its document says ${doc.definition_length}; ${DAMAGED}`;
  if (doc.length !== address.expectedLength) return `${where} changed while verify read it; run verify again`;
  if (doc.crc !== doc.crc32) return `${where} fails its CRC32 check; ${DAMAGED}`;
  return null;
}
