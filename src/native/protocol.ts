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

/** Turns the native process's stdout bytes into frames; errors on bytes that are not MessagePack. */
export function createFrameDecoder(): UnpackrStream {
  return new UnpackrStream({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
}

export function isFrame(value: unknown): value is Frame {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}
