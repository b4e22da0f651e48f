import { readlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { packageRoot } from '../../src/config/paths.js';
import { freePort } from '../support/daemon.js';
import { esUrl, randomModelFile, tempDir, uniqueId } from '../support/es.js';

interface PackedFile {
  path: string;
  size: number;
}

// What a user runs or builds from; anything else in the tarball is the repo's own output.
const SHIPPED = /^(build\/src\/|config\/|docs\/|native-lib\/|native-stub\/|native-torch\/|scripts\/|README\.md$|LICENSE$|package\.json$)/;
const NEVER_SHIPPED = /^(build\/(?!src\/)|native-[a-z]+\/build\/|native-stub\/test\/|test\/|bench\/|src\/|node_modules\/)/;

/**
 * The package as a user gets it: packed from this checkout (its build is what `npm test` just
 * made), installed globally into a prefix of its own, and run with an environment that names
 * nothing of the checkout, so what works here works from the tarball alone.
 */
describe('the npm package, installed into a fresh prefix', () => {
  let files: PackedFile[];
  let packedBytes: number;
  let prefix: string;
  let work: string;

  const environment = (extra: Record<string, string>) => ({
    env: {
      PATH: `${prefix}/bin:${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
      HOME: work,
      FEEDER_LOG_LEVEL: 'info',
      ...extra,
    },
    extendEnv: false,
    cwd: work,
  });
  const installed = async (args: string[], extra: Record<string, string> = {}) => {
    const result = await execa(join(prefix, 'bin', 'feeder'), args, { ...environment(extra), reject: false });
    return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
  };

  beforeAll(async () => {
    work = await tempDir();
    // --ignore-scripts: prepack's clean rebuild would pull build/src from under the tests running beside this one.
    const { stdout } = await execa('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: packageRoot() });
    const [packed] = JSON.parse(stdout) as Array<{ filename: string; size: number; files: PackedFile[] }>;
    files = packed!.files;
    packedBytes = packed!.size;
    prefix = join(work, 'prefix');
    await execa('npm', ['install', '-g', '--prefix', prefix, join(work, packed!.filename), '--prefer-offline', '--no-audit', '--no-fund'], {
      cwd: work,
    });
  }, 300_000);

  it('holds the compiled code, configuration, docs, native sources and their build scripts, and nothing of the repo’s test or bench output', () => {
    const paths = files.map((f) => f.path);
    expect(paths.filter((p) => !SHIPPED.test(p))).toEqual([]);
    expect(paths.filter((p) => NEVER_SHIPPED.test(p))).toEqual([]);
    for (const needed of [
      'build/src/cli/main.js',
      'build/src/index.d.ts',
      'config/feeder.example.json',
      'native-stub/CMakeLists.txt',
      'native-torch/CMakeLists.txt',
      'scripts/build-stub.sh',
      'README.md',
    ])
      expect(paths).toContain(needed);
    expect(packedBytes).toBeLessThan(2 * 1024 * 1024);
  });

  it('runs feeder --help from the prefix', async () => {
    const help = await installed(['--help']);
    expect(help.exitCode, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/feeder <command>[\s\S]*feeder serve/);
  });

  it('builds its stub with `feeder native build-stub`, then serves a model from Elasticsearch with it', async () => {
    const packageDir = join(prefix, 'lib', 'node_modules', 'es-model-feeder');
    const built = await installed(['native', 'build-stub']);
    expect(built.exitCode, built.stderr).toBe(0);
    expect(built.stdout.trim()).toBe(join(packageDir, 'native-stub', 'build', 'native-stub'));

    const model = await randomModelFile(300 * 1024);
    const modelId = uniqueId('package');
    const cluster = { ES_URL: esUrl(), FEEDER_LISTEN: `127.0.0.1:${await freePort()}` };
    const uploaded = await installed(['upload', model.path, '--model-id', modelId], cluster);
    expect(uploaded.exitCode, uploaded.stderr).toBe(0);

    const serve = execa(join(prefix, 'bin', 'feeder'), ['serve'], {
      ...environment({ ...cluster, FEEDER_DAEMON_NAME: uniqueId('package') }),
      reject: false,
      buffer: false,
    });
    let output = '';
    serve.stdout.on('data', (data: Buffer) => (output += data.toString()));
    serve.stderr.on('data', (data: Buffer) => (output += data.toString()));
    try {
      await vi.waitFor(() => expect(output).toContain('"daemon-start"'), { timeout: 30_000, interval: 100 });
      const deployed = await installed(['deploy', modelId, '--json'], cluster);
      expect(deployed.exitCode, deployed.stderr).toBe(0);
      const { pid } = JSON.parse(deployed.stdout) as { pid: number };
      expect(await readlink(`/proc/${pid}/exe`)).toBe(built.stdout.trim());

      const answer = await installed(['infer', modelId, '--tokens', '0,7', '--json'], cluster);
      expect(answer.exitCode, answer.stderr).toBe(0);
      expect(JSON.parse(answer.stdout).result.inference).toEqual([[[model.bytes[0]! / 255], [model.bytes[7]! / 255]]]);
      expect((await installed(['undeploy', modelId], cluster)).exitCode).toBe(0);
    } finally {
      serve.kill('SIGTERM');
    }
    expect((await serve).exitCode, output.slice(-3000)).toBe(0);
    expect((await installed(['models', 'delete', modelId], cluster)).exitCode).toBe(0);
  }, 180_000);
});
