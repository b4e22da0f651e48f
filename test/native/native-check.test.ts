import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultNativeCommand, packageRoot } from '../../src/config/paths.js';
import { feeder } from '../support/cli.js';
import { torchSetup } from '../support/torch.js';

const STUB = defaultNativeCommand();
const JS_NATIVE = join(packageRoot(), 'test', 'fixtures', 'native', 'js-native.mjs');
const CASES = [
  'loaded report',
  'exact length',
  'request id echoed',
  'batch of rows',
  'large token ids',
  'arguments',
  'pipelined requests',
  'answers in any order',
  'extra keys ignored',
  'malformed request',
  'control 1 (stats)',
  'control 0 (clear cache)',
  'EOF ends it',
  'stdout is MessagePack',
  'stderr lines are JSON',
  'SIGTERM ends it',
];

interface Report {
  passed: boolean;
  header: string;
  cases: Array<{ case: string; outcome: string; detail: string }>;
}

async function check(command: string[], options: string[] = []) {
  const result = await feeder(['native', 'check', '--json', '--timeout', '5s', '--grace', '2s', ...options, '--', ...command]);
  const report = JSON.parse(result.stdout) as Report;
  const failed = report.cases.filter((c) => c.outcome !== 'ok').map((c) => c.case);
  return { exitCode: result.exitCode, report, failed, result };
}

describe('feeder native check', () => {
  it('passes the stub on every case, and prints one line per case', async () => {
    const { exitCode, report, failed } = await check([STUB]);
    expect(failed, JSON.stringify(report.cases)).toEqual([]);
    expect(exitCode).toBe(0);
    expect(report.cases.map((c) => c.case)).toEqual(CASES);
    const text = await feeder(['native', 'check', '--', STUB]);
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout.split('\n').filter((l) => l.startsWith('ok    '))).toHaveLength(CASES.length);
    expect(text.stdout).toMatch(/all 16 cases passed$/);
  });

  it('passes a process answering in order and one answering out of order, and says which it saw', async () => {
    const detail = (report: Report) => report.cases.find((c) => c.case === 'answers in any order')!.detail;
    const inOrder = await check([STUB]);
    expect(detail(inOrder.report)).toMatch(/^6 in flight, the first of 32×128 ids: answered in the order sent$/);
    const swapped = await check([STUB, '--reorder']);
    expect(swapped.failed, JSON.stringify(swapped.report.cases)).toEqual([]);
    expect(detail(swapped.report)).toMatch(/answered out of order \(2, 1, 4, 3, 6, 5\)$/);
    // Two workers: the short requests pass the long one ahead of them.
    const torch = await check([torchSetup().binary, '--workers', '2'], ['--model', join(torchSetup().fixtures, 'minilm.pt')]);
    expect(torch.failed, JSON.stringify(torch.report.cases)).toEqual([]);
    expect(detail(torch.report)).toMatch(/answered out of order \(.*, 1\)$/);
  });

  it('passes the stub with a u64 header, which it learns from FEEDER_HEADER alone', async () => {
    const { exitCode, report, failed } = await check([STUB], ['--header', 'u64']);
    expect(failed, JSON.stringify(report.cases)).toEqual([]);
    expect(exitCode).toBe(0);
    expect(report.header).toBe('u64');
  });

  it('passes a second implementation, written in JavaScript from the specification, named on PATH (node)', async () => {
    const { exitCode, report, failed } = await check(['node', JS_NATIVE]);
    expect(failed, JSON.stringify(report.cases)).toEqual([]);
    expect(exitCode).toBe(0);
  });

  it.each([
    [
      'a wrong SHA-256 in the loaded report',
      [STUB, '--wrong-sha'],
      'loaded report',
      /sha256 is [0-9a-f]{64}; the bytes sent hash to [0-9a-f]{64}/,
    ],
    ['a wrong byte count', [STUB, '--wrong-bytes'], 'loaded report', /bytes is 4104; 4103 were sent/],
    ['garbage instead of the loaded report', [STUB, '--garbage'], 'loaded report', /stdout is not MessagePack|not \{type: "loaded"/],
    ['a process that ignores SIGTERM', [STUB, '--ignore-sigterm'], 'SIGTERM ends it', /still running 2 s after SIGTERM/],
    [
      'reading past the model',
      ['node', JS_NATIVE, '--read-past', '3'],
      'exact length',
      // It swallows the request's first bytes and answers what remains, which carries no id.
      /answered request_id '', which no request carried, to the request written right after the last model byte/,
    ],
    ['no error frame for a malformed request', ['node', JS_NATIVE, '--drop-bad'], 'malformed request', /no answer to request 'check-bad'/],
    ['a stderr line that is not JSON', ['node', JS_NATIVE, '--text-log'], 'stderr lines are JSON', /"this line is not JSON"/],
    [
      'answers that carry another request_id',
      [STUB, '--wrong-request-id'],
      'exact length',
      /answered request_id 'check-1-wrong', which no request carried, to the request written right after the last model byte/,
    ],
    ['a process that outlives EOF', ['node', JS_NATIVE, '--ignore-eof'], 'EOF ends it', /still running 2 s after its stdin closed/],
  ])('fails %s, naming the case and what it got', async (_what, command, failedCase, detail) => {
    const { exitCode, report } = await check(command);
    expect(exitCode).toBe(1);
    expect(report.passed).toBe(false);
    const failure = report.cases.find((c) => c.outcome === 'fail');
    expect(failure, JSON.stringify(report.cases)).toMatchObject({ case: failedCase, detail: expect.stringMatching(detail) });
    // The cases that need nothing the failure broke still ran.
    expect(report.cases.find((c) => c.case === 'stderr lines are JSON')!.outcome).not.toBe('skip');
  });

  it('passes native-torch serving a dynamically quantized model, whose libtorch warning comes as a JSON line', async () => {
    const { binary, fixtures } = torchSetup();
    const { exitCode, report, failed } = await check([binary], ['--model', join(fixtures, 'classifier-quantized.pt')]);
    expect(failed, JSON.stringify(report.cases)).toEqual([]);
    expect(exitCode).toBe(0);
  });

  it('says what failed on its text output, and exits 1', async () => {
    const result = await feeder(['native', 'check', '--grace', '2s', '--', STUB, '--wrong-sha']);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toMatch(/^FAIL {2}loaded report: sha256 is/m);
    expect(result.stdout).toMatch(/^SKIP {2}request id echoed: not run: 'loaded report' failed$/m);
  });

  it('wants a command, and one it can find', async () => {
    const none = await feeder(['native', 'check']);
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toMatch(/name the native process to check: feeder native check -- <command>/);
    const missing = await feeder(['native', 'check', '--', 'no-such-native-process']);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/'no-such-native-process' is not found on PATH/);
  });
});
