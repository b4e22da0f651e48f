import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseListenAddress } from '../../src/config/config.js';
import { parseAdvertiseAddress, parseDaemonUrl } from '../../src/config/daemon-address.js';
import { advertisedAddress, reachOf, type Interfaces } from '../../src/daemon/advertise.js';
import { daemonUrl, type PresenceDoc } from '../../src/coordination/daemon-presence.js';
import { tempDir } from '../support/es.js';

const TOKEN = 'a-token-of-24-characters';

describe('daemon.listen', () => {
  it.each([
    ['9465', { kind: 'tcp', host: '127.0.0.1', port: 9465 }],
    ['127.0.0.1:9465', { kind: 'tcp', host: '127.0.0.1', port: 9465 }],
    ['localhost:9465', { kind: 'tcp', host: '127.0.0.1', port: 9465 }],
    ['127.0.0.2:0', { kind: 'tcp', host: '127.0.0.2', port: 0 }],
    ['0.0.0.0:9465', { kind: 'tcp', host: '0.0.0.0', port: 9465 }],
    ['10.1.2.3:65535', { kind: 'tcp', host: '10.1.2.3', port: 65535 }],
    ['[::1]:9465', { kind: 'tcp', host: '::1', port: 9465 }],
    ['[::]:9465', { kind: 'tcp', host: '::', port: 9465 }],
    ['[FD00:0:0::2]:80', { kind: 'tcp', host: 'fd00::2', port: 80 }],
    ['Inference-Host-1.example.internal:9465', { kind: 'tcp', host: 'inference-host-1.example.internal', port: 9465 }],
    ['unix:/run/feeder.sock', { kind: 'unix', path: '/run/feeder.sock' }],
  ])('reads %s', (listen, expected) => {
    expect(parseListenAddress(listen)).toEqual(expected);
  });

  it.each([
    ['::1:9465', /an IPv6 address goes in brackets: \[::1\]:9465/],
    ['[::1]', /has no port/],
    ['10.0.0.1', /has no port/],
    ['host.example', /has no port/],
    [':9465', /has no host/],
    ['300.1.1.1:9465', /'300.1.1.1:9465' is not an IPv4 address/],
    ['10.0.1:9465', /is not an IPv4 address/],
    ['[10.0.0.1]:9465', /'10.0.0.1' in brackets is not an IPv6 address/],
    ['[fe80::1%eth0]:9465', /in brackets is not an IPv6 address/],
    ['my_host:9465', /is not a host name/],
    ['-host:9465', /is not a host name/],
    ['host..example:9465', /is not a host name/],
    ['host:99999', /'99999' is not a port \(0 to 65535\)/],
    ['host:', /'' is not a port/],
    ['host:http', /'http' is not a port/],
    ['http://host:9465', /is not an address/],
    ['user@host:9465', /is not a host name/],
    ['unix:', /names no socket/],
  ])('refuses %s, naming the forms it takes', (listen, problem) => {
    expect(() => parseListenAddress(listen)).toThrow(problem);
    expect(() => loadConfig({ listen }, {})).toThrow(/daemon.listen '.*'/);
  });

  it('takes loopback and a Unix socket without a token, as before', () => {
    for (const listen of ['127.0.0.1:9465', '127.9.9.9:1', 'localhost:1', '[::1]:9465', 'unix:/tmp/x.sock'])
      expect(loadConfig({ listen }, {}).daemon.listen, listen).toBe(listen);
  });

  it.each(['0.0.0.0:9465', '[::]:9465', '10.0.0.5:9465', '[fd00::2]:9465', 'inference-host-1:9465'])(
    'refuses %s without a token, naming every way to give one',
    (listen) => {
      const refused = () => loadConfig({ listen }, {});
      expect(refused).toThrow(`daemon.listen '${listen}' reaches beyond loopback, so anyone on the network could drive the control API`);
      expect(refused).toThrow(/FEEDER_TOKEN or daemon.token, .*--token-file, FEEDER_TOKEN_FILE or daemon.tokenFile/);
      expect(loadConfig({ listen }, { FEEDER_TOKEN: TOKEN }).daemon.token).toBe(TOKEN);
    },
  );

  it('refuses a token shorter than 16 characters beyond loopback, without showing it', () => {
    const refused = () => loadConfig({ listen: '0.0.0.0:9465' }, { FEEDER_TOKEN: 'short-secret' });
    expect(refused).toThrow(/the daemon's token is 12 characters long, .*at least 16/);
    expect(refused).not.toThrow(/short-secret/);
    expect(loadConfig({ listen: '127.0.0.1:9465' }, { FEEDER_TOKEN: 'short-secret' }).daemon.token).toBe('short-secret');
  });
});

describe('the token from a file', () => {
  async function tokenFile(mode: number, text = `${TOKEN}\n`): Promise<string> {
    const path = join(await tempDir(), 'token');
    await writeFile(path, text, { mode });
    await chmod(path, mode);
    return path;
  }

  it('is read from --token-file, FEEDER_TOKEN_FILE or daemon.tokenFile, without its trailing newline', async () => {
    const path = await tokenFile(0o600);
    expect(loadConfig({ listen: '0.0.0.0:1', tokenFile: path }, {}).daemon.token).toBe(TOKEN);
    expect(loadConfig({ listen: '0.0.0.0:1' }, { FEEDER_TOKEN_FILE: path }).daemon.token).toBe(TOKEN);
    const config = join(await tempDir(), 'feeder.json');
    await writeFile(config, JSON.stringify({ daemon: { listen: '0.0.0.0:1', tokenFile: path } }));
    expect(loadConfig({ config }, {}).daemon.token).toBe(TOKEN);
    // A layer overrides the one before it: the flag's file beats the environment's value.
    expect(loadConfig({ tokenFile: path }, { FEEDER_TOKEN: 'from-env' }).daemon.token).toBe(TOKEN);
  });

  it('is refused when its group or others can read it, with the chmod to run', async () => {
    const path = await tokenFile(0o644);
    expect(() => loadConfig({ tokenFile: path }, {})).toThrow(
      `the token file '${path}' given by --token-file is open to other users (mode 0644); run: chmod 600 ${path}`,
    );
    expect(() => loadConfig({}, { FEEDER_TOKEN_FILE: path })).toThrow(/given by FEEDER_TOKEN_FILE is open to other users/);
  });

  it('and a token in the same layer are ambiguous', async () => {
    const path = await tokenFile(0o600);
    expect(() => loadConfig({}, { FEEDER_TOKEN: TOKEN, FEEDER_TOKEN_FILE: path })).toThrow(
      'give FEEDER_TOKEN or FEEDER_TOKEN_FILE, not both',
    );
  });
});

describe('daemon.advertise', () => {
  it.each([
    ['10.0.0.5', { host: '10.0.0.5', port: undefined }],
    ['10.0.0.5:80', { host: '10.0.0.5', port: 80 }],
    ['[fd00::2]', { host: 'fd00::2', port: undefined }],
    ['[fd00::2]:9465', { host: 'fd00::2', port: 9465 }],
    ['Host-1.example', { host: 'host-1.example', port: undefined }],
  ])('reads %s', (advertise, expected) => {
    expect(parseAdvertiseAddress(advertise)).toEqual(expected);
  });

  it.each([
    ['0.0.0.0:9465', /is every interface, which no one can connect to/],
    ['[::]', /is every interface/],
    ['10.0.0.5:0', /port 0 is no port to connect to/],
    ['fd00::2', /goes in brackets/],
    ['unix:/x.sock', /a Unix socket is reached from this machine only/],
  ])('refuses %s', (advertise, problem) => {
    expect(() => parseAdvertiseAddress(advertise)).toThrow(problem);
  });

  it('comes from --advertise, FEEDER_ADVERTISE or the file; one beyond loopback needs the token even on a loopback listen', () => {
    expect(loadConfig({ advertise: '127.0.0.1' }, {}).daemon.advertise).toBe('127.0.0.1');
    expect(() => loadConfig({}, { FEEDER_ADVERTISE: 'gateway.example:443' })).toThrow(
      /daemon.advertise 'gateway.example:443' is beyond loopback, so anyone on the network could drive the control API: set a token/,
    );
    expect(loadConfig({ advertise: 'gateway.example:443' }, { FEEDER_TOKEN: TOKEN }).daemon.advertise).toBe('gateway.example:443');
    expect(() => loadConfig({ listen: 'unix:/run/f.sock', advertise: 'gateway.example' }, { FEEDER_TOKEN: TOKEN })).toThrow(
      "daemon.advertise 'gateway.example' has no port, and a Unix socket has none to take",
    );
  });

  const interfaces: Interfaces = {
    lo: [
      { address: '127.0.0.1', family: 'IPv4', internal: true, netmask: '', mac: '', cidr: null },
      { address: '::1', family: 'IPv6', internal: true, netmask: '', mac: '', cidr: null, scopeid: 0 },
    ],
    eth0: [
      { address: 'fe80::1', family: 'IPv6', internal: false, netmask: '', mac: '', cidr: null, scopeid: 2 },
      { address: 'FD00::2', family: 'IPv6', internal: false, netmask: '', mac: '', cidr: null, scopeid: 0 },
      { address: '169.254.0.9', family: 'IPv4', internal: false, netmask: '', mac: '', cidr: null },
      { address: '192.0.2.2', family: 'IPv4', internal: false, netmask: '', mac: '', cidr: null },
    ],
    docker0: [{ address: '172.17.0.1', family: 'IPv4', internal: false, netmask: '', mac: '', cidr: null }],
  };

  it.each([
    ['127.0.0.1:9465', undefined, '127.0.0.1:9465'],
    ['[::1]:9465', undefined, '[::1]:9465'],
    ['10.0.0.5:9465', undefined, '10.0.0.5:9465'],
    ['0.0.0.0:9465', undefined, '192.0.2.2:9465'],
    ['[::]:9465', undefined, '192.0.2.2:9465'],
    ['0.0.0.0:9465', 'feeder.example', 'feeder.example:9465'],
    ['0.0.0.0:9465', '[fd00::2]:443', '[fd00::2]:443'],
    ['unix:/run/f.sock', undefined, 'unix:/run/f.sock'],
    ['unix:/run/f.sock', 'proxy.example:80', 'proxy.example:80'],
  ])('listening on %s with advertise %s, advertises %s', (listen, advertise, expected) => {
    // Listening on these ports, the control API is bound at `listen` itself.
    expect(advertisedAddress(reachOf(parseListenAddress(listen), advertise, interfaces), listen)).toBe(expected);
  });

  it('picks the first address others can reach on 0.0.0.0, names the others, and falls back to loopback on a machine without one', () => {
    expect(reachOf(parseListenAddress('0.0.0.0:1'), undefined, interfaces).candidates).toEqual(['192.0.2.2', '172.17.0.1']);
    expect(reachOf(parseListenAddress('[::]:1'), undefined, interfaces).candidates).toEqual(['192.0.2.2', '172.17.0.1', 'fd00::2']);
    const alone = reachOf(parseListenAddress('0.0.0.0:1'), undefined, { lo: interfaces.lo });
    expect(advertisedAddress(alone, '0.0.0.0:1')).toBe('127.0.0.1:1');
  });

  it('answers to every address of the machine on 0.0.0.0, and only to its own names otherwise', () => {
    const everywhere = reachOf(parseListenAddress('0.0.0.0:1'), undefined, interfaces).hostNames;
    expect(everywhere).toEqual(expect.arrayContaining(['192.0.2.2', '172.17.0.1', 'fd00::2', 'fe80::1']));
    expect(reachOf(parseListenAddress('10.0.0.5:1'), 'feeder.example', interfaces).hostNames).toEqual(['10.0.0.5', 'feeder.example']);
    expect(reachOf(parseListenAddress('127.0.0.1:1'), undefined, interfaces).hostNames).toEqual(['127.0.0.1']);
  });
});

describe('daemon.url and daemonUrl', () => {
  it.each([
    ['http://10.0.0.5:9465', { host: '10.0.0.5', port: 9465 }],
    ['http://10.0.0.5:9465/', { host: '10.0.0.5', port: 9465 }],
    ['http://[fd00::2]:9465', { host: 'fd00::2', port: 9465 }],
    ['http://host.example', { host: 'host.example', port: 80 }],
  ])('reads %s', (url, expected) => {
    expect(parseDaemonUrl(url)).toEqual({ kind: 'tcp', ...expected, secure: false });
  });

  it.each([
    ['https://10.0.0.5:9465', { host: '10.0.0.5', port: 9465 }],
    ['https://host.example', { host: 'host.example', port: 443 }],
  ])('reads %s, which speaks TLS', (url, expected) => {
    expect(parseDaemonUrl(url)).toEqual({ kind: 'tcp', ...expected, secure: true });
    expect(loadConfig({ daemonUrl: url }, {}).daemon.url).toBe(url);
  });

  it.each([
    ['10.0.0.5:9465', /is not a URL|speaks http or https/],
    ['ftp://10.0.0.5:9465', /speaks http or https, not ftp/],
    ['http://user:pw@10.0.0.5:9465', /holds more than a host and port/],
    ['http://10.0.0.5:9465/deployments', /holds more than a host and port/],
  ])('refuses %s', (url, problem) => {
    expect(() => loadConfig({ daemonUrl: url }, {})).toThrow(problem);
  });

  const presence = (listen: string, advertise?: string): PresenceDoc => ({
    daemon: 'd1',
    listen,
    ...(advertise === undefined ? {} : { advertise }),
    pid: 1,
    host: 'h',
    started_at: '',
    renewed_at: '',
    expires_at: '',
  });

  it('gives http://host:port of the advertised address, else of the one listened on; https:// for a daemon that serves TLS', () => {
    expect(daemonUrl(presence('0.0.0.0:9465', '192.0.2.2:9465'))).toBe('http://192.0.2.2:9465');
    expect(daemonUrl({ ...presence('0.0.0.0:9465', '192.0.2.2:9465'), tls: true })).toBe('https://192.0.2.2:9465');
    expect(daemonUrl(presence('[::]:9465', '[fd00::2]:9465'))).toBe('http://[fd00::2]:9465');
    expect(daemonUrl(presence('127.0.0.1:9465'))).toBe('http://127.0.0.1:9465');
  });

  it('refuses a daemon on a Unix socket, or on every interface with no advertised address, saying why', () => {
    expect(() => daemonUrl(presence('unix:/run/f.sock', 'unix:/run/f.sock'))).toThrow(
      /daemon 'd1' listens on the Unix socket unix:\/run\/f.sock, which only its own machine reaches/,
    );
    expect(() => daemonUrl(presence('0.0.0.0:9465'))).toThrow(/daemon 'd1' listens on 0.0.0.0:9465 and advertises no address/);
  });
});

describe('daemon.tls, daemon.caCerts and daemon.insecurePlainHttp', () => {
  it('come from the config file, the environment and the flags, each layer over the one before', async () => {
    const config = join(await tempDir(), 'feeder.json');
    await writeFile(
      config,
      JSON.stringify({ daemon: { tls: { cert: 'file.pem', key: 'file.key', clientCa: 'file-ca.pem' }, caCerts: 'file-cas.pem' } }),
    );
    expect(loadConfig({ config }, {}).daemon).toMatchObject({
      tls: { cert: 'file.pem', key: 'file.key', clientCa: 'file-ca.pem' },
      caCerts: 'file-cas.pem',
      insecurePlainHttp: false,
    });
    const env = {
      FEEDER_TLS_CERT: 'env.pem',
      FEEDER_TLS_KEY: 'env.key',
      FEEDER_TLS_CLIENT_CA: 'env-ca.pem',
      FEEDER_DAEMON_CA_CERTS: 'env-cas.pem',
      FEEDER_INSECURE_PLAIN_HTTP: 'true',
    };
    expect(loadConfig({ config }, env).daemon).toMatchObject({
      tls: { cert: 'env.pem', key: 'env.key', clientCa: 'env-ca.pem' },
      caCerts: 'env-cas.pem',
      insecurePlainHttp: true,
    });
    const flags = { config, tlsCert: 'flag.pem', tlsKey: 'flag.key', daemonCaCerts: 'flag-cas.pem', insecurePlainHttp: false };
    expect(loadConfig(flags, env).daemon).toMatchObject({
      tls: { cert: 'flag.pem', key: 'flag.key', clientCa: 'env-ca.pem' },
      caCerts: 'flag-cas.pem',
      insecurePlainHttp: false,
    });
  });
});
