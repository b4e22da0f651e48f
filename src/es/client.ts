import { readFileSync } from 'node:fs';
import { Client, type ClientOptions } from '@elastic/elasticsearch';
import { esUrls, type ElasticsearchConfig } from '../config/config.js';
import { InvalidArgumentError } from '../errors.js';

export type { Client };

export function createEsClient(config: ElasticsearchConfig): Client {
  const urls = esUrls(config.url);
  const options: ClientOptions = {
    ...(urls.length > 1 ? { nodes: urls } : { node: urls[0]! }),
    // Retries with backoff are ours (src/es/retry.ts), only where resuming is safe. With several
    // nodes, a request whose node cannot be reached goes to another one at once (the client marks
    // that node dead for a while): one try per node.
    maxRetries: urls.length - 1,
    requestTimeout: config.requestTimeoutMs,
    compression: false,
  };
  if (config.apiKey) options.auth = { apiKey: config.apiKey };
  else if (config.username) options.auth = { username: config.username, password: config.password ?? '' };
  if (config.caCerts || config.insecure) options.tls = tlsOptions(config);
  return new Client(options);
}

export function tlsOptions(config: ElasticsearchConfig): { ca?: Buffer; rejectUnauthorized: boolean } {
  if (!config.caCerts) return { rejectUnauthorized: !config.insecure };
  try {
    return { ca: readFileSync(config.caCerts), rejectUnauthorized: !config.insecure };
  } catch (error) {
    throw new InvalidArgumentError(
      `cannot read the CA certificates '${config.caCerts}' given by --ca-certs/ES_CA_CERTS: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** The URL(s) of `elasticsearch.url` without any user:password in them, fit for messages and logs. */
export function redactUrls(url: string): string {
  return url
    .split(',')
    .map((part) => redactUrl(part.trim()))
    .join(', ');
}

/** The URL without any user:password in it, fit for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username || parsed.password) {
      parsed.username = '';
      parsed.password = '';
    }
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return '(unparsable URL)';
  }
}
