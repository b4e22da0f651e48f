import type { Writable } from 'node:stream';

/** The native process stopped reading (EPIPE and the like): its exit, not this error, is the story. */
export class StdinClosedError extends Error {}

/**
 * Writes one buffer and resolves once it has been handed to the pipe, so no more than one chunk
 * waits in our memory for a slow reader. The abort listener is removed again whatever happens.
 */
export function writeFlushed(stdin: Writable, bytes: Buffer, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      signal.removeEventListener('abort', onAbort);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort);
    stdin.write(bytes, (error) => {
      signal.removeEventListener('abort', onAbort);
      if (error) reject(new StdinClosedError(error.message, { cause: error }));
      else resolve();
    });
  });
}
