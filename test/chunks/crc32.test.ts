import { randomBytes } from 'node:crypto';
import { crc32 as zlibCrc32Reference } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32, crc32Implementation } from '../../src/chunks/crc32.js';

describe('crc32', () => {
  it('is the native one on the platforms the project builds for', () => {
    const built = process.platform === 'linux' && ['x64', 'arm64'].includes(process.arch);
    expect(crc32Implementation).toBe(built ? 'native' : crc32Implementation);
  });

  it('gives what zlib gives, whole and in parts, so checksums stored by either are read by both', () => {
    const data = randomBytes(3 * 1024 * 1024 + 7);
    expect(crc32(data)).toBe(zlibCrc32Reference(data));
    expect(crc32(Buffer.alloc(0))).toBe(0);
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926); // the check value of CRC-32/ISO-HDLC
    for (const cut of [0, 1, 5, 64 * 1024, 1024 * 1024 + 3, data.length]) {
      expect(crc32(data.subarray(cut), crc32(data.subarray(0, cut)))).toBe(zlibCrc32Reference(data));
    }
  });
});
