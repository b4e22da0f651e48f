import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { feeder } from '../support/cli.js';
import { tempDir } from '../support/es.js';

// Nothing listens here: a command refused with exit 2 and a message about its input has sent nothing.
const NOWHERE = 'http://127.0.0.1:9';

/** The secure test node, trusted through its CA, with no credentials: each test brings its own. */
function secure(extra: Record<string, string> = {}): Record<string, string> {
  return { ES_URL: inject('esSecureUrl'), ES_CA_CERTS: inject('esSecureCa'), ...extra };
}

async function secretFile(content: string, mode = 0o600): Promise<string> {
  const path = join(await tempDir(), 'secret');
  await writeFile(path, content);
  // chmod, not writeFile's mode: the umask would narrow that.
  await chmod(path, mode);
  return path;
}

const warningsIn = (stderr: string) => stderr.split('\n').filter((line) => line.startsWith('feeder: warning:'));

describe('a password or API key given as a flag, which every user sees in ps', () => {
  it('--es-password still works, with one warning on stderr naming the safer ways, and the value shown nowhere', async () => {
    const password = inject('esSecurePassword');
    const result = await feeder(['models', 'list', '--es-username', 'elastic', '--es-password', password], { env: secure() });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(warningsIn(result.stderr)).toEqual([
      'feeder: warning: --es-password on the command line is visible to every user of this machine (ps, /proc/<pid>/cmdline); ' +
        'use ES_PASSWORD in the environment, --es-password-file or ES_PASSWORD_FILE naming a file of mode 0600, ' +
        'or elasticsearch.password in a config file of mode 0600',
    ]);
    expect(result.stdout + result.stderr).not.toContain(password);
  });

  it('--es-api-key and --es-password together: one warning naming both, neither value shown', async () => {
    const key = Buffer.from('feeder-id:feeder-not-a-key').toString('base64');
    const result = await feeder(['models', 'list', '--es-api-key', key, '--es-username', 'elastic', '--es-password', 'not-the-password'], {
      env: secure(),
    });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/rejected the credentials \(401\)/);
    const warnings = warningsIn(result.stderr);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^feeder: warning: --es-password and --es-api-key on the command line are visible to every user/);
    expect(warnings[0]).toContain('--es-password-file or ES_PASSWORD_FILE');
    expect(warnings[0]).toContain('--es-api-key-file or ES_API_KEY_FILE');
    expect(result.stdout + result.stderr).not.toContain(key);
    expect(result.stdout + result.stderr).not.toContain('not-the-password');
  });

  it('the same credentials from the environment: no warning', async () => {
    const result = await feeder(['models', 'list'], { env: secure({ ES_USERNAME: 'elastic', ES_PASSWORD: inject('esSecurePassword') }) });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(warningsIn(result.stderr)).toEqual([]);
  });
});

describe('--es-password-file / ES_PASSWORD_FILE and --es-api-key-file / ES_API_KEY_FILE', () => {
  it('a file of mode 0600 ending in a newline: the secure node takes the password, with no warning', async () => {
    const password = inject('esSecurePassword');
    const path = await secretFile(`${password}\n`);
    const byFlag = await feeder(['models', 'list', '--es-username', 'elastic', '--es-password-file', path], { env: secure() });
    expect(byFlag.exitCode, byFlag.stderr).toBe(0);
    expect(warningsIn(byFlag.stderr)).toEqual([]);
    const byEnv = await feeder(['models', 'list'], { env: secure({ ES_USERNAME: 'elastic', ES_PASSWORD_FILE: path }) });
    expect(byEnv.exitCode, byEnv.stderr).toBe(0);
    expect(byFlag.stdout + byFlag.stderr + byEnv.stdout + byEnv.stderr).not.toContain(password);
  });

  it('a wrong password in the file: refused by the node (401), the file content shown nowhere', async () => {
    const path = await secretFile('wrong-password-from-a-file\n');
    const result = await feeder(['models', 'list', '--es-username', 'elastic', '--es-password-file', path], { env: secure() });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/rejected the credentials \(401\)/);
    expect(result.stdout + result.stderr).not.toContain('wrong-password-from-a-file');
  });

  it('an API key file: its key is what is sent (a key the node does not know: 401), and it is shown nowhere', async () => {
    const key = Buffer.from('feeder-id:feeder-file-key').toString('base64');
    const path = await secretFile(`${key}\n`);
    const result = await feeder(['models', 'list', '--es-api-key-file', path], { env: secure() });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/rejected the credentials \(401\)/);
    expect(result.stdout + result.stderr).not.toContain(key);
    expect(warningsIn(result.stderr)).toEqual([]);
  });

  it('a file other users can read (0644) is refused with exit 2 and the chmod that fixes it, before any request', async () => {
    const path = await secretFile('hunter2\n', 0o644);
    const result = await feeder(['models', 'list', '--es-username', 'elastic', '--es-password-file', path], { env: { ES_URL: NOWHERE } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(
      `the password file '${path}' given by --es-password-file is open to other users (mode 0644); run: chmod 600 ${path}`,
    );
    expect(result.stdout + result.stderr).not.toContain('hunter2');
    const byEnv = await feeder(['models', 'list'], { env: { ES_URL: NOWHERE, ES_API_KEY_FILE: path } });
    expect(byEnv.exitCode).toBe(2);
    expect(byEnv.stderr).toContain(
      `the API key file '${path}' given by ES_API_KEY_FILE is open to other users (mode 0644); run: chmod 600 ${path}`,
    );
  });

  it('a missing file and an empty one are refused with exit 2, naming the file', async () => {
    const missing = join(await tempDir(), 'nope');
    const gone = await feeder(['models', 'list', '--es-password-file', missing], { env: { ES_URL: NOWHERE } });
    expect(gone.exitCode).toBe(2);
    expect(gone.stderr).toContain(`the password file '${missing}' given by --es-password-file does not exist`);
    const empty = await secretFile('\n');
    const blank = await feeder(['models', 'list'], { env: { ES_URL: NOWHERE, ES_PASSWORD_FILE: empty } });
    expect(blank.exitCode).toBe(2);
    expect(blank.stderr).toContain(`the password file '${empty}' given by ES_PASSWORD_FILE is empty`);
  });

  it('a password and a password file in the same place are refused as ambiguous', async () => {
    const path = await secretFile('x\n');
    const result = await feeder(['models', 'list'], { env: { ES_URL: NOWHERE, ES_PASSWORD: 'y', ES_PASSWORD_FILE: path } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('give ES_PASSWORD or ES_PASSWORD_FILE, not both');
  });
});
