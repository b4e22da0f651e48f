import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { storedModel } from '../support/deploy.js';
import { startDaemon, type DaemonOptions } from '../support/daemon.js';
import { esUrl } from '../support/es.js';

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
  const daemon = await startDaemon(options);
  try {
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
  } finally {
    await daemon.stop();
  }
}

describe('the environment of a native process', () => {
  it("holds none of the daemon's secrets nor its ES_* and FEEDER_* settings, and holds PATH", async () => {
    const env = await environmentOfDeployed({ env: secretEnv() });
    const entries = [...env].map(([name, value]) => `${name}=${value}`);
    for (const secret of Object.values(SECRETS)) expect(entries.filter((entry) => entry.includes(secret))).toEqual([]);
    expect([...env.keys()].filter((name) => /^(ES|FEEDER)_/.test(name))).toEqual([]);
    expect(env.get('PATH')).toBe(process.env.PATH);
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
