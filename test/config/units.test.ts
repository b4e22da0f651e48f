import { describe, expect, it } from 'vitest';
import { parseByteSize, parseDuration } from '../../src/config/units.js';

describe('parseByteSize', () => {
  it.each([
    ['4mb', 4 * 1024 ** 2],
    ['512KiB', 512 * 1024],
    ['1g', 1024 ** 3],
    ['1.5mb', 1.5 * 1024 ** 2],
    ['1048576', 1048576],
    [65536, 65536],
  ])('reads %s', (input, bytes) => {
    expect(parseByteSize(input, '--chunk-size')).toBe(bytes);
  });

  it.each(['4 parsecs', '', '-1mb', 'mb'])('rejects %j naming the option and the value', (input) => {
    expect(() => parseByteSize(input, '--chunk-size')).toThrow(/--chunk-size must be a size/);
  });
});

describe('parseDuration', () => {
  it.each([
    ['60s', 60_000],
    ['500ms', 500],
    ['2m', 120_000],
    ['3', 3000],
  ])('reads %s', (input, ms) => {
    expect(parseDuration(input, '--timeout')).toBe(ms);
  });

  it('rejects nonsense', () => {
    expect(() => parseDuration('soon', '--timeout')).toThrow(/--timeout must be a duration such as 60s.*'soon'/);
  });
});
