import { Agent as HttpsAgent } from 'node:https';
import type { FeederConfig } from '../config/config.js';
import { readSecretFile } from '../config/secret-file.js';
import { certificateProblem, type CertificateProblem } from '../es/translate.js';
import { readPemFile } from './tls.js';

/** What the client's TLS refused, as the user can act on it; the daemon's answer of a refusal on its side too. */
export type TlsAdvice = Record<CertificateProblem | 'plain' | 'client-certificate', string>;

export const CLI_CA_ADVICE: TlsAdvice = {
  untrusted:
    'unknown CA: the daemon presented a TLS certificate that is not trusted here; give the CA that signed it with --daemon-ca-certs / FEEDER_DAEMON_CA_CERTS',
  'wrong-host':
    'name mismatch: the daemon presented a TLS certificate issued for another name; use the host name (or IP) the certificate names in --daemon-url / FEEDER_DAEMON_URL, or have it reissued with this one',
  expired:
    "expired: the daemon presented a TLS certificate outside its validity dates; renew it (the daemon serves a new one on SIGHUP), or check this machine's clock",
  plain: 'the daemon does not speak TLS here: it serves plain HTTP; use http://',
  'client-certificate':
    'the daemon wants a client certificate signed by its daemon.tls.clientCa; give yours with --tls-cert and --tls-key (FEEDER_TLS_CERT, FEEDER_TLS_KEY)',
};

export const FLEET_CA_ADVICE: TlsAdvice = {
  untrusted:
    "unknown CA: its TLS certificate is not signed by the fleet's CA; set daemon.caCerts (FEEDER_DAEMON_CA_CERTS, --daemon-ca-certs) on every member to the CA that signs them",
  'wrong-host':
    'name mismatch: its TLS certificate does not name the address it advertises; reissue it with that name, or advertise one it names (--advertise)',
  expired:
    "expired: its TLS certificate is outside its validity dates; renew it (a daemon serves a new one on SIGHUP), or check the machines' clocks",
  plain: 'it does not speak TLS, though its lease says it does',
  'client-certificate':
    "it wants a client certificate signed by its daemon.tls.clientCa, and this member's daemon.tls.cert is not one; give every member a certificate from that CA",
};

const PROTOCOL_PROBLEMS: Array<[RegExp, 'plain' | 'client-certificate']> = [
  [/wrong version number|packet length too long|unknown protocol|http request/i, 'plain'],
  [/alert certificate required|alert unknown ca|alert bad certificate|alert certificate unknown/i, 'client-certificate'],
];

/** Why a TLS connection failed, said with its fix; undefined when it was no TLS failure. */
export function describeTlsFailure(error: Error, advice: TlsAdvice): string | undefined {
  const certificate = certificateProblem(error);
  if (certificate) return `${advice[certificate]}: ${error.message}`;
  const protocol = PROTOCOL_PROBLEMS.find(([pattern]) => pattern.test(`${(error as NodeJS.ErrnoException).code ?? ''} ${error.message}`));
  return protocol ? `${advice[protocol[1]]}: ${error.message}` : undefined;
}

/**
 * What a client of a daemon's TLS brings: the CAs it checks the daemon against (else the system's),
 * and its own certificate for a daemon that wants one (mutual TLS). With `certificateIfReadable`,
 * a certificate or key that cannot be read is left out rather than refused: the CLI run by another
 * user with the daemon's config cannot read the daemon's key, and needs none unless the daemon
 * wants a client certificate, which its refusal then says.
 */
export function clientTlsOptions(
  { daemon }: FeederConfig,
  { certificateIfReadable = false } = {},
): { ca?: string; cert?: string; key?: string } {
  const ca =
    daemon.caCerts === undefined
      ? {}
      : { ca: readPemFile(daemon.caCerts, 'CA', 'daemon.caCerts (FEEDER_DAEMON_CA_CERTS, --daemon-ca-certs)') };
  if (daemon.tls.cert === undefined || daemon.tls.key === undefined) return ca;
  try {
    return {
      ...ca,
      cert: readPemFile(daemon.tls.cert, 'certificate', 'daemon.tls.cert (FEEDER_TLS_CERT, --tls-cert)'),
      key: readSecretFile(daemon.tls.key, 'TLS key', 'daemon.tls.key (FEEDER_TLS_KEY, --tls-key)'),
    };
  } catch (error) {
    if (certificateIfReadable) return ca;
    throw error;
  }
}

/**
 * The agent a fleet member forwards through to members that serve TLS: connections kept open, so
 * that a handshake is not paid per inference. Made anew when the member's own certificate changes.
 */
export function createForwardAgent(config: FeederConfig): HttpsAgent {
  return new HttpsAgent({ keepAlive: true, ...clientTlsOptions(config) });
}
