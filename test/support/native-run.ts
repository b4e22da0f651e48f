import { execa } from 'execa';
import { Unpackr } from 'msgpackr';
import { defaultNativeCommand } from '../../src/config/paths.js';
import { torchSetup } from './torch.js';

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** The two native processes the project builds, both linking native-lib. */
export const nativeProcesses = (): Record<'native-stub' | 'native-torch', string> => ({
  'native-stub': defaultNativeCommand(),
  'native-torch': torchSetup().binary,
});

export interface LogLine {
  level: string;
  message: string;
  [key: string]: unknown;
}

export interface NativeRun {
  pid: number | undefined;
  exitCode: number | undefined;
  signal: string | undefined;
  stdout: Buffer;
  frames: Array<Record<string, any>>;
  stderr: string;
  /** The JSON log lines on stderr (a usage error's plain text is not one). */
  logs: LogLine[];
}

export interface RunOptions {
  args?: string[];
  /** The whole environment: nothing of this process's leaks in. */
  env?: Record<string, string>;
  /** Closes the read end of its stdout at once, so its first write fails. */
  closeStdout?: boolean;
  /** Leaves stdout undecoded: for what is not MessagePack on purpose. */
  raw?: boolean;
}

const RUN_TIMEOUT_MS = 60_000;

/** The size header `pytorch_inference` reads, or its u64 form. */
export function sizeHeader(width: 'u32' | 'u64', size: number | bigint): Buffer {
  const buf = Buffer.alloc(width === 'u32' ? 4 : 8);
  if (width === 'u32') buf.writeUInt32BE(Number(size));
  else buf.writeBigUInt64BE(BigInt(size));
  return buf;
}

/** Runs a native process on `input` (then EOF) and returns how it ended, its frames and its log. */
export async function runNative(command: string, input: Buffer, options: RunOptions = {}): Promise<NativeRun> {
  const child = execa(command, options.args ?? [], {
    input,
    env: options.env ?? {},
    extendEnv: false,
    encoding: 'buffer',
    reject: false,
    timeout: RUN_TIMEOUT_MS,
  });
  if (options.closeStdout) child.stdout.destroy();
  const result = await child;
  const stdout = Buffer.from(result.stdout ?? []);
  const stderr = Buffer.from(result.stderr).toString();
  // Killed by the timeout on a starved machine, its stdout may end inside a frame: say so, rather
  // than fail later on a MessagePack error that hides why.
  if (result.timedOut)
    throw new Error(`${command} did not finish within ${RUN_TIMEOUT_MS / 1000} s and was killed; its stderr: ${stderr.slice(-800)}`);
  return {
    pid: child.pid,
    exitCode: result.exitCode,
    signal: result.signal,
    stdout,
    frames: options.raw ? [] : decodeFrames(stdout),
    stderr,
    logs: stderr.split('\n').flatMap(parseLogLine),
  };
}

/** The MessagePack frames in `bytes`, back to back. */
export function decodeFrames(bytes: Buffer): Array<Record<string, any>> {
  return bytes.length > 0 ? (unpackr.unpackMultiple(bytes) as Array<Record<string, any>>) : [];
}

function parseLogLine(line: string): LogLine[] {
  if (!line.startsWith('{')) return [];
  return [JSON.parse(line) as LogLine];
}

/** What a run ended with: its exit code and its first ERROR line, or the usage error without the program's name. */
export function failureOf(run: NativeRun): { exitCode: number | undefined; error: string | undefined } {
  const logged = run.logs.find((l) => l.level === 'ERROR')?.message;
  const usage = /^native-(?:stub|torch): (.*)$/m.exec(run.stderr)?.[1];
  return { exitCode: run.exitCode, error: logged ?? usage };
}
