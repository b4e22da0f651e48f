import type { Options } from 'yargs';

/** Connection options, named as Eland names them so Elastic users feel at home. */
export const globalOptions: Record<string, Options> = {
  'es-url': {
    type: 'string',
    describe: 'Elasticsearch URL, or several nodes of one cluster comma-separated [env ES_URL] (default http://127.0.0.1:9200)',
    group: 'Connection:',
  },
  'es-api-key': {
    type: 'string',
    describe: 'API key (base64 id:key) [env ES_API_KEY]; every user sees it in ps: prefer the env or --es-api-key-file',
    group: 'Connection:',
  },
  'es-api-key-file': { type: 'string', describe: 'file of mode 0600 holding the API key [env ES_API_KEY_FILE]', group: 'Connection:' },
  'es-username': { type: 'string', describe: 'user name for basic auth [env ES_USERNAME]', group: 'Connection:' },
  'es-password': {
    type: 'string',
    describe: 'password for basic auth [env ES_PASSWORD]; every user sees it in ps: prefer the env or --es-password-file',
    group: 'Connection:',
  },
  'es-password-file': { type: 'string', describe: 'file of mode 0600 holding the password [env ES_PASSWORD_FILE]', group: 'Connection:' },
  'ca-certs': { type: 'string', describe: 'PEM file of CA certificates to trust [env ES_CA_CERTS]', group: 'Connection:' },
  insecure: { type: 'boolean', describe: 'do not verify the TLS certificate (testing only) [env ES_INSECURE]', group: 'Connection:' },
  listen: {
    type: 'string',
    describe:
      "the daemon's control API: HOST:PORT, [IPv6]:PORT, 0.0.0.0:PORT or unix:/path; beyond loopback only with a token and TLS [env FEEDER_LISTEN] (default 127.0.0.1:9465)",
    group: 'Daemon:',
  },
  'token-file': {
    type: 'string',
    describe: "file of mode 0600 holding the control API's bearer token [env FEEDER_TOKEN_FILE; or the token itself in FEEDER_TOKEN]",
    group: 'Daemon:',
  },
  'daemon-url': {
    type: 'string',
    describe:
      'a daemon elsewhere for this command to talk to: https://HOST:PORT or http://HOST:PORT [env FEEDER_DAEMON_URL] (default: the one at --listen)',
    group: 'Daemon:',
  },
  'daemon-ca-certs': {
    type: 'string',
    describe: "PEM file of the CAs that sign daemons' TLS certificates, for the CLI and fleet forwarding [env FEEDER_DAEMON_CA_CERTS]",
    group: 'Daemon:',
  },
  'tls-cert': {
    type: 'string',
    describe:
      "PEM certificate the control API serves over TLS; the CLI's client certificate for a daemon that wants one [env FEEDER_TLS_CERT]",
    group: 'Daemon:',
  },
  'tls-key': { type: 'string', describe: 'file of mode 0600 holding the private key of --tls-cert [env FEEDER_TLS_KEY]', group: 'Daemon:' },
  fleet: {
    type: 'string',
    describe:
      'the fleet this daemon joins: daemons of one fleet share its deployments [env FEEDER_FLEET] (default: none, the daemon runs only what is deployed on it)',
    group: 'Daemon:',
  },
  config: { type: 'string', describe: 'JSON config file [env FEEDER_CONFIG] (default config/feeder.json if present)', group: 'General:' },
  'log-level': { type: 'string', describe: 'trace, debug, info, warn, error [env FEEDER_LOG_LEVEL]', group: 'General:' },
};
