import type { ChunkEncoding } from './codec/index.js';
import { chunkDocId } from '../model/layout.js';
import type { GenerationRef } from '../model/meta.js';

/** Where one chunk should be and how long it must be. */
export interface ChunkAddress extends GenerationRef {
  modelId: string;
  docNum: number;
  expectedLength: number;
  encoding: ChunkEncoding;
}

/** "chunk N of model 'x' (document '...' in index)", for messages. */
export function describeChunk(address: ChunkAddress): string {
  const id = chunkDocId(address.modelId, address.generation, address.docNum);
  return `chunk ${address.docNum} of model '${address.modelId}' (document '${id}' in ${address.chunks_index})`;
}
