import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { esUrls, loadConfig } from '../../src/config/config.js';
import { tempDir } from '../support/es.js';

describe('loadConfig', () => {
  it('layers defaults < config file < environment < flags', async () => {
    const path = join(await tempDir(), 'feeder.json');
    await writeFile(path, JSON.stringify({ elasticsearch: { url: 'http://file:1' }, upload: { chunkSize: '1mb', concurrency: 3 } }));
    const fromFile = loadConfig({ config: path }, {});
    expect(fromFile.elasticsearch.url).toBe('http://file:1');
    expect(fromFile.upload.chunkSize).toBe(1024 ** 2);
    expect(fromFile.upload.concurrency).toBe(3);
    const fromEnv = loadConfig({ config: path }, { ES_URL: 'http://env:2', ES_API_KEY: 'k' });
    expect(fromEnv.elasticsearch.url).toBe('http://env:2');
    expect(fromEnv.elasticsearch.apiKey).toBe('k');
    const fromFlags = loadConfig({ config: path, esUrl: 'http://flag:3', chunkSize: '2mb' }, { ES_URL: 'http://env:2' });
    expect(fromFlags.elasticsearch.url).toBe('http://flag:3');
    expect(fromFlags.upload.chunkSize).toBe(2 * 1024 ** 2);
  });

  it('reads a password or API key file at its layer: a file flag beats the environment, a value flag beats a file in the environment', async () => {
    const path = join(await tempDir(), 'secret');
    await writeFile(path, 'from-the-file\n', { mode: 0o600 });
    await chmod(path, 0o600);
    expect(loadConfig({ esPasswordFile: path }, { ES_PASSWORD: 'from-env' }).elasticsearch.password).toBe('from-the-file');
    expect(loadConfig({ esPassword: 'from-flag' }, { ES_PASSWORD_FILE: path }).elasticsearch.password).toBe('from-flag');
    expect(loadConfig({}, { ES_API_KEY_FILE: path }).elasticsearch.apiKey).toBe('from-the-file');
    expect(() => loadConfig({ esApiKey: 'k', esApiKeyFile: path }, {})).toThrow(/give --es-api-key or --es-api-key-file, not both/);
  });

  it('names an unknown setting in the config file', async () => {
    const path = join(await tempDir(), 'feeder.json');
    await writeFile(path, JSON.stringify({ upload: { chunk_size: '1mb' } }));
    expect(() => loadConfig({ config: path }, {})).toThrow(/unknown setting 'upload.chunk_size'/);
  });

  it('says which config file is missing or broken', async () => {
    const dir = await tempDir();
    expect(() => loadConfig({ config: join(dir, 'nope.json') }, {})).toThrow(/config file '.*nope.json' does not exist/);
    await writeFile(join(dir, 'bad.json'), '{ not json');
    expect(() => loadConfig({ config: join(dir, 'bad.json') }, {})).toThrow(/is not valid JSON/);
  });

  it('has deploy.stallTimeoutMs: 30 s by default, milliseconds or a duration in the file, at least 1 ms', async () => {
    expect(loadConfig({ config: undefined }, {}).deploy.stallTimeoutMs).toBe(30_000);
    const path = join(await tempDir(), 'feeder.json');
    for (const [value, ms] of [
      [1500, 1500],
      ['2s', 2000],
    ] as const) {
      await writeFile(path, JSON.stringify({ deploy: { stallTimeoutMs: value } }));
      expect(loadConfig({ config: path }, {}).deploy.stallTimeoutMs).toBe(ms);
    }
    for (const value of [0, -5, 'soon', true]) {
      await writeFile(path, JSON.stringify({ deploy: { stallTimeoutMs: value } }));
      expect(() => loadConfig({ config: path }, {}), String(value)).toThrow(new RegExp(`deploy.stallTimeoutMs must be .*; got '${value}'`));
    }
  });

  it('has upload.encoding cbor by default, base64 when the file says so, and names a value it does not know', async () => {
    expect(loadConfig({ config: undefined }, {}).upload).toMatchObject({ encoding: 'cbor', documentConcurrency: 4 });
    const path = join(await tempDir(), 'feeder.json');
    await writeFile(path, JSON.stringify({ upload: { encoding: 'base64' } }));
    expect(loadConfig({ config: path }, {}).upload.encoding).toBe('base64');
    await writeFile(path, JSON.stringify({ upload: { encoding: 'json' } }));
    expect(() => loadConfig({ config: path }, {})).toThrow("upload.encoding must be one of base64, cbor; got 'json'");
    await writeFile(path, JSON.stringify({ upload: { documentConcurrency: 0 } }));
    expect(() => loadConfig({ config: path }, {})).toThrow(/upload.documentConcurrency/);
  });

  it('refuses a daemon lease that would expire between two heartbeats, naming both settings', async () => {
    const path = join(await tempDir(), 'feeder.json');
    await writeFile(path, JSON.stringify({ daemon: { heartbeatMs: 5000, leaseMs: 5000 } }));
    expect(() => loadConfig({ config: path }, {})).toThrow(/daemon.heartbeatMs \(5000\) must be shorter than daemon.leaseMs \(5000\)/);
    await writeFile(path, JSON.stringify({ daemon: { heartbeatMs: 0 } }));
    expect(() => loadConfig({ config: path }, {})).toThrow(/daemon.heartbeatMs must be a whole number of at least 1; got '0'/);
    await writeFile(path, JSON.stringify({ daemon: { heartbeatMs: 300, leaseMs: 1500 } }));
    expect(loadConfig({ config: path }, {}).daemon).toMatchObject({ heartbeatMs: 300, leaseMs: 1500 });
  });

  it('takes deploy.env as names of its own choosing, {} by default; refuses a bad name or a value that is not a string', async () => {
    expect(loadConfig({ config: undefined }, {}).deploy.env).toEqual({});
    const dir = await tempDir();
    const withEnv = async (env: unknown) => {
      const path = join(dir, `feeder-${Math.random().toString(36).slice(2)}.json`);
      await writeFile(path, JSON.stringify({ deploy: { env } }));
      return () => loadConfig({ config: path }, {});
    };
    expect((await withEnv({ OMP_NUM_THREADS: '4', _lib_path: '/opt/x' }))().deploy.env).toEqual({
      OMP_NUM_THREADS: '4',
      _lib_path: '/opt/x',
    });
    expect(await withEnv({ '1ST': 'x' })).toThrow(
      "deploy.env: '1ST' is not a variable name (letters, digits and _, not starting with a digit)",
    );
    expect(await withEnv({ 'A=B': 'x' })).toThrow(/deploy.env: 'A=B' is not a variable name/);
    expect(await withEnv({ OMP_NUM_THREADS: 4 })).toThrow('deploy.env.OMP_NUM_THREADS must be a string; got 4 (write "4")');
    expect(await withEnv(['OMP_NUM_THREADS=4'])).toThrow('deploy.env must be an object of NAME: "value"; got ["OMP_NUM_THREADS=4"]');
  });

  it('rejects an Elasticsearch URL that is not a URL, saying how to set it', () => {
    expect(() => loadConfig({}, { ES_URL: 'localhost 9200' })).toThrow(/'localhost 9200' is not a URL; set ES_URL or --es-url/);
  });

  it('takes several nodes of one cluster comma-separated, and says which one is wrong', () => {
    const urls = 'http://127.0.0.1:9260, http://127.0.0.1:9261,http://127.0.0.1:9262';
    expect(loadConfig({}, { ES_URL: urls }).elasticsearch.url).toBe(urls);
    expect(esUrls(urls)).toEqual(['http://127.0.0.1:9260', 'http://127.0.0.1:9261', 'http://127.0.0.1:9262']);
    expect(() => loadConfig({}, { ES_URL: 'http://a:9200,b 9200' })).toThrow(
      "the Elasticsearch URL 'b 9200' in 'http://a:9200,b 9200' is not a URL; set ES_URL or --es-url to e.g. http://127.0.0.1:9200, or to several nodes of one cluster comma-separated",
    );
    expect(() => loadConfig({}, { ES_URL: 'https://a:9200,http://b:9200' })).toThrow(
      "the Elasticsearch URLs 'https://a:9200,http://b:9200' mix https and http; the nodes of one cluster are all http or all https",
    );
  });

  it('keeps passwords in the Elasticsearch URLs out of its complaints about them', () => {
    const attempts = [
      'https://elastic:s3cret@a:9200,http://elastic:s3cret@b:9200',
      'http://elastic:s3cret@a:9200,elastic:s3cret@b 9200',
      'http://a:9200,http://elastic:s3cret@b 9200',
      'elastic:s3cret@b:9200',
    ];
    for (const ES_URL of attempts) {
      let message = '';
      try {
        loadConfig({}, { ES_URL });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/Elasticsearch URL/);
      expect(message).not.toContain('s3cret');
    }
  });
});

describe('the shipped example config', () => {
  it('loads, so an operator can start from it', () => {
    const config = loadConfig({ config: 'config/feeder.example.json' }, {});
    expect(config.daemon.listen).toBe('unix:/run/es-model-feeder/feeder.sock');
    expect(config.upload.chunkSize).toBe(1024 * 1024);
  });
});
