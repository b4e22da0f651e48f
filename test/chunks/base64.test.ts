import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { base64Length, writeBase64 } from '../../src/chunks/base64.js';
import { BufferPool } from '../../src/chunks/buffer-pool.js';

describe('base64 in pieces', () => {
  it.each([0, 1, 2, 3, 49151, 49152, 49153, 200_000, 4 * 1024 * 1024 + 1])('round-trips %i bytes exactly as Buffer does', (size) => {
    const bytes = randomBytes(size);
    const text = Buffer.alloc(base64Length(size) + 2, 0x2e);
    const end = writeBase64(bytes, text, 1);
    expect(end).toBe(1 + base64Length(size));
    expect(text.toString('latin1', 1, end)).toBe(bytes.toString('base64'));
    expect(Buffer.from(text.toString('latin1', 1, end), 'base64').equals(bytes)).toBe(true);
  });
});

describe('BufferPool', () => {
  it('hands back what was given, and never recycles memory it did not allocate', () => {
    const pool = new BufferPool(2);
    const first = pool.take(1000);
    pool.give(first);
    const again = pool.take(800);
    expect(again.buffer).toBe(first.buffer);
    expect(again.length).toBe(800);
    const foreign = Buffer.from('shared with the allocation pool');
    pool.give(foreign);
    expect(pool.take(10).buffer).not.toBe(foreign.buffer);
  });
});
