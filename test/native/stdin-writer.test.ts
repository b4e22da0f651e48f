import { getEventListeners } from 'node:events';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { StdinClosedError, writeFlushed } from '../../src/native/stdin-writer.js';

describe('writeFlushed', () => {
  it('resolves only once a slow sink (highWaterMark 1) has taken the bytes, and removes its abort listener', async () => {
    const taken: number[] = [];
    const sink = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _encoding, callback) {
        setTimeout(() => {
          taken.push(chunk.length);
          callback();
        }, 20);
      },
    });
    const signal = new AbortController().signal;
    for (let i = 1; i <= 5; i += 1) {
      await writeFlushed(sink, Buffer.alloc(i * 100), signal);
      expect(taken).toHaveLength(i); // nothing queued behind the sink's back
    }
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });

  it('rejects with the abort reason and removes its listener when aborted while the sink is stuck', async () => {
    const sink = new Writable({ highWaterMark: 1, write() {} });
    const controller = new AbortController();
    const pending = writeFlushed(sink, Buffer.alloc(10), controller.signal);
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('reports a closed pipe as StdinClosedError', async () => {
    const sink = new Writable({
      write(_chunk, _encoding, callback) {
        callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    });
    sink.on('error', () => {});
    await expect(writeFlushed(sink, Buffer.alloc(10), new AbortController().signal)).rejects.toBeInstanceOf(StdinClosedError);
  });
});
