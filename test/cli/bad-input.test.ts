import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, inject, it } from 'vitest';
import { CLI, feeder } from '../support/cli.js';
import { randomModelFile, tempDir, uniqueId } from '../support/es.js';

// Nothing listens here: a command that fails with a message about its input, not about this
// address, has provably sent no request.
const NOWHERE = 'http://127.0.0.1:9';

describe('feeder upload rejects bad input before sending anything', () => {
  it.each([
    ['', /a model id is required/],
    ['UPPER', /model id 'UPPER' is not valid/],
    ['has space', /model id 'has space' is not valid/],
    ['../x', /model id '..\/x' is not valid/],
    ['a'.repeat(65), /65 characters long; the limit is 64/],
    ['modèle', /model id 'modèle' is not valid/],
  ])('model id %j', async (id, message) => {
    const { path } = await randomModelFile(100);
    const result = await feeder(['upload', path, '--model-id', id], { env: { ES_URL: NOWHERE } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toMatch(/FEEDER_ERR_INVALID_MODEL_ID/);
  });

  it('a missing file', async () => {
    const path = join(await tempDir(), 'nope.pt');
    const result = await feeder(['upload', path, '--model-id', 'ok'], { env: { ES_URL: NOWHERE } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`model file '${path}' does not exist`);
  });

  it('an empty file', async () => {
    const path = join(await tempDir(), 'empty.pt');
    await writeFile(path, '');
    const result = await feeder(['upload', path, '--model-id', 'ok'], { env: { ES_URL: NOWHERE } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`model file '${path}' is empty`);
  });

  it('a directory', async () => {
    const dir = await tempDir();
    const result = await feeder(['upload', dir, '--model-id', 'ok'], { env: { ES_URL: NOWHERE } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`'${dir}' is a directory; give the path of a model file`);
  });

  it('an unreadable file', async () => {
    const dir = await tempDir();
    const path = join(dir, 'secret.pt');
    await writeFile(path, 'bytes');
    await chmod(path, 0o000);
    // root reads anything, so as root the command runs as an unprivileged user, as an operator's would.
    const asUser = process.getuid?.() === 0 ? ['runuser', '-u', 'nobody', '--'] : [];
    await chmod(dir, 0o755);
    const [command, ...args] = [...asUser, process.execPath, CLI, 'upload', path, '--model-id', 'ok'];
    const result = await execa(command, args, { reject: false, env: { ES_URL: NOWHERE } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`model file '${path}' cannot be read: permission denied`);
  });

  it('a chunk size that would not fit in a request, or is too small', async () => {
    const { path } = await randomModelFile(100);
    for (const size of ['100mb', '1kb']) {
      const result = await feeder(['upload', path, '--model-id', 'ok', '--chunk-size', size], { env: { ES_URL: NOWHERE } });
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toMatch(/--chunk-size must be between 64\.0 KiB and 64\.0 MiB/);
    }
  });

  it('an encoding it does not know', async () => {
    const { path } = await randomModelFile(100);
    const result = await feeder(['upload', path, '--model-id', 'ok', '--encoding', 'json'], { env: { ES_URL: NOWHERE } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/Argument: encoding, Given: "json", Choices: "base64", "cbor"/);
  });

  it('stdin that is empty', async () => {
    const result = await feeder(['upload', '-', '--model-id', uniqueId('empty-stdin')], { input: '' });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/the model stream on stdin was empty/);
  });

  it('unknown options and missing arguments, with exit code 2', async () => {
    const unknown = await feeder(['upload', 'x', '--model-id', 'ok', '--chunksize', '1mb']);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown argument: chunksize/);
    const missing = await feeder(['upload', 'x']);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/Missing required argument: model-id/);
  });
});

describe('feeder refuses to overwrite a model without --replace', () => {
  it('and leaves the stored model intact', async () => {
    const modelId = uniqueId('exists');
    const first = await randomModelFile(200_000);
    expect((await feeder(['upload', first.path, '--model-id', modelId])).exitCode).toBe(0);
    const second = await randomModelFile(100_000);
    const result = await feeder(['upload', second.path, '--model-id', modelId]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(`model '${modelId}' already exists; pass --replace to overwrite it`);
    const verify = await feeder(['models', 'verify', modelId, '--json']);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, bytes: 200_000 });
  });
});

describe('connection problems', () => {
  it('an unreachable Elasticsearch: the message names the URL and how to set it', async () => {
    const { path } = await randomModelFile(100);
    const result = await feeder(['upload', path, '--model-id', 'ok'], { env: { ES_URL: NOWHERE } });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/cannot reach Elasticsearch at http:\/\/127\.0\.0\.1:9 .*point ES_URL \/ --es-url at a running cluster/);
    expect(result.stderr).toMatch(/FEEDER_ERR_ES_UNREACHABLE/);
  });

  it('credentials in the URL never appear in a message', async () => {
    const result = await feeder(['models', 'list', '--es-url', 'http://elastic:hunter2@127.0.0.1:9']);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('http://127.0.0.1:9');
    expect(result.stderr).not.toContain('hunter2');
  });

  it('wrong credentials on a secured cluster: a clear error, the password not echoed, nothing created', async () => {
    const url = inject('esSecureUrl');
    const { path } = await randomModelFile(1000);
    const modelId = uniqueId('auth');
    const ca = inject('esSecureCa');
    const wrong = await feeder(['upload', path, '--model-id', modelId, '--es-username', 'elastic', '--es-password', 'not-the-password'], {
      env: { ES_URL: url, ES_CA_CERTS: ca },
    });
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stderr).toMatch(/rejected the credentials \(401\).*check ES_API_KEY or --es-username\/--es-password/);
    expect(wrong.stderr + wrong.stdout).not.toContain('not-the-password');
    // The flag is kept for Eland's users, with a warning that names the flag, never its value.
    expect(wrong.stderr.match(/feeder: warning: --es-password on the command line is visible to every user/g)).toHaveLength(1);

    const password = inject('esSecurePassword');
    const right = await feeder(['models', 'show', modelId], {
      env: { ES_URL: url, ES_CA_CERTS: ca, ES_USERNAME: 'elastic', ES_PASSWORD: password },
    });
    expect(right.stderr).toMatch(/does not exist/);
  });

  // The integ-test-zip has no analysis-common module, so its security index cannot hold API keys:
  // a valid key cannot be minted there. A made-up one still exercises the header and the 401 path.
  it('an API key the cluster does not know is refused, and not echoed', async () => {
    const key = Buffer.from('feeder-id:feeder-not-a-key').toString('base64');
    const result = await feeder(['models', 'list'], {
      env: { ES_URL: inject('esSecureUrl'), ES_CA_CERTS: inject('esSecureCa'), ES_API_KEY: key },
    });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/rejected the credentials \(401\)/);
    expect(result.stderr).not.toContain(key);
  });
});

describe('--help', () => {
  it.each([[[]], [['upload']], [['models']], [['models', 'list']], [['models', 'verify']], [['models', 'delete']]])(
    'explains %j',
    async (command) => {
      const result = await feeder([...command, '--help']);
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toMatch(/--es-url/);
      expect(result.stdout.length).toBeGreaterThan(300);
    },
  );
});

describe('a model that is missing', () => {
  it.each([['show'], ['verify'], ['delete']])('models %s says so and how to list them', async (command) => {
    const modelId = uniqueId('ghost');
    const result = await feeder(['models', command, modelId]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(`model '${modelId}' does not exist; 'feeder models list' shows the stored models`);
  });
});
