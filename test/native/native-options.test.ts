import { describe, expect, it } from 'vitest';
import { failureOf, nativeProcesses, runNative, sizeHeader } from '../support/native-run.js';

// Both native processes parse --header and FEEDER_HEADER in native-lib, so they must agree on every
// combination. The input is a u32 header announcing 5 bytes and nothing after it: a process that
// reads u32 fails on the missing model bytes, one that reads u64 on the header itself, so the error
// tells which width it took.
const INPUT = sizeHeader('u32', 5);
const READS_U32 = { exitCode: 3, error: 'model stream ended early: received 0 of 5 bytes' };
const READS_U64 = { exitCode: 3, error: 'size header ended early: received 4 of 8 bytes' };
const usageError = (error: string) => ({ exitCode: 2, error });

const CASES: Array<{ name: string; args: string[]; env: Record<string, string>; expected: ReturnType<typeof failureOf> }> = [
  { name: 'neither: u32', args: [], env: {}, expected: READS_U32 },
  { name: 'the flag only', args: ['--header', 'u64'], env: {}, expected: READS_U64 },
  { name: 'the flag as --header=u64', args: ['--header=u64'], env: {}, expected: READS_U64 },
  { name: 'the variable only', args: [], env: { FEEDER_HEADER: 'u64' }, expected: READS_U64 },
  { name: 'both, the flag wins (u32 over u64)', args: ['--header', 'u32'], env: { FEEDER_HEADER: 'u64' }, expected: READS_U32 },
  { name: 'both, the flag wins (u64 over u32)', args: ['--header', 'u64'], env: { FEEDER_HEADER: 'u32' }, expected: READS_U64 },
  {
    name: 'an empty variable is a value like any other, and not u32 or u64',
    args: [],
    env: { FEEDER_HEADER: '' },
    expected: usageError("bad value for FEEDER_HEADER: '' (must be u32 or u64)"),
  },
  {
    name: 'a bad variable alone',
    args: [],
    env: { FEEDER_HEADER: 'u16' },
    expected: usageError("bad value for FEEDER_HEADER: 'u16' (must be u32 or u64)"),
  },
  {
    name: 'a bad variable is not read when the flag is given',
    args: ['--header', 'u32'],
    env: { FEEDER_HEADER: 'u16' },
    expected: READS_U32,
  },
  {
    name: 'an empty variable is not read when the flag is given',
    args: ['--header', 'u64'],
    env: { FEEDER_HEADER: '' },
    expected: READS_U64,
  },
  {
    name: 'a bad flag, whatever the variable',
    args: ['--header', 'u16'],
    env: { FEEDER_HEADER: 'u64' },
    expected: usageError("bad value for --header: 'u16' (must be u32 or u64)"),
  },
  { name: 'an empty flag', args: ['--header='], env: {}, expected: usageError("bad value for --header: '' (must be u32 or u64)") },
  { name: 'a flag without its value', args: ['--header'], env: {}, expected: usageError('flag --header needs a value') },
  { name: 'an unknown flag', args: ['--bogus'], env: {}, expected: usageError('unknown flag: --bogus') },
];

describe('--header and FEEDER_HEADER, the same in native-stub and native-torch', () => {
  it.each(CASES)('$name', async ({ args, env, expected }) => {
    const outcomes: Record<string, ReturnType<typeof failureOf>> = {};
    for (const [name, command] of Object.entries(nativeProcesses()))
      outcomes[name] = failureOf(await runNative(command, INPUT, { args, env }));
    expect(outcomes).toEqual({ 'native-stub': expected, 'native-torch': expected });
  });

  it('--help describes --header with the same words in both, and exits 0', async () => {
    const described = new Set<string>();
    for (const command of Object.values(nativeProcesses())) {
      const help = await runNative(command, Buffer.alloc(0), { args: ['--help'], raw: true });
      expect(help.exitCode, command).toBe(0);
      described.add(
        /^ *--header .*(?:\n {6,}\S.*)*/m.exec(help.stdout.toString())?.[0].replace(/\s+/g, ' ') ?? `no --header in ${command}`,
      );
    }
    expect([...described]).toHaveLength(1);
  });
});
