import { Packr, UnpackrStream } from 'msgpackr';
import { ARG_NAMES, packableBatch, type InferenceInputs } from './token-ids.js';

// Plain maps with string keys, no msgpackr records: what a C++ peer expects.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

export interface LoadedFrame {
  type: 'loaded';
  bytes: number;
  sha256: string;
  ms: number;
}

/** A model's output tensor as nested arrays of numbers with its shape; the first dimension is the batch. */
export type NestedNumbers = number | NestedNumbers[];

export interface ResultFrame {
  type: 'result';
  request_id: string;
  result: { inference: NestedNumbers[] };
  time_ms: number;
}

export interface StatsFrame {
  type: 'stats';
  request_id: string;
  stats: { memory_rss: number; memory_max_rss: number };
}

export interface AckFrame {
  type: 'ack';
  request_id: string;
}

export interface ErrorFrame {
  type: 'error';
  request_id: string;
  error: { error: string };
}

export type ResponseFrame = ResultFrame | StatsFrame | AckFrame | ErrorFrame;
export type Frame = LoadedFrame | ResponseFrame;

export type RequestBody = InferenceInputs | { control: number };
export type Request = RequestBody & { request_id: string };

export const CONTROL_CLEAR_CACHE = 0;
export const CONTROL_PROCESS_STATS = 1;
export type ControlCode = typeof CONTROL_CLEAR_CACHE | typeof CONTROL_PROCESS_STATS;
/** The control codes by the names the CLI gives them. */
export const CONTROL_NAMES: Record<string, ControlCode> = { 'clear-cache': CONTROL_CLEAR_CACHE, stats: CONTROL_PROCESS_STATS };

export function encodeRequest(request: Request): Buffer {
  if (!('tokens' in request)) return packr.pack(request);
  const packable: Record<string, unknown> = { ...request, tokens: packableBatch(request.tokens) };
  for (const name of ARG_NAMES) if (request[name]) packable[name] = packableBatch(request[name]);
  return packr.pack(packable);
}

/**
 * The largest frame the feeder reads from a native process. msgpackr's stream decoder holds at most
 * 64 MiB of an unfinished frame by default, less than a model traced to answer [batch, seq, vocab]
 * (fill_mask over a 30k vocabulary: 4 docs of 128 tokens are over 100 MB); a larger frame is taken
 * for a runaway process.
 */
export const MAX_FRAME_BYTES = 1024 ** 3;

/** A frame over the decoder's limit: the process is not broken, its answer is too large to read. */
export class FrameTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(
      `wrote a frame over the ${limit} bytes (${(limit / 1024 ** 2).toFixed(0)} MiB) the feeder reads at most: ` +
        'send fewer or shorter docs per request, or make the model reduce its output (as import --task does)',
    );
    this.name = 'FrameTooLargeError';
  }
}

// msgpackr's own message for an over-limit frame, to tell it from bytes that are not MessagePack.
const OVER_LIMIT = 'Maximum incomplete buffer size exceeded';

class FrameDecoder extends UnpackrStream {
  constructor(private readonly limit: number) {
    super({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', maxIncompleteBufferSize: limit });
  }

  override _transform(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    super._transform(chunk, encoding, (error?: Error | null) =>
      callback(error?.message === OVER_LIMIT ? new FrameTooLargeError(this.limit) : error),
    );
  }
}

/**
 * Turns the native process's stdout bytes into frames of at most `limit` bytes; errors on bytes that
 * are not MessagePack, and with a FrameTooLargeError on a larger frame.
 */
export function createFrameDecoder(limit = MAX_FRAME_BYTES): UnpackrStream {
  return new FrameDecoder(limit);
}

export function isFrame(value: unknown): value is Frame {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}
