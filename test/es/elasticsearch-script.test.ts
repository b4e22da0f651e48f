import { execa } from 'execa';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/config/paths.js';
import { uniqueId } from '../support/es.js';

const SCRIPT = join(packageRoot(), 'scripts', 'elasticsearch.sh');
const name = uniqueId('script');
const port = process.env.FEEDER_TEST_SCRIPT_ES_PORT ?? '9279';
const script = (args: string[], env: Record<string, string> = {}) =>
  execa('bash', [SCRIPT, ...args, '--name', name], { reject: false, env });

afterAll(async () => {
  await script(['remove']);
});

describe('scripts/elasticsearch.sh start on an instance whose data another version wrote', () => {
  it('refuses a version that cannot open the data, before starting anything, naming --fresh; its own version still starts', async () => {
    const started = await script(['start', '--port', port]);
    expect(started.exitCode, started.stderr).toBe(0);
    expect((await script(['stop'])).exitCode).toBe(0);
    const written = process.env.FEEDER_ES_VERSION ?? '8.19.7';

    // An older major (a version Elasticsearch cannot downgrade to): without the check, the node dies
    // at boot with "indexCreatedVersionMajor is in the future".
    const older = `${Number(written.split('.')[0]) - 1}.17.0`;
    const refused = await script(['start', '--version', older]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain(
      `instance '${name}' holds data written by Elasticsearch ${written}, which Elasticsearch ${older} cannot open; start it with --fresh to wipe that data (or with --version ${written} to keep it)`,
    );
    expect(refused.stderr).not.toMatch(/starting Elasticsearch|fetching/);

    // The same version opens its own data again.
    const again = await script(['start', '--port', port]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect((await script(['url'])).stdout.trim()).toBe(started.stdout.trim().split('\n').at(-1));
    expect((await script(['stop'])).exitCode).toBe(0);
  });

  it('refuses to make a single node a cluster without --fresh, and --node on a single node', async () => {
    const asCluster = await script(['start', '--nodes', '3']);
    expect(asCluster.exitCode).toBe(1);
    expect(asCluster.stderr).toContain(
      `instance '${name}' is a single node; start it without --nodes, or with --nodes 3 --fresh to make it a cluster`,
    );
    const node = await script(['stop', '--node', '2']);
    expect(node.stderr).toContain(`--node is for a cluster; instance '${name}' is a single node`);
  });
});
