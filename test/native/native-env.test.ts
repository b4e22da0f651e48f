import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { storedModel } from '../support/deploy.js';
import { type DaemonOptions, withDaemon } from '../support/daemon.js';
import { esUrl, tempDir } from '../support/es.js';
import { loadConfig } from '../../src/config/config.js';
import { defaultNativeCommand } from '../../src/config/paths.js';

const PROTOCOL_VARIABLES = new Set(['FEEDER_PROTOCOL', 'FEEDER_HEADER', 'FEEDER_WORKERS', 'FEEDER_THREADS_PER_WORKER']);

const SECRETS = { password: 'es-password-5d1f0c', urlPassword: 'url-password-a83e47', token: 'feeder-token-9b62d1' };

/** A real `feeder serve` holding every secret the daemon can be given, the way an operator gives them. */
function secretEnv(): Record<string, string> {
  const url = new URL(esUrl());
  url.username = 'feeder-user';
  url.password = SECRETS.urlPassword;
  return { ES_URL: url.toString(), ES_PASSWORD: SECRETS.password, FEEDER_TOKEN: SECRETS.token };
}

/** Deploys a small model on a fresh daemon and returns the environment its native process was given. */
async function environmentOfDeployed(options: DaemonOptions): Promise<Map<string, string>> {
  const { modelId } = await storedModel(100_000);
  return withDaemon(options, async (daemon) => {
    const deployed = await daemon.cli(['deploy', modelId, '--json']);
    expect(deployed.exitCode, deployed.stderr).toBe(0);
    const { pid } = JSON.parse(deployed.stdout) as { pid: number };
    const environ = await readFile(`/proc/${pid}/environ`, 'utf8');
    await daemon.cli(['undeploy', modelId]);
    return new Map(
      environ
        .split('\0')
        .filter(Boolean)
        .map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]),
    );
  });
}

describe('the environment of a native process', () => {
  it("holds none of the daemon's secrets nor its ES_* and FEEDER_* settings, and holds PATH", async () => {
    const env = await environmentOfDeployed({ env: secretEnv() });
    const entries = [...env].map(([name, value]) => `${name}=${value}`);
    for (const secret of Object.values(SECRETS)) expect(entries.filter((entry) => entry.includes(secret))).toEqual([]);
    expect([...env.keys()].filter((name) => /^(ES|FEEDER)_/.test(name) && !PROTOCOL_VARIABLES.has(name))).toEqual([]);
    expect(env.get('PATH')).toBe(process.env.PATH);
  });

  it('is told the protocol version and the header width: FEEDER_PROTOCOL=1, FEEDER_HEADER=u32 by default', async () => {
    const env = await environmentOfDeployed({});
    expect(env.get('FEEDER_PROTOCOL')).toBe('1');
    expect(env.get('FEEDER_HEADER')).toBe('u32');
  });

  it('FEEDER_HEADER=u64 with deploy.header u64, which the stub reads without a --header of its own', async () => {
    const env = await environmentOfDeployed({ config: { deploy: { header: 'u64', args: [] } } });
    expect(env.get('FEEDER_HEADER')).toBe('u64');
  });

  it('holds what deploy.env names, beside the platform variables', async () => {
    const env = await environmentOfDeployed({
      env: secretEnv(),
      config: { deploy: { env: { OMP_NUM_THREADS: '2', FEEDER_TEST_MARK: 'named in deploy.env' } } },
    });
    expect(env.get('OMP_NUM_THREADS')).toBe('2');
    expect(env.get('FEEDER_TEST_MARK')).toBe('named in deploy.env');
    expect(env.get('PATH')).toBe(process.env.PATH);
  });
});

describe('the variables the daemon sets for the protocol', () => {
  it('may not be named in deploy.env: the config is refused, naming the variable and deploy.header', async () => {
    for (const name of PROTOCOL_VARIABLES) {
      const path = join(await tempDir(), 'feeder.json');
      await writeFile(path, JSON.stringify({ deploy: { env: { [name]: 'u64' } } }));
      expect(() => loadConfig({ config: path }, {})).toThrow(
        new RegExp(`deploy\\.env\\.${name} is set by the daemon itself.*deploy\\.header`),
      );
    }
  });
});

describe('the stub and FEEDER_HEADER', () => {
  const stub = defaultNativeCommand();
  const model = Buffer.from('four');
  const run = (args: string[], env: Record<string, string>, header: Buffer) =>
    execa(stub, args, { env, extendEnv: false, input: Buffer.concat([header, model]), reject: false, encoding: 'buffer' });
  const u32 = Buffer.from([0, 0, 0, 4]);
  const u64 = Buffer.from([0, 0, 0, 0, 0, 0, 0, 4]);

  it('reads the width from FEEDER_HEADER when no --header is given', async () => {
    const result = await run([], { FEEDER_HEADER: 'u64' }, u64);
    expect(result.exitCode, Buffer.from(result.stderr).toString()).toBe(0);
    expect(unpack(result.stdout)).toMatchObject({ type: 'loaded', bytes: 4 });
  });

  it('lets --header win over FEEDER_HEADER', async () => {
    const result = await run(['--header', 'u32'], { FEEDER_HEADER: 'u64' }, u32);
    expect(result.exitCode, Buffer.from(result.stderr).toString()).toBe(0);
    expect(unpack(result.stdout)).toMatchObject({ type: 'loaded', bytes: 4 });
  });

  it('refuses a FEEDER_HEADER that is neither u32 nor u64 with a usage error naming it', async () => {
    const result = await run([], { FEEDER_HEADER: 'u128' }, u32);
    expect(result.exitCode).toBe(2);
    expect(Buffer.from(result.stderr).toString()).toMatch(/^native-stub: bad value for FEEDER_HEADER: 'u128' \(must be u32 or u64\)/);
  });
});
