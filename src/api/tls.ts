import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { Server } from 'node:https';
import type { Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { createSecureContext, type SecureContextOptions, type TLSSocket } from 'node:tls';
import type { DaemonTls } from '../config/config.js';
import { readSecretFile } from '../config/secret-file.js';
import { BadRequestError, ForbiddenError, InvalidArgumentError } from '../errors.js';
import { CERTIFICATE_CODES, type CertificateProblem } from '../es/translate.js';
import { writeRawError } from './http.js';

const CERT_BY = 'daemon.tls.cert (FEEDER_TLS_CERT, --tls-cert)';
const KEY_BY = 'daemon.tls.key (FEEDER_TLS_KEY, --tls-key)';
const CLIENT_CA_BY = 'daemon.tls.clientCa (FEEDER_TLS_CLIENT_CA)';

/** The first byte of every TLS connection: a handshake record. */
const TLS_HANDSHAKE = 0x16;

/**
 * The control API's certificate and key, and the CA of client certificates when mutual TLS is on;
 * undefined without TLS. The key is read as the token is, only from a file no other user can open.
 */
export function readServerTls(tls: DaemonTls): SecureContextOptions | undefined {
  if (tls.cert === undefined && tls.key === undefined) {
    if (tls.clientCa !== undefined)
      throw new InvalidArgumentError(
        `${CLIENT_CA_BY} asks clients for a certificate, which only TLS can: set ${CERT_BY} and ${KEY_BY} too`,
      );
    return undefined;
  }
  if (tls.cert === undefined || tls.key === undefined)
    throw new InvalidArgumentError(`${CERT_BY} and ${KEY_BY} go together: the certificate is served with its private key; give both`);
  const options: SecureContextOptions = {
    cert: readPemFile(tls.cert, 'certificate', CERT_BY),
    key: readSecretFile(tls.key, 'TLS key', KEY_BY),
    ...(tls.clientCa === undefined ? {} : { ca: readPemFile(tls.clientCa, 'client CA', CLIENT_CA_BY) }),
  };
  try {
    createSecureContext(options);
  } catch (error) {
    throw new InvalidArgumentError(
      `the TLS certificate '${tls.cert}' and key '${tls.key}' cannot be served (${(error as Error).message}); give a PEM certificate and the private key it was issued for`,
      { cause: error },
    );
  }
  return options;
}

/** A PEM file anyone may read (a certificate, a CA); whether it parses is the TLS context's to say. */
export function readPemFile(path: string, what: string, givenBy: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new InvalidArgumentError(`cannot read the ${what} file '${path}' given by ${givenBy}: ${code}`, { cause: error });
  }
}

/**
 * Server options for mutual TLS. The handshake asks for a client certificate but does not fail
 * without one: node would drop the connection without a word, so the refusal is an answer of
 * checkClientCertificate's instead.
 */
export function clientCertificateOptions(options: SecureContextOptions): { requestCert: boolean; rejectUnauthorized: boolean } {
  return { requestCert: options.ca !== undefined, rejectUnauthorized: false };
}

/** Under mutual TLS, a client whose certificate the client CA did not sign is refused before anything it sent is looked at, its token included. */
export function checkClientCertificate(request: IncomingMessage, mutual: boolean): void {
  const socket = request.socket as TLSSocket;
  if (!mutual || socket.authorized) return;
  throw new ForbiddenError(
    `this daemon takes requests only from clients with a certificate signed by its daemon.tls.clientCa (${refusalReason(socket)}); a fleet member presents its daemon.tls.cert, the CLI its --tls-cert and --tls-key`,
  );
}

const CLIENT_CERTIFICATE_PROBLEMS: Record<CertificateProblem, string> = {
  untrusted: 'its certificate was signed by another CA',
  'wrong-host': 'its certificate names another host',
  expired: 'its certificate is outside its validity dates',
};

function refusalReason(socket: TLSSocket): string {
  if (Object.keys(socket.getPeerCertificate()).length === 0) return 'it presented no certificate';
  const code = String(socket.authorizationError);
  const problem = CERTIFICATE_CODES[code];
  return `${problem ? CLIENT_CERTIFICATE_PROBLEMS[problem] : 'its certificate was refused'}: ${code}`;
}

/** How long a connection may stay silent before its first byte: node's TLS handshake bound comes after. */
const FIRST_BYTE_MS = 10_000;

/**
 * A plain HTTP request to the TLS listener would fail its handshake without a word; it gets a
 * plain HTTP answer that says to use https. The first byte tells: every TLS connection opens with a
 * handshake record, which no HTTP method starts with. node:http's closeAllConnections knows only
 * connections past their handshake; one still silent or shaking hands would hold up the daemon's
 * stop, so every connection is closed here.
 */
export function answerPlainHttp(server: Server): void {
  const startTls = server.listeners('connection') as Array<(socket: Socket) => void>;
  const open = new Set<Socket>();
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.setTimeout(FIRST_BYTE_MS, () => socket.destroy());
    socket.once('close', () => open.delete(socket));
    socket.once('data', (first: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      // Handed back unread: the TLS layer takes what the socket holds before reading on.
      socket.unshift(first);
      if (first[0] === TLS_HANDSHAKE) for (const listener of startTls) listener.call(server, socket);
      else
        writeRawError(
          socket,
          new BadRequestError('this daemon serves its control API over TLS only: use https:// (--daemon-url https://HOST:PORT)'),
        );
    });
  });
  const closeAllConnections = server.closeAllConnections.bind(server);
  server.closeAllConnections = () => {
    for (const socket of open) socket.destroy();
    closeAllConnections();
  };
}

/**
 * Serves the certificate and key anew on SIGHUP, and when their files change (checked every
 * `intervalMs`): connections already open keep theirs. Files that cannot be served are reported
 * and the current ones kept. Answers a function that stops watching.
 */
export function reloadServerTls(
  server: Server,
  tls: DaemonTls,
  report: (outcome: { error?: Error; trigger: string }) => void,
  intervalMs = 1000,
): () => void {
  const reload = (trigger: string) => {
    try {
      server.setSecureContext(readServerTls(tls)!);
      report({ trigger });
    } catch (error) {
      report({ trigger, error: error as Error });
    }
  };
  // A swap writes the certificate and the key one after the other: one reload once both are written.
  let pending: NodeJS.Timeout | undefined;
  const onChange = () => {
    clearTimeout(pending);
    pending = setTimeout(() => reload('a changed file'), intervalMs / 2);
  };
  const onHangup = () => reload('SIGHUP');
  const files = [tls.cert, tls.key, tls.clientCa].filter((file): file is string => file !== undefined);
  for (const file of files) watchFile(file, { interval: intervalMs }, onChange);
  process.on('SIGHUP', onHangup);
  return () => {
    clearTimeout(pending);
    for (const file of files) unwatchFile(file, onChange);
    process.off('SIGHUP', onHangup);
  };
}
