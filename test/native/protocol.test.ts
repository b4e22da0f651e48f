import { Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { encodeRequest } from '../../src/native/protocol.js';

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
