import { describe, expect, it } from 'vitest';
import type { ChunkAddress } from '../../src/chunks/chunk-address.js';
import { checkChunk, checksumOf, chunkProblem } from '../../src/chunks/check-chunk.js';
import type { ChunkSource } from '../../src/chunks/chunk-source.js';
import { IntegrityError } from '../../src/errors.js';

const address: ChunkAddress = {
  modelId: 'm',
  generation: 1,
  chunks_index: '.feeder-chunks-000001',
  docNum: 3,
  expectedLength: 4,
  encoding: 'cbor',
};

function arrived(bytes: Buffer, recorded: Partial<Pick<ChunkSource, 'definition_length' | 'crc32'>> = {}): ChunkSource {
  return {
    bytes,
    length: bytes.length,
    crc: checksumOf(bytes),
    definition_length: recorded.definition_length ?? bytes.length,
    crc32: recorded.crc32 ?? checksumOf(bytes),
  };
}

describe('checkChunk', () => {
  it('gives back the bytes of a chunk whose length and CRC32 are what was recorded', () => {
    const bytes = Buffer.from([1, 2, 3, 4]);
    expect(checkChunk(arrived(bytes), address)).toBe(bytes);
  });

  it('names the chunk and its document when a byte changed', () => {
    const chunk = arrived(Buffer.from([1, 2, 3, 4]), { crc32: checksumOf(Buffer.from([1, 2, 3, 5])) });
    expect(() => checkChunk(chunk, address)).toThrow(IntegrityError);
    expect(() => checkChunk(chunk, address)).toThrow(
      "chunk 3 of model 'm' (document 'm-g1-chunk-3' in .feeder-chunks-000001) fails its CRC32 check",
    );
  });

  it('calls a chunk shorter than its own document says damaged', () => {
    const chunk = arrived(Buffer.from([1, 2, 3]), { definition_length: 4 });
    expect(() => checkChunk(chunk, address)).toThrow(/has 3 bytes \(its document says 4, .* implies 4\); the stored model is damaged/);
  });

  it('sends to verify a chunk that agrees with its document but not with the meta document', () => {
    const chunk = arrived(Buffer.from([1, 2, 3]));
    expect(() => checkChunk(chunk, address)).toThrow(/the chunk or the meta document is wrong \('feeder models verify m' tells which\)/);
  });
});

describe('chunkProblem, for verify', () => {
  it('finds nothing wrong with a chunk as recorded', () => {
    expect(chunkProblem(arrived(Buffer.from([1, 2, 3, 4])), address)).toBeNull();
  });

  it('tells a chunk that changed while verify read it from one that is damaged', () => {
    expect(chunkProblem(arrived(Buffer.from([1, 2, 3])), address)).toMatch(/changed while verify read it; run verify again$/);
    expect(chunkProblem(arrived(Buffer.from([1, 2, 3]), { definition_length: 4 }), { ...address, expectedLength: 3 })).toMatch(
      /has 3 bytes but its document says 4; the stored model is damaged/,
    );
  });

  it('refuses a document that claims more bytes than any chunk holds', () => {
    expect(chunkProblem(arrived(Buffer.from([1]), { definition_length: 2 ** 40 }), address)).toMatch(/more than any chunk can/);
  });
});
