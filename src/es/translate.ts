import { errors } from '@elastic/elasticsearch';
import {
  AbortedError,
  ElasticsearchAuthError,
  ElasticsearchError,
  ElasticsearchUnreachableError,
  FeederError,
  TimeoutError,
} from '../errors.js';

/** An HTTP answer other than 2xx; `status` and `type` let callers decide what it means. */
export class ElasticsearchStatusError extends ElasticsearchError {
  constructor(
    readonly status: number,
    readonly type: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function hasStatus(error: unknown, status: number): error is ElasticsearchStatusError {
  return error instanceof ElasticsearchStatusError && error.status === status;
}

/**
 * The one place that knows the client's error types: everything past it sees only FeederErrors.
 * `url` must already be redacted.
 */
export function translateEsError(error: unknown, url: string, doing: string): FeederError {
  if (error instanceof FeederError) return error;
  if (error instanceof errors.ResponseError) return translateResponse(error, url, doing);
  if (error instanceof errors.RequestAbortedError || (error as Error)?.name === 'AbortError') {
    return new AbortedError(`${doing} was cancelled`, { cause: error });
  }
  if (error instanceof errors.TimeoutError) {
    return new TimeoutError(`Elasticsearch at ${url} did not answer in time while ${doing}`, { cause: error });
  }
  if (error instanceof errors.ConnectionError) return unreachableError(url, doing, error);
  if (error instanceof errors.ProductNotSupportedError) {
    return new ElasticsearchUnreachableError(`the server at ${url} is not Elasticsearch; check ES_URL / --es-url`, { cause: error });
  }
  return new ElasticsearchError(`Elasticsearch error while ${doing}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}

function translateResponse(error: errors.ResponseError, url: string, doing: string): FeederError {
  return statusError(error.meta.statusCode ?? 0, error.meta.body, url, doing, error);
}

export function unreachableError(url: string, doing: string, cause: Error): ElasticsearchUnreachableError {
  const certificate = certificateProblem(cause);
  if (certificate)
    return new ElasticsearchUnreachableError(
      `Elasticsearch at ${url} ${CERTIFICATE_ADVICE[certificate]}, while ${doing} (${cause.message})`,
      { cause },
    );
  // A plain-HTTP request to a port that speaks TLS is dropped without an answer.
  const https =
    url.startsWith('http:') && /other side closed|socket hang up|ECONNRESET/i.test(cause.message)
      ? '; if the cluster serves HTTPS, the URL must start with https://'
      : '';
  return new ElasticsearchUnreachableError(
    `cannot reach Elasticsearch at ${url} while ${doing} (${cause.message}); start it, or point ES_URL / --es-url at a running cluster${https}`,
    { cause },
  );
}

export type CertificateProblem = 'untrusted' | 'wrong-host' | 'expired';

const CERTIFICATE_ADVICE: Record<CertificateProblem, string> = {
  untrusted:
    'presented a TLS certificate that is not trusted here; give the CA that signed it with --ca-certs / ES_CA_CERTS (or, for a test cluster only, --insecure / ES_INSECURE=true)',
  'wrong-host':
    'presented a TLS certificate issued for another name; use the host name (or IP) the certificate names in ES_URL / --es-url, or have the certificate reissued with this one',
  expired: "presented a TLS certificate outside its validity dates; renew the certificate on the cluster, or check this machine's clock",
};

export const CERTIFICATE_CODES: Record<string, CertificateProblem> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'untrusted',
  UNABLE_TO_GET_ISSUER_CERT: 'untrusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'untrusted',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'untrusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'untrusted',
  CERT_UNTRUSTED: 'untrusted',
  ERR_TLS_CERT_ALTNAME_INVALID: 'wrong-host',
  CERT_HAS_EXPIRED: 'expired',
  CERT_NOT_YET_VALID: 'expired',
};

const CERTIFICATE_MESSAGES: Array<[RegExp, CertificateProblem]> = [
  [/unable to verify the first certificate|self[- ]signed certificate|unable to get (local )?issuer certificate/i, 'untrusted'],
  [/does not match certificate's altnames/i, 'wrong-host'],
  [/certificate has expired|certificate is not yet valid/i, 'expired'],
];

/** Why the server's certificate was refused, from the cause chain as the client wraps it; null when it was not. */
export function certificateProblem(error: unknown): CertificateProblem | null {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code && CERTIFICATE_CODES[code]) return CERTIFICATE_CODES[code];
    const byMessage = CERTIFICATE_MESSAGES.find(([pattern]) => pattern.test(e.message));
    if (byMessage) return byMessage[1];
  }
  return null;
}

/** An answer other than 2xx, from its status and (parsed) body, as the error an operator can act on. */
export function statusError(status: number, body: unknown, url: string, doing: string, cause?: unknown): FeederError {
  if (status === 401) {
    return new ElasticsearchAuthError(
      `Elasticsearch at ${url} rejected the credentials (401) while ${doing}; check ES_API_KEY or --es-username/--es-password`,
      { cause },
    );
  }
  if (status === 403) {
    return new ElasticsearchAuthError(
      `the credentials are not allowed to do this on ${url} (403) while ${doing}: ${reasonOf(body, status, cause)}`,
      { cause },
    );
  }
  return new ElasticsearchStatusError(
    status,
    typeOf(body),
    `Elasticsearch answered ${status} while ${doing}: ${reasonOf(body, status, cause)}`,
    { cause },
  );
}

type ErrorBody = { error?: { type?: string; reason?: string } | string; found?: boolean } | undefined;

function typeOf(raw: unknown): string | undefined {
  const body = raw as ErrorBody;
  if (typeof body?.error === 'object') return body.error.type;
  if (body?.found === false) return 'not_found';
  return undefined;
}

function reasonOf(raw: unknown, status: number, cause: unknown): string {
  const body = raw as ErrorBody;
  if (typeof body?.error === 'string') return body.error;
  if (body?.error?.reason) return `${body.error.type}: ${body.error.reason}`;
  if (body?.found === false) return 'document not found';
  if (typeof raw === 'string' && raw.length > 0) return raw.slice(0, 300);
  return cause instanceof Error ? cause.message : `HTTP ${status}`;
}
