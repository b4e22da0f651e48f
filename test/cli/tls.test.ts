import { describe, expect, it, inject } from 'vitest';
import { feeder } from '../support/cli.js';
import { randomModelFile, uniqueId } from '../support/es.js';

// The secure test node serves HTTPS with a certificate for IP 127.0.0.1, signed by a CA made for
// it at start (scripts/elasticsearch.sh --tls), so nothing on this machine trusts it unless told to.
const KiB = 1024;

function secure(extra: Record<string, string> = {}): Record<string, string> {
  return { ES_URL: inject('esSecureUrl'), ES_USERNAME: 'elastic', ES_PASSWORD: inject('esSecurePassword'), ...extra };
}

describe('a cluster that serves HTTPS', () => {
  it('is used with --ca-certs for everything: upload, verify (chunk GETs), deploy into the stub, delete', async () => {
    expect(inject('esSecureUrl')).toMatch(/^https:\/\//);
    const { path, bytes } = await randomModelFile(700 * KiB + 3);
    const modelId = uniqueId('tls');
    const ca = ['--ca-certs', inject('esSecureCa')];
    const upload = await feeder(['upload', path, '--model-id', modelId, '--chunk-size', '256kb', ...ca], { env: secure() });
    expect(upload.exitCode, upload.stderr).toBe(0);
    const verify = await feeder(['models', 'verify', modelId, ...ca], { env: secure() });
    expect(verify.exitCode, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/intact/);
    // The deploy reads its chunks through its own HTTP path (undici dispatch): the CA must reach it too.
    const deploy = await feeder(['deploy', modelId, '--foreground', '--tokens', `0,${bytes.length - 1}`, '--once', ...ca], {
      env: secure(),
    });
    expect(deploy.exitCode, deploy.stderr).toBe(0);
    expect(JSON.parse(deploy.stdout.trim().split('\n')[1]!).result.inference).toEqual([
      [[bytes[0]! / 255], [bytes[bytes.length - 1]! / 255]],
    ]);
    const removed = await feeder(['models', 'delete', modelId, ...ca], { env: secure() });
    expect(removed.exitCode, removed.stderr).toBe(0);
  });

  it('with ES_CA_CERTS from the environment as well', async () => {
    const result = await feeder(['models', 'list'], { env: secure({ ES_CA_CERTS: inject('esSecureCa') }) });
    expect(result.exitCode, result.stderr).toBe(0);
  });

  it('is refused without its CA: the message says the certificate is not trusted and how to fix it, and nothing is stored', async () => {
    const { path } = await randomModelFile(10 * KiB);
    const modelId = uniqueId('tls-untrusted');
    const result = await feeder(['upload', path, '--model-id', modelId], { env: secure() });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/Elasticsearch at https:\/\/127\.0\.0\.1:\d+ presented a TLS certificate that is not trusted here/);
    expect(result.stderr).toMatch(/give the CA that signed it with --ca-certs \/ ES_CA_CERTS \(or, for a test cluster only, --insecure/);
    const show = await feeder(['models', 'show', modelId, '--ca-certs', inject('esSecureCa')], { env: secure() });
    expect(show.stderr).toMatch(/does not exist/);
  });

  it('is refused under a name its certificate was not issued for: the message says so, not to add a CA', async () => {
    // The certificate names IP 127.0.0.1 only; localhost reaches the same node.
    const byName = inject('esSecureUrl').replace('127.0.0.1', 'localhost');
    const result = await feeder(['models', 'list', '--ca-certs', inject('esSecureCa')], { env: secure({ ES_URL: byName }) });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(
      /Elasticsearch at https:\/\/localhost:\d+ presented a TLS certificate issued for another name; use the host name \(or IP\) the certificate names/,
    );
    expect(result.stderr).not.toMatch(/--ca-certs/);
  });

  it('is used with --insecure, which skips the check', async () => {
    const result = await feeder(['models', 'list', '--insecure'], { env: secure() });
    expect(result.exitCode, result.stderr).toBe(0);
  });

  it('a CA file that cannot be read: exit 2 naming the file, before any request', async () => {
    const result = await feeder(['models', 'list', '--ca-certs', '/nonexistent/ca.pem'], { env: secure() });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/cannot read the CA certificates '\/nonexistent\/ca\.pem' given by --ca-certs\/ES_CA_CERTS: ENOENT/);
  });

  it('an http:// URL for it: the message says the URL may need https://', async () => {
    const result = await feeder(['models', 'list'], { env: secure({ ES_URL: inject('esSecureUrl').replace('https:', 'http:') }) });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(
      /cannot reach Elasticsearch at http:\/\/127\.0\.0\.1:\d+ .*if the cluster serves HTTPS, the URL must start with https:\/\//,
    );
  });
});
