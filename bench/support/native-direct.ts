// native-torch fed directly by this process, no daemon: the size header and the model on its stdin,
// then request frames, as docs/native-protocol.md says. What bench:workers measures the splits of
// cores with, and bench:serve the least a lone request costs in the native process.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { Packr, Unpackr } from 'msgpackr';
import { median, round } from './report.js';

export type Native = ChildProcessByStdio<Writable, Readable, null>;

export const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** Starts `binary` with `args` and writes the size header and `model` to its stdin; its frames are the caller's to read. */
export function spawnWithModel(binary: string, model: Buffer, args: string[]): Native {
  const native = spawn(binary, args, { stdio: ['pipe', 'pipe', 'ignore'], env: { PATH: process.env.PATH ?? '' } });
  const header = Buffer.alloc(4);
  header.writeUInt32BE(model.length);
  native.stdin.write(Buffer.concat([header, model]));
  return native;
}

/** Starts `binary` with `args`, streams `model` in and waits for its loaded frame. */
export async function loadNative(binary: string, model: Buffer, args: string[]): Promise<{ native: Native; frames: AsyncIterator<any> }> {
  const native = spawnWithModel(binary, model, args);
  const frames = decodeFrames(native.stdout);
  const loaded = await frames.next();
  if (loaded.value?.type !== 'loaded') throw new Error(`native-torch did not load the model: ${JSON.stringify(loaded.value)}`);
  return { native, frames };
}

/** Turns stdout's reads into the frames they complete; a frame cut across reads waits for the rest. */
export function frameSplitter(): (data: Buffer) => unknown[] {
  const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
  let pending: Buffer | null = null;
  return (data) => {
    const bytes = pending ? Buffer.concat([pending, data]) : data;
    pending = null;
    try {
      return unpackr.unpackMultiple(bytes) as unknown[];
    } catch {
      pending = bytes;
      return [];
    }
  };
}

async function* decodeFrames(stdout: Readable): AsyncGenerator<any> {
  const split = frameSplitter();
  for await (const data of stdout) yield* split(data as Buffer);
}

/**
 * One request at a time for `durationMs` after `warmupMs`: the p50 from the write of a frame to its
 * answer read, and the p50 of the `time_ms` the process reports (its own handling of the request).
 */
export async function loneRequestP50(
  binary: string,
  model: Buffer,
  args: string[],
  tokens: number[][],
  window: { warmupMs: number; durationMs: number },
): Promise<{ p50_ms: number; process_p50_ms: number; requests: number }> {
  const { native, frames } = await loadNative(binary, model, args);
  const latencies: number[] = [];
  const inProcess: number[] = [];
  const start = performance.now();
  try {
    for (let id = 1; performance.now() - start < window.warmupMs + window.durationMs; id++) {
      const sent = performance.now();
      native.stdin.write(packr.pack({ request_id: String(id), tokens }));
      const { value } = await frames.next();
      if (value?.type !== 'result') throw new Error(`native-torch answered ${JSON.stringify(value).slice(0, 200)}`);
      if (sent - start < window.warmupMs) continue;
      latencies.push(performance.now() - sent);
      inProcess.push(value.time_ms as number);
    }
  } finally {
    native.stdin.end();
  }
  return { p50_ms: round(median(latencies), 3), process_p50_ms: round(median(inProcess), 3), requests: latencies.length };
}
