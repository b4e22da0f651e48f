import { IntegrityError } from '../errors.js';
import { describeChunk, type ChunkAddress } from './chunk-address.js';
import type { ChunkSource } from './chunk-source.js';
import { crc32 } from './crc32.js';

// Where a chunk is checked before a native process sees a byte of it: its length against its own
// document and the meta document, its CRC32 against the one recorded at upload. The CRC of what
// arrived is computed as it is decoded (codec/chunk-buffer.ts).

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
        : 'the stored model is damaged: upload it again with --replace';
    throw new IntegrityError(
      `${where()} has ${doc.length} bytes (its document says ${doc.definition_length}, the model's meta document implies ${expectedLength}); ${verdict}`,
    );
  }
  if (doc.crc !== doc.crc32) {
    throw new IntegrityError(`${where()} fails its CRC32 check; the stored model is damaged: upload it again with --replace`);
  }
  return doc.bytes;
}
