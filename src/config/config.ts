import { existsSync, readFileSync } from 'node:fs';
import { InvalidArgumentError } from '../errors.js';
import { PROTOCOL_ENV } from '../native/native-env.js';
import { MAX_ROWS } from '../native/token-ids.js';
import { DEFAULT_ENCODING, parseEncoding, type ChunkEncoding } from '../chunks/codec/codec.js';
import { validateDaemonAddresses } from './daemon-address.js';
import { defaultNativeCommand } from './paths.js';
import { readSecretFile, resolveSecret } from './secret-file.js';
import { parseByteSize, parseDuration } from './units.js';

export type HeaderKind = 'u32' | 'u64';

export interface ElasticsearchConfig {
  url: string;
  apiKey?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  caCerts?: string | undefined;
  insecure: boolean;
  requestTimeoutMs: number;
}

export interface FeederConfig {
  elasticsearch: ElasticsearchConfig;
  upload: {
    chunkSize: number;
    /** Bulk request bodies are cut at about this many bytes (at least one chunk each). */
    bulkBytes: number;
    /** Bulk requests in flight at once (base64). */
    concurrency: number;
    /** How new uploads store their chunks: `cbor` or `base64` (src/chunks/codec/). */
    encoding: ChunkEncoding;
    /** Single-document requests in flight at once (CBOR chunks, which `_bulk` does not take). */
    documentConcurrency: number;
    /** Models larger than this get a chunk index of their own, so deleting one is an index delete. */
    dedicatedIndexThreshold: number;
  };
  deploy: {
    command: string;
    args: string[];
    header: HeaderKind;
    /** Chunk fetches in flight ahead of the one being written. */
    prefetch: number;
    /** From spawn to a verified `loaded` report. */
    timeoutMs: number;
    /** A load in which no model byte moved for this long fails as stalled, whatever `timeoutMs`. */
    stallTimeoutMs: number;
    /** Inference requests a deployment holds unanswered at most; more are refused with 429 (Elastic ML's default). */
    queueCapacity: number;
    /** Dynamic batching: rows one frame to the native process carries at most; 1 sends each request alone. */
    maxBatchSize: number;
    /** How long a request may wait for others to share its frame; 0 (as Triton's default) batches only what already waits. */
    maxQueueDelayMs: number;
    /** Variables the native process gets besides the platform set (src/native/native-env.ts); nothing else of the daemon's environment reaches it. */
    env: Record<string, string>;
  };
  daemon: {
    /** Daemon name: its deployments are kept in Elasticsearch under it, so several daemons can share a cluster. */
    name: string;
    /** `HOST:PORT`, `[IPv6]:PORT` or `unix:/path/to/socket` (mode 0600); beyond loopback only with a token (src/config/daemon-address.ts). */
    listen: string;
    /** The address other daemons and clients reach this one at, `HOST[:PORT]`; by default the one listened on (src/daemon/advertise.ts). */
    advertise?: string | undefined;
    /** When set, the control API wants `Authorization: Bearer <token>` (all but /healthz). */
    token?: string | undefined;
    /** A file of mode 0600 holding the token, which then appears in no command line. */
    tokenFile?: string | undefined;
    /** Where the CLI finds the daemon, `http://HOST:PORT` or `https://HOST:PORT`, when not at `listen`: a daemon on another host. */
    url?: string | undefined;
    /** The control API's TLS (src/api/tls.ts): PEM files; the key of mode 0600. */
    tls: DaemonTls;
    /** A PEM file of the CAs that sign daemons' certificates: the CLI and fleet forwarding check the daemon they reach against it. */
    caCerts?: string | undefined;
    /** Plain HTTP beyond loopback, which the daemon otherwise refuses: the token and every inference cross the network in clear. */
    insecurePlainHttp: boolean;
    /** Restarts of a native process that died, before the deployment is marked failed. */
    maxRestarts: number;
    /** Restarts are counted within this window: a crash now and then never fails a deployment, a crash loop does. */
    restartWindowMs: number;
    restartBackoffMs: number;
    /** Models loading at once: loading holds a whole model in the native process's memory. */
    maxConcurrentLoads: number;
    /** How long a native process gets after SIGTERM before SIGKILL. */
    stopGraceMs: number;
    inferenceTimeoutMs: number;
    /**
     * How long a command waits for the daemon's answer. A call in which the daemon waits on purpose
     * (a deploy's --timeout, an inference, an undeploy's grace) gets this on top of that wait.
     */
    requestTimeoutMs: number;
    /** How often the daemon renews its lease on `name` in `.feeder-daemons`. */
    heartbeatMs: number;
    /** How long a lease lasts unrenewed: a daemon silent that long is taken to be gone. */
    leaseMs: number;
    /**
     * The fleet this daemon belongs to (FEEDER_FLEET, --fleet). Daemons of one fleet share its
     * deployments: `deploy --allocations N` asks the fleet, and each allocation runs on one of them.
     * Unset: the daemon runs only what is deployed on it.
     */
    fleet?: string | undefined;
    /** Fleet allocations this daemon holds at most. */
    maxModels: number;
    /** Fleet allocations this daemon holds at most, by model size in bytes (a number or e.g. '8GiB'); unset: no limit. */
    memoryBudget?: number | string | undefined;
    /** How often a fleet member reads the fleet's state, claims what is free and reports what it holds. */
    reconcileMs: number;
    /** Daemons an allocation may fail to load on before the fleet's deployment of it is failed. */
    maxAllocationAttempts: number;
    /** Allocations moved toward a daemon that joins or frees capacity: at most this many moves started per minute across the fleet; 0 moves none. */
    rebalance: { maxMovesPerMinute: number };
  };
  log: { level: string };
}

export interface DaemonTls {
  cert?: string | undefined;
  key?: string | undefined;
  /** When set, a client (a fleet member, the CLI) must present a certificate this CA signed, checked before anything it sends. */
  clientCa?: string | undefined;
}

export const CHUNK_SIZE_MIN = 64 * 1024;
export const CHUNK_SIZE_MAX = 64 * 1024 * 1024;

export function defaultConfig(): FeederConfig {
  return {
    elasticsearch: {
      url: 'http://127.0.0.1:9200',
      apiKey: undefined,
      username: undefined,
      password: undefined,
      caCerts: undefined,
      insecure: false,
      requestTimeoutMs: 60_000,
    },
    upload: {
      // Chosen by the chunk-size sweep of `npm run bench:upload` and the deploy benchmark's memory (docs/benchmarks.md).
      chunkSize: 1024 * 1024,
      bulkBytes: 8 * 1024 * 1024,
      concurrency: 2,
      encoding: DEFAULT_ENCODING,
      documentConcurrency: 4,
      dedicatedIndexThreshold: 1024 ** 3,
    },
    deploy: {
      command: defaultNativeCommand(),
      args: [],
      header: 'u32',
      prefetch: 3,
      timeoutMs: 10 * 60_000,
      stallTimeoutMs: 30_000,
      queueCapacity: 10_000,
      maxBatchSize: 32,
      maxQueueDelayMs: 0,
      env: {},
    },
    daemon: {
      name: 'default',
      listen: '127.0.0.1:9465',
      advertise: undefined,
      token: undefined,
      tokenFile: undefined,
      url: undefined,
      tls: { cert: undefined, key: undefined, clientCa: undefined },
      caCerts: undefined,
      insecurePlainHttp: false,
      maxRestarts: 3,
      restartWindowMs: 60 * 60_000,
      restartBackoffMs: 1000,
      maxConcurrentLoads: 1,
      stopGraceMs: 5000,
      inferenceTimeoutMs: 30_000,
      // Loopback answers take milliseconds: a daemon silent this long is stuck or not a daemon.
      requestTimeoutMs: 10_000,
      heartbeatMs: 5000,
      leaseMs: 15_000,
      fleet: undefined,
      maxModels: 8,
      memoryBudget: undefined,
      reconcileMs: 1000,
      maxAllocationAttempts: 3,
      // One move at a time, each a model load: a few a minute even out a joining daemon without thrashing.
      rebalance: { maxMovesPerMinute: 6 },
    },
    log: { level: 'info' },
  };
}

/** What the command line may override; undefined means "not given". */
export interface ConfigOverrides {
  config?: string | undefined;
  esUrl?: string | undefined;
  esApiKey?: string | undefined;
  esApiKeyFile?: string | undefined;
  esUsername?: string | undefined;
  esPassword?: string | undefined;
  esPasswordFile?: string | undefined;
  caCerts?: string | undefined;
  insecure?: boolean | undefined;
  chunkSize?: string | undefined;
  logLevel?: string | undefined;
  listen?: string | undefined;
  fleet?: string | undefined;
  advertise?: string | undefined;
  tokenFile?: string | undefined;
  daemonUrl?: string | undefined;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  daemonCaCerts?: string | undefined;
  insecurePlainHttp?: boolean | undefined;
}

/** Defaults, then the config file, then environment variables, then flags. */
export function loadConfig(flags: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): FeederConfig {
  const config = defaultConfig();
  mergeFile(config, flags.config ?? env.FEEDER_CONFIG);
  mergeEnv(config, env);
  mergeFlags(config, flags);
  return validateConfig(config);
}

function mergeFile(config: FeederConfig, explicitPath: string | undefined): void {
  const path = explicitPath ?? 'config/feeder.json';
  if (!existsSync(path)) {
    if (explicitPath) throw new InvalidArgumentError(`config file '${explicitPath}' does not exist`);
    return;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new InvalidArgumentError(`config file '${path}' is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  deepAssign(config as unknown as Record<string, unknown>, parsed, path);
  const { daemon } = config;
  daemon.token = resolveSecret({ value: daemon.token, file: daemon.tokenFile, names: ['daemon.token', 'daemon.tokenFile'], kind: 'token' });
}

function mergeEnv(config: FeederConfig, env: NodeJS.ProcessEnv): void {
  const es = config.elasticsearch;
  if (env.ES_URL) es.url = env.ES_URL;
  const apiKey = resolveSecret({
    value: env.ES_API_KEY || undefined,
    file: env.ES_API_KEY_FILE || undefined,
    names: ['ES_API_KEY', 'ES_API_KEY_FILE'],
    kind: 'API key',
  });
  if (apiKey !== undefined) es.apiKey = apiKey;
  if (env.ES_USERNAME) es.username = env.ES_USERNAME;
  const password = resolveSecret({
    value: env.ES_PASSWORD || undefined,
    file: env.ES_PASSWORD_FILE || undefined,
    names: ['ES_PASSWORD', 'ES_PASSWORD_FILE'],
    kind: 'password',
  });
  if (password !== undefined) es.password = password;
  if (env.ES_CA_CERTS) es.caCerts = env.ES_CA_CERTS;
  if (env.ES_INSECURE) es.insecure = env.ES_INSECURE === 'true' || env.ES_INSECURE === '1';
  if (env.FEEDER_NATIVE_COMMAND) config.deploy.command = env.FEEDER_NATIVE_COMMAND;
  if (env.FEEDER_LOG_LEVEL) config.log.level = env.FEEDER_LOG_LEVEL;
  if (env.FEEDER_LISTEN) config.daemon.listen = env.FEEDER_LISTEN;
  const token = resolveSecret({
    value: env.FEEDER_TOKEN || undefined,
    file: env.FEEDER_TOKEN_FILE || undefined,
    names: ['FEEDER_TOKEN', 'FEEDER_TOKEN_FILE'],
    kind: 'token',
  });
  if (token !== undefined) config.daemon.token = token;
  if (env.FEEDER_ADVERTISE) config.daemon.advertise = env.FEEDER_ADVERTISE;
  if (env.FEEDER_DAEMON_URL) config.daemon.url = env.FEEDER_DAEMON_URL;
  if (env.FEEDER_TLS_CERT) config.daemon.tls.cert = env.FEEDER_TLS_CERT;
  if (env.FEEDER_TLS_KEY) config.daemon.tls.key = env.FEEDER_TLS_KEY;
  if (env.FEEDER_TLS_CLIENT_CA) config.daemon.tls.clientCa = env.FEEDER_TLS_CLIENT_CA;
  if (env.FEEDER_DAEMON_CA_CERTS) config.daemon.caCerts = env.FEEDER_DAEMON_CA_CERTS;
  if (env.FEEDER_INSECURE_PLAIN_HTTP)
    config.daemon.insecurePlainHttp = env.FEEDER_INSECURE_PLAIN_HTTP === 'true' || env.FEEDER_INSECURE_PLAIN_HTTP === '1';
  if (env.FEEDER_DAEMON_NAME) config.daemon.name = env.FEEDER_DAEMON_NAME;
  if (env.FEEDER_FLEET) config.daemon.fleet = env.FEEDER_FLEET;
  if (env.FEEDER_REQUEST_TIMEOUT) config.daemon.requestTimeoutMs = parseDuration(env.FEEDER_REQUEST_TIMEOUT, 'FEEDER_REQUEST_TIMEOUT');
}

function mergeFlags(config: FeederConfig, flags: ConfigOverrides): void {
  const es = config.elasticsearch;
  if (flags.esUrl !== undefined) es.url = flags.esUrl;
  const apiKey = resolveSecret({
    value: flags.esApiKey,
    file: flags.esApiKeyFile,
    names: ['--es-api-key', '--es-api-key-file'],
    kind: 'API key',
  });
  if (apiKey !== undefined) es.apiKey = apiKey;
  if (flags.esUsername !== undefined) es.username = flags.esUsername;
  const password = resolveSecret({
    value: flags.esPassword,
    file: flags.esPasswordFile,
    names: ['--es-password', '--es-password-file'],
    kind: 'password',
  });
  if (password !== undefined) es.password = password;
  if (flags.caCerts !== undefined) es.caCerts = flags.caCerts;
  if (flags.insecure !== undefined) es.insecure = flags.insecure;
  if (flags.chunkSize !== undefined) config.upload.chunkSize = parseByteSize(flags.chunkSize, '--chunk-size');
  if (flags.logLevel !== undefined) config.log.level = flags.logLevel;
  if (flags.listen !== undefined) config.daemon.listen = flags.listen;
  if (flags.fleet !== undefined) config.daemon.fleet = flags.fleet;
  if (flags.advertise !== undefined) config.daemon.advertise = flags.advertise;
  if (flags.tokenFile !== undefined) config.daemon.token = readSecretFile(flags.tokenFile, 'token', '--token-file');
  if (flags.daemonUrl !== undefined) config.daemon.url = flags.daemonUrl;
  if (flags.tlsCert !== undefined) config.daemon.tls.cert = flags.tlsCert;
  if (flags.tlsKey !== undefined) config.daemon.tls.key = flags.tlsKey;
  if (flags.daemonCaCerts !== undefined) config.daemon.caCerts = flags.daemonCaCerts;
  if (flags.insecurePlainHttp !== undefined) config.daemon.insecurePlainHttp = flags.insecurePlainHttp;
}

function validateConfig(config: FeederConfig): FeederConfig {
  const { upload, deploy } = config;
  upload.chunkSize = parseByteSize(upload.chunkSize, 'upload.chunkSize');
  upload.bulkBytes = parseByteSize(upload.bulkBytes, 'upload.bulkBytes');
  upload.dedicatedIndexThreshold = parseByteSize(upload.dedicatedIndexThreshold, 'upload.dedicatedIndexThreshold');
  deploy.timeoutMs = typeof deploy.timeoutMs === 'string' ? parseDuration(deploy.timeoutMs, 'deploy.timeoutMs') : deploy.timeoutMs;
  deploy.stallTimeoutMs = requireMilliseconds(deploy.stallTimeoutMs, 'deploy.stallTimeoutMs');
  const daemon = config.daemon;
  daemon.requestTimeoutMs =
    typeof daemon.requestTimeoutMs === 'string'
      ? parseDuration(daemon.requestTimeoutMs, 'daemon.requestTimeoutMs')
      : daemon.requestTimeoutMs;
  esUrls(config.elasticsearch.url);
  if (deploy.header !== 'u32' && deploy.header !== 'u64') {
    throw new InvalidArgumentError(`deploy.header must be 'u32' or 'u64'; got '${String(deploy.header)}'`);
  }
  requirePositiveInteger(upload.concurrency, 'upload.concurrency');
  requirePositiveInteger(upload.documentConcurrency, 'upload.documentConcurrency');
  upload.encoding = parseEncoding(String(upload.encoding), 'upload.encoding');
  requirePositiveInteger(deploy.prefetch, 'deploy.prefetch');
  requirePositiveInteger(config.daemon.maxConcurrentLoads, 'daemon.maxConcurrentLoads');
  requirePositiveInteger(deploy.queueCapacity, 'deploy.queueCapacity');
  validateBatching(deploy, 'deploy.maxBatchSize', 'deploy.maxQueueDelayMs');
  deploy.env = requireEnvironment(deploy.env, 'deploy.env');
  requirePositiveInteger(config.daemon.restartWindowMs, 'daemon.restartWindowMs');
  requirePositiveInteger(daemon.requestTimeoutMs, 'daemon.requestTimeoutMs (FEEDER_REQUEST_TIMEOUT)');
  validateLease(config.daemon);
  validateFleet(config.daemon);
  validateDaemonAddresses(config.daemon);
  return config;
}

/** A frame carries at most MAX_ROWS rows, which the process accepts; the delay is a whole number of ms, 0 included. */
export function validateBatching(
  batching: { maxBatchSize?: unknown; maxQueueDelayMs?: unknown },
  sizeName: string,
  delayName: string,
): void {
  const { maxBatchSize: size, maxQueueDelayMs: delay } = batching;
  if (size !== undefined && !(Number.isSafeInteger(size) && (size as number) >= 1 && (size as number) <= MAX_ROWS))
    throw new InvalidArgumentError(`${sizeName} must be a whole number from 1 (no batching) to ${MAX_ROWS}; got ${JSON.stringify(size)}`);
  if (delay !== undefined && !(Number.isSafeInteger(delay) && (delay as number) >= 0 && (delay as number) <= MAX_QUEUE_DELAY_MS))
    throw new InvalidArgumentError(
      `${delayName} must be a whole number of milliseconds from 0 (batch only what already waits) to ${MAX_QUEUE_DELAY_MS}; got ${JSON.stringify(delay)}`,
    );
}

/** A second of delay added to every request would be a misconfiguration, not batching. */
const MAX_QUEUE_DELAY_MS = 1000;

/** A duration setting: milliseconds as a number, or a string such as `30s`; at least 1 ms. */
function requireMilliseconds(value: unknown, what: string): number {
  const ms = typeof value === 'string' && /^\s*\d/.test(value) ? parseDuration(value, what) : value;
  if (typeof ms === 'number' && Number.isSafeInteger(ms) && ms >= 1) return ms;
  throw new InvalidArgumentError(
    `${what} must be at least 1 ms, given in milliseconds (30000) or as a duration ('30s'); got '${String(value)}'`,
  );
}

function validateLease({ heartbeatMs, leaseMs }: FeederConfig['daemon']): void {
  requirePositiveInteger(heartbeatMs, 'daemon.heartbeatMs');
  requirePositiveInteger(leaseMs, 'daemon.leaseMs');
  if (heartbeatMs >= leaseMs) {
    throw new InvalidArgumentError(
      `daemon.heartbeatMs (${heartbeatMs}) must be shorter than daemon.leaseMs (${leaseMs}): a lease renewed less often than it lasts expires while its daemon runs; a lease of 3 heartbeats is usual`,
    );
  }
}

const FLEET_NAME = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

function validateFleet(daemon: FeederConfig['daemon']): void {
  requirePositiveInteger(daemon.maxModels, 'daemon.maxModels');
  requirePositiveInteger(daemon.reconcileMs, 'daemon.reconcileMs');
  requirePositiveInteger(daemon.maxAllocationAttempts, 'daemon.maxAllocationAttempts');
  const moves = daemon.rebalance.maxMovesPerMinute;
  if (!Number.isSafeInteger(moves) || moves < 0)
    throw new InvalidArgumentError(`daemon.rebalance.maxMovesPerMinute must be a whole number, 0 or more; got ${JSON.stringify(moves)}`);
  if (daemon.memoryBudget !== undefined && daemon.memoryBudget !== null)
    daemon.memoryBudget = parseByteSize(daemon.memoryBudget, 'daemon.memoryBudget');
  if (daemon.fleet === undefined || daemon.fleet === null) return;
  if (typeof daemon.fleet !== 'string' || !FLEET_NAME.test(daemon.fleet))
    throw new InvalidArgumentError(
      `daemon.fleet (FEEDER_FLEET, --fleet) must be 1 to 64 lowercase letters, digits, '_', '.' or '-', starting with a letter or digit; got ${JSON.stringify(daemon.fleet)}`,
    );
  if (daemon.name.includes('/')) throw new InvalidArgumentError(`daemon.name must not contain '/' in a fleet; got '${daemon.name}'`);
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** An environment for a child process: names a shell would take, string values (a number must be written as one). */
function requireEnvironment(value: unknown, what: string): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(`${what} must be an object of NAME: "value"; got ${JSON.stringify(value)}`);
  }
  for (const [name, entry] of Object.entries(value)) {
    if (!ENV_NAME.test(name))
      throw new InvalidArgumentError(`${what}: '${name}' is not a variable name (letters, digits and _, not starting with a digit)`);
    if (typeof entry !== 'string') {
      const hint = typeof entry === 'number' || typeof entry === 'boolean' ? ` (write "${entry}")` : '';
      throw new InvalidArgumentError(`${what}.${name} must be a string; got ${JSON.stringify(entry)}${hint}`);
    }
    if (entry.includes('\0')) throw new InvalidArgumentError(`${what}.${name} must not contain a NUL byte`);
    if ((PROTOCOL_ENV as readonly string[]).includes(name))
      throw new InvalidArgumentError(
        `${what}.${name} is set by the daemon itself (the protocol version, the size header's width from deploy.header, the workers and threads from 'feeder deploy --workers --threads-per-worker'); remove it from ${what}, and set deploy.header or those flags instead`,
      );
  }
  return { ...(value as Record<string, string>) };
}

function requirePositiveInteger(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new InvalidArgumentError(`${what} must be a whole number of at least 1; got '${value}'`);
}

/** Settings whose keys are the operator's own names, not ours: taken whole from the file, checked by validateConfig. */
const OPEN_MAPS = new Set(['deploy.env']);

function deepAssign(target: Record<string, unknown>, source: unknown, path: string, prefix = ''): void {
  if (typeof source !== 'object' || source === null || Array.isArray(source)) {
    throw new InvalidArgumentError(`config file '${path}': '${prefix || '(top level)'}' must be an object`);
  }
  for (const [key, value] of Object.entries(source)) {
    const where = prefix ? `${prefix}.${key}` : key;
    if (!(key in target)) throw new InvalidArgumentError(`config file '${path}': unknown setting '${where}'`);
    const current = target[key];
    if (typeof current === 'object' && current !== null && !Array.isArray(current) && !OPEN_MAPS.has(where)) {
      deepAssign(current as Record<string, unknown>, value, path, where);
    } else {
      target[key] = value;
    }
  }
}

// Where the daemon is, and who may reach it: src/config/daemon-address.ts.
export { parseListenAddress, type ListenAddress } from './daemon-address.js';

/**
 * The URLs of `elasticsearch.url` (ES_URL, --es-url): one, or several nodes of one cluster
 * comma-separated, all of one scheme. Requests go to one node and move to another when it cannot
 * be reached.
 */
export function esUrls(url: string): string[] {
  const urls = url.split(',').map((part) => part.trim());
  const schemes = new Set<string>();
  for (const part of urls) {
    let parsed: URL;
    try {
      parsed = new URL(part);
    } catch {
      const which = urls.length > 1 ? `'${redactedForMessage(part)}' in '${redactedList(urls)}'` : `'${redactedForMessage(part)}'`;
      throw new InvalidArgumentError(
        `the Elasticsearch URL ${which} is not a URL; set ES_URL or --es-url to e.g. http://127.0.0.1:9200, or to several nodes of one cluster comma-separated (http://10.0.0.1:9200,http://10.0.0.2:9200)`,
      );
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new InvalidArgumentError(
        `the Elasticsearch URL '${redactedForMessage(part)}' is not an http or https URL; set ES_URL or --es-url to e.g. http://127.0.0.1:9200`,
      );
    }
    schemes.add(parsed.protocol);
  }
  if (schemes.size > 1) {
    throw new InvalidArgumentError(
      `the Elasticsearch URLs '${redactedList(urls)}' mix ${[...schemes].map((s) => s.replace(':', '')).join(' and ')}; the nodes of one cluster are all http or all https`,
    );
  }
  return urls;
}

/** A URL for a message: any user:password in it removed, or the text as given when it is no URL. */
function redactedForMessage(text: string): string {
  try {
    const parsed = new URL(text);
    if (parsed.protocol === 'http:' || parsed.protocol === 'https:') {
      if (!parsed.username && !parsed.password) return text;
      parsed.username = '';
      parsed.password = '';
      return parsed.toString().replace(/\/$/, '');
    }
  } catch {
    // Redacted below.
  }
  // Not an http(s) URL: whatever sits before an '@' may be a password.
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^/@]*@/i, '$1');
}

function redactedList(urls: string[]): string {
  return urls.map(redactedForMessage).join(',');
}
