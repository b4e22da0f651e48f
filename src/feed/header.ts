import type { HeaderKind } from '../config/config.js';
import { InvalidArgumentError } from '../errors.js';

const U32_MAX = 2 ** 32 - 1;

/**
 * The size header written to the native process's stdin before any model byte: unsigned big-endian,
 * 4 bytes (`u32`, what pytorch_inference reads with ntohl) or 8 bytes (`u64`).
 */
export function encodeSizeHeader(size: number, kind: HeaderKind): Buffer {
  checkHeaderCapacity(size, kind);
  if (kind === 'u32') {
    const header = Buffer.alloc(4);
    header.writeUInt32BE(size);
    return header;
  }
  const header = Buffer.alloc(8);
  header.writeBigUInt64BE(BigInt(size));
  return header;
}

/** Refuses, before anything is spawned, a model the configured header cannot describe. */
export function checkHeaderCapacity(size: number, kind: HeaderKind): void {
  if (kind === 'u32' && size > U32_MAX) {
    throw new InvalidArgumentError(
      `the model is ${size} bytes but a u32 size header carries at most ${U32_MAX} (4 GiB - 1); set deploy.header to "u64" for a native process that reads an 8-byte header`,
    );
  }
  if (!Number.isSafeInteger(size) || size < 0) throw new InvalidArgumentError(`model size ${size} cannot be written in a size header`);
}
