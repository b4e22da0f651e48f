import { Packr, Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { createFrameDecoder, encodeRequest, FrameTooLargeError, MAX_FRAME_BYTES } from '../../src/native/protocol.js';

// Integers of 64 bits come back as BigInt; a float64 comes back as a number, so the two are told apart.
const reader = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'bigint' });

describe('encodeRequest', () => {
  it('writes token ids of 2^32 and above as MessagePack integers, not float64', () => {
    const tokens = [[2 ** 32, 2 ** 53 - 1, 18446744073709551615n, 7]];
    const decoded = reader.unpack(encodeRequest({ request_id: '1', tokens })) as { tokens: unknown[][] };
    expect(decoded.tokens).toEqual([[4294967296n, 9007199254740991n, 18446744073709551615n, 7]]);
  });

  it('writes arg_1..arg_3 the same way', () => {
    const decoded = reader.unpack(
      encodeRequest({ request_id: '2', tokens: [[1]], arg_1: [[2 ** 40]], arg_2: [[0]], arg_3: [[2n ** 63n]] }),
    ) as Record<string, unknown>;
    expect(decoded).toMatchObject({ arg_1: [[2n ** 40n]], arg_2: [[0]], arg_3: [[2n ** 63n]] });
  });
});

// Feeds `bytes` in pipe-sized chunks, as a process's stdout arrives, and gathers the frames or the error.
function decodeChunked(bytes: Buffer, limit?: number): Promise<unknown[]> {
  const decoder = createFrameDecoder(limit);
  const frames: unknown[] = [];
  decoder.on('data', (frame: unknown) => frames.push(frame));
  const done = new Promise<unknown[]>((resolve, reject) => {
    decoder.on('error', reject);
    decoder.on('end', () => resolve(frames));
  });
  const chunk = 1024 * 1024;
  for (let at = 0; at < bytes.length; at += chunk) decoder.write(bytes.subarray(at, at + chunk));
  decoder.end();
  return done;
}

describe('createFrameDecoder', () => {
  const packr = new Packr({ useRecords: false });

  it('reads a frame over the 64 MiB msgpackr holds by default, as a [batch, seq, vocab] answer is', async () => {
    const payload = Buffer.alloc(70 * 1024 * 1024, 7);
    const frames = (await decodeChunked(packr.pack({ type: 'result', request_id: 'big', payload }))) as Array<{ payload: Buffer }>;
    expect(frames).toHaveLength(1);
    expect([frames[0]!.payload.length, frames[0]!.payload.at(-1)]).toEqual([payload.length, 7]);
    expect(MAX_FRAME_BYTES).toBe(1024 ** 3);
  });

  it('refuses a frame over its limit with an error naming the limit, not as bytes that are not MessagePack', async () => {
    const bytes = packr.pack({ type: 'result', request_id: 'big', payload: Buffer.alloc(3 * 1024 * 1024) });
    const error = await decodeChunked(bytes, 2 * 1024 * 1024).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FrameTooLargeError);
    expect((error as Error).message).toMatch(/over the 2097152 bytes \(2 MiB\) the feeder reads at most/);
  });
});
