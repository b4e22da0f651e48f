import { describe, expect, it } from 'vitest';
import { encodeSizeHeader } from '../../src/feed/header.js';

describe('encodeSizeHeader', () => {
  it('writes u32 as 4 bytes big-endian, as pytorch_inference reads it', () => {
    expect([...encodeSizeHeader(0x01020304, 'u32')]).toEqual([1, 2, 3, 4]);
    expect([...encodeSizeHeader(2 ** 32 - 1, 'u32')]).toEqual([255, 255, 255, 255]);
  });

  it('writes u64 as 8 bytes big-endian', () => {
    expect([...encodeSizeHeader(5 * 2 ** 32 + 7, 'u64')]).toEqual([0, 0, 0, 5, 0, 0, 0, 7]);
  });

  it('refuses a size a u32 cannot carry, naming the fix', () => {
    expect(() => encodeSizeHeader(2 ** 32, 'u32')).toThrow(/set deploy.header to "u64"/);
  });
});
