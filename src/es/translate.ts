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
  if (error instanceof errors.ConnectionError) {
    return new ElasticsearchUnreachableError(
      `cannot reach Elasticsearch at ${url} while ${doing} (${error.message}); start it, or point ES_URL / --es-url at a running cluster`,
      { cause: error },
    );
  }
  if (error instanceof errors.ProductNotSupportedError) {
    return new ElasticsearchUnreachableError(`the server at ${url} is not Elasticsearch; check ES_URL / --es-url`, { cause: error });
  }
  return new ElasticsearchError(`Elasticsearch error while ${doing}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}

function translateResponse(error: errors.ResponseError, url: string, doing: string): FeederError {
  const status = error.meta.statusCode ?? 0;
  if (status === 401) {
    return new ElasticsearchAuthError(
      `Elasticsearch at ${url} rejected the credentials (401) while ${doing}; check ES_API_KEY or --es-username/--es-password`,
      { cause: error },
    );
  }
  if (status === 403) {
    return new ElasticsearchAuthError(`the credentials are not allowed to do this on ${url} (403) while ${doing}: ${reasonOf(error)}`, {
      cause: error,
    });
  }
  return new ElasticsearchStatusError(status, typeOf(error), `Elasticsearch answered ${status} while ${doing}: ${reasonOf(error)}`, {
    cause: error,
  });
}

type ErrorBody = { error?: { type?: string; reason?: string } | string; found?: boolean } | undefined;

function typeOf(error: errors.ResponseError): string | undefined {
  const body = error.meta.body as ErrorBody;
  if (typeof body?.error === 'object') return body.error.type;
  if (body?.found === false) return 'not_found';
  return undefined;
}

function reasonOf(error: errors.ResponseError): string {
  const body = error.meta.body as ErrorBody;
  if (typeof body?.error === 'string') return body.error;
  if (body?.error?.reason) return `${body.error.type}: ${body.error.reason}`;
  if (body?.found === false) return 'document not found';
  return error.message;
}
