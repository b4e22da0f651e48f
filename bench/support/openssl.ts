// Certificates made by openssl for the TLS tests and benchmark: a CA, and leaves it signs.
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

/** A certificate and its key (mode 0600), as files. */
export interface Leaf {
  cert: string;
  key: string;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** A self-signed CA in `dir`: `<name>.pem` and `<name>.key`; answers the certificate's path. */
export async function makeCa(dir: string, name: string): Promise<string> {
  await execa(
    'openssl',
    ['req', '-x509', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-subj', `/CN=${name}`, '-days', '2'],
    {
      cwd: dir,
    },
  );
  return join(dir, `${name}.pem`);
}

/** A certificate for `names` (an openssl subjectAltName line) that the CA `ca` in `dir` signs; a negative `days` makes it expired. */
export async function makeLeaf(dir: string, name: string, ca: string, names: string, days = 2): Promise<Leaf> {
  await writeFile(join(dir, `${name}.ext`), `${names}\n`);
  await execa('openssl', ['req', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], { cwd: dir });
  const sign = ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial'];
  await execa('openssl', [...sign, '-out', `${name}.pem`, '-days', String(days), '-extfile', `${name}.ext`], { cwd: dir });
  await chmod(join(dir, `${name}.key`), 0o600);
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}
