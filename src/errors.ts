// One error type for the project, each subclass with a stable `code` that callers match on.
// docs/errors.md lists them in one table; `exitCode` is what the CLI exits with (2 = bad usage), and
// `httpStatus` (with `httpHeaders`) what the control API answers with when a request raises it.

/** Every code the project gives an error, in the CLI's output and on the control API's wire. */
export type ErrorCode =
  | 'FEEDER_ERR'
  | 'FEEDER_ERR_INVALID_ARGUMENT'
  | 'FEEDER_ERR_INVALID_MODEL_ID'
  | 'FEEDER_ERR_SOURCE'
  | 'FEEDER_ERR_MODEL_NOT_FOUND'
  | 'FEEDER_ERR_MODEL_EXISTS'
  | 'FEEDER_ERR_MODEL_STATE'
  | 'FEEDER_ERR_CONCURRENT_MODIFICATION'
  | 'FEEDER_ERR_INTEGRITY'
  | 'FEEDER_ERR_CHUNK_MISSING'
  | 'FEEDER_ERR_ES_UNREACHABLE'
  | 'FEEDER_ERR_ES_AUTH'
  | 'FEEDER_ERR_ES'
  | 'FEEDER_ERR_NATIVE_PROCESS'
  | 'FEEDER_ERR_MODEL_UNLOADABLE'
  | 'FEEDER_ERR_TIMEOUT'
  | 'FEEDER_ERR_STALLED'
  | 'FEEDER_ERR_QUEUE_FULL'
  | 'FEEDER_ERR_ABORTED'
  | 'FEEDER_ERR_DAEMON'
  | 'FEEDER_ERR_DAEMON_RUNNING'
  | 'FEEDER_ERR_UNAVAILABLE'
  | 'FEEDER_ERR_LISTEN'
  // Answers of the control API itself (src/api/http.ts).
  | 'FEEDER_ERR_BAD_JSON'
  | 'FEEDER_ERR_BAD_PATH'
  | 'FEEDER_ERR_BAD_REQUEST'
  | 'FEEDER_ERR_FORBIDDEN'
  | 'FEEDER_ERR_CONTENT_TYPE'
  | 'FEEDER_ERR_BODY_TOO_LARGE'
  | 'FEEDER_ERR_METHOD'
  | 'FEEDER_ERR_NO_ROUTE'
  | 'FEEDER_ERR_UNAUTHORIZED'
  | 'FEEDER_ERR_INTERNAL';

export class FeederError extends Error {
  readonly code: ErrorCode = 'FEEDER_ERR';
  readonly exitCode: number = 1;
  readonly httpStatus: number = 500;
  readonly httpHeaders: Readonly<Record<string, string>> = {};

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A value given by the user is unusable; nothing was sent anywhere. */
export class InvalidArgumentError extends FeederError {
  override readonly code = 'FEEDER_ERR_INVALID_ARGUMENT';
  override readonly httpStatus: number = 400;
  override readonly exitCode = 2;
}

export class InvalidModelIdError extends FeederError {
  override readonly code = 'FEEDER_ERR_INVALID_MODEL_ID';
  override readonly httpStatus: number = 400;
  override readonly exitCode = 2;
}

/** The model file (or stdin) cannot be read, or holds nothing. */
export class SourceError extends FeederError {
  override readonly code = 'FEEDER_ERR_SOURCE';
  override readonly httpStatus: number = 400;
  override readonly exitCode = 2;
}

export class ModelNotFoundError extends FeederError {
  override readonly code = 'FEEDER_ERR_MODEL_NOT_FOUND';
  override readonly httpStatus: number = 404;
}

export class ModelExistsError extends FeederError {
  override readonly code = 'FEEDER_ERR_MODEL_EXISTS';
  override readonly httpStatus: number = 409;
}

/** The model is in a state that does not allow the operation (uploading, deleting, deployed). */
export class ModelStateError extends FeederError {
  override readonly code = 'FEEDER_ERR_MODEL_STATE';
  override readonly httpStatus: number = 409;
}

/** Another writer changed the model at the same time; this one gave way. */
export class ConcurrentModificationError extends FeederError {
  override readonly code = 'FEEDER_ERR_CONCURRENT_MODIFICATION';
  override readonly httpStatus: number = 409;
}

/**
 * Stored chunks disagree with the meta document or with their own checksums. A 409, not a 500: the
 * daemon worked as it should, the stored model is what conflicts with the request, and the fix
 * (`feeder upload --replace`) is the user's; a 5xx would page whoever watches the daemon and invite
 * a retry that cannot help.
 */
export class IntegrityError extends FeederError {
  override readonly code: ErrorCode = 'FEEDER_ERR_INTEGRITY';
  override readonly httpStatus: number = 409;
}

export class ChunkMissingError extends IntegrityError {
  override readonly code = 'FEEDER_ERR_CHUNK_MISSING';
}

export class ElasticsearchUnreachableError extends FeederError {
  override readonly code = 'FEEDER_ERR_ES_UNREACHABLE';
}

export class ElasticsearchAuthError extends FeederError {
  override readonly code = 'FEEDER_ERR_ES_AUTH';
}

/** Any other error answered by Elasticsearch. */
export class ElasticsearchError extends FeederError {
  override readonly code = 'FEEDER_ERR_ES';
}

/** The native process died, hung, lied about what it received, or spoke garbage. */
export class NativeProcessError extends FeederError {
  override readonly code: ErrorCode = 'FEEDER_ERR_NATIVE_PROCESS';
  /** The last ERROR lines the process logged, oldest first. */
  readonly lastErrors: readonly string[];

  constructor(message: string, options: { cause?: unknown; lastErrors?: readonly string[] } = {}) {
    super(withLastErrors(message, options.lastErrors ?? []), options);
    this.lastErrors = options.lastErrors ?? [];
  }
}

/**
 * The native process exited with native-lib's code 8: the bytes are no model its runtime can load.
 * Loading the same bytes into the same runtime again cannot cure that, so the daemon does not
 * restart it. A 409, as IntegrityError: the stored model is what conflicts, and a retry cannot help.
 */
export class UnloadableModelError extends NativeProcessError {
  override readonly code = 'FEEDER_ERR_MODEL_UNLOADABLE';
  override readonly httpStatus: number = 409;
}

/** A StalledError is one too: a load in which no byte moved ran out of time. */
export class TimeoutError extends FeederError {
  override readonly code: ErrorCode = 'FEEDER_ERR_TIMEOUT';
  override readonly httpStatus: number = 504;
}

/** A model load in which no byte moved for `deploy.stallTimeoutMs`: the message says where it stalled. */
export class StalledError extends TimeoutError {
  override readonly code = 'FEEDER_ERR_STALLED';
}

/** A deployment's inference queue is full (`deploy.queueCapacity`): try again later. */
export class QueueFullError extends FeederError {
  override readonly code = 'FEEDER_ERR_QUEUE_FULL';
  override readonly httpStatus: number = 429;
}

/** Cut short by a stop of ours (an undeploy, a rollover, the daemon stopping): the deployment's state changed under it, hence 409. */
export class AbortedError extends FeederError {
  override readonly code = 'FEEDER_ERR_ABORTED';
  override readonly httpStatus: number = 409;
}

/** The daemon's control API could not be reached, or gave an answer this client cannot use. */
export class DaemonError extends FeederError {
  override readonly code = 'FEEDER_ERR_DAEMON';
}

/**
 * A daemon of that name holds a live lease in `.feeder-daemons`: a second one may not start under
 * its name, and its deployments are changed through it, not behind its back.
 */
export class DaemonRunningError extends FeederError {
  override readonly code = 'FEEDER_ERR_DAEMON_RUNNING';
}

/**
 * The daemon is starting or shutting down and takes no new work (503), or, in a fleet, the daemon
 * that serves the model cannot be had (503), or reached (502): worth a retry either way.
 */
export class UnavailableError extends FeederError {
  override readonly code = 'FEEDER_ERR_UNAVAILABLE';
  override readonly httpStatus: number;

  constructor(message: string, options: { cause?: unknown; httpStatus?: 502 | 503 } = {}) {
    super(message, options);
    this.httpStatus = options.httpStatus ?? 503;
  }
}

/** The control API cannot listen where daemon.listen says: the port is taken, or the socket path is someone else's. */
export class ListenError extends FeederError {
  override readonly code = 'FEEDER_ERR_LISTEN';
}

// The control API's own refusals: the request itself is wrong, whatever model or daemon it names.

/** Not HTTP the control API can read: no Host (400), headers too large (431), too slow to arrive (408). */
export class BadRequestError extends FeederError {
  override readonly code = 'FEEDER_ERR_BAD_REQUEST';
  override readonly httpStatus: number;

  constructor(message: string, options: { cause?: unknown; httpStatus?: 400 | 408 | 431 } = {}) {
    super(message, options);
    this.httpStatus = options.httpStatus ?? 400;
  }
}

export class BadJsonError extends FeederError {
  override readonly code = 'FEEDER_ERR_BAD_JSON';
  override readonly httpStatus: number = 400;
}

/** A request target that is not an absolute path of ours (src/daemon/request-target.ts says why). */
export class BadPathError extends FeederError {
  override readonly code = 'FEEDER_ERR_BAD_PATH';
  override readonly httpStatus: number = 400;
}

/** A Host that is not a name of the daemon, or a request from a web page of another origin. */
export class ForbiddenError extends FeederError {
  override readonly code = 'FEEDER_ERR_FORBIDDEN';
  override readonly httpStatus: number = 403;
}

export class ContentTypeError extends FeederError {
  override readonly code = 'FEEDER_ERR_CONTENT_TYPE';
  override readonly httpStatus: number = 415;
}

/** The rest of the body is never read, so the connection cannot carry another request: it is closed. */
export class BodyTooLargeError extends FeederError {
  override readonly code = 'FEEDER_ERR_BODY_TOO_LARGE';
  override readonly httpStatus: number = 413;
  override readonly httpHeaders: Readonly<Record<string, string>> = { connection: 'close' };
}

/** `allow` lists the methods the path takes (the Allow header; none when rebuilt from the wire). */
export class MethodNotAllowedError extends FeederError {
  override readonly code = 'FEEDER_ERR_METHOD';
  override readonly httpStatus: number = 405;
  override readonly httpHeaders: Readonly<Record<string, string>>;

  constructor(message: string, options: { cause?: unknown; allow?: string } = {}) {
    super(message, options);
    this.httpHeaders = options.allow === undefined ? {} : { allow: options.allow };
  }
}

export class NoRouteError extends FeederError {
  override readonly code = 'FEEDER_ERR_NO_ROUTE';
  override readonly httpStatus: number = 404;
}

export class UnauthorizedError extends FeederError {
  override readonly code = 'FEEDER_ERR_UNAUTHORIZED';
  override readonly httpStatus: number = 401;
  override readonly httpHeaders: Readonly<Record<string, string>> = { 'www-authenticate': 'Bearer' };
}

/** Something other than a FeederError escaped a request's handling: a bug in the daemon, whose log has the details. */
export class InternalError extends FeederError {
  override readonly code = 'FEEDER_ERR_INTERNAL';
}

type ErrorClass = new (message: string) => FeederError;

/** The class each code is raised with. A Record, so that a code added to the union without a line here does not compile. */
const CLASS_OF_CODE: Record<ErrorCode, ErrorClass> = {
  FEEDER_ERR: FeederError,
  FEEDER_ERR_INVALID_ARGUMENT: InvalidArgumentError,
  FEEDER_ERR_INVALID_MODEL_ID: InvalidModelIdError,
  FEEDER_ERR_SOURCE: SourceError,
  FEEDER_ERR_MODEL_NOT_FOUND: ModelNotFoundError,
  FEEDER_ERR_MODEL_EXISTS: ModelExistsError,
  FEEDER_ERR_MODEL_STATE: ModelStateError,
  FEEDER_ERR_CONCURRENT_MODIFICATION: ConcurrentModificationError,
  FEEDER_ERR_INTEGRITY: IntegrityError,
  FEEDER_ERR_CHUNK_MISSING: ChunkMissingError,
  FEEDER_ERR_ES_UNREACHABLE: ElasticsearchUnreachableError,
  FEEDER_ERR_ES_AUTH: ElasticsearchAuthError,
  FEEDER_ERR_ES: ElasticsearchError,
  FEEDER_ERR_NATIVE_PROCESS: NativeProcessError,
  FEEDER_ERR_MODEL_UNLOADABLE: UnloadableModelError,
  FEEDER_ERR_TIMEOUT: TimeoutError,
  FEEDER_ERR_STALLED: StalledError,
  FEEDER_ERR_QUEUE_FULL: QueueFullError,
  FEEDER_ERR_ABORTED: AbortedError,
  FEEDER_ERR_DAEMON: DaemonError,
  FEEDER_ERR_DAEMON_RUNNING: DaemonRunningError,
  FEEDER_ERR_UNAVAILABLE: UnavailableError,
  FEEDER_ERR_LISTEN: ListenError,
  FEEDER_ERR_BAD_JSON: BadJsonError,
  FEEDER_ERR_BAD_PATH: BadPathError,
  FEEDER_ERR_BAD_REQUEST: BadRequestError,
  FEEDER_ERR_FORBIDDEN: ForbiddenError,
  FEEDER_ERR_CONTENT_TYPE: ContentTypeError,
  FEEDER_ERR_BODY_TOO_LARGE: BodyTooLargeError,
  FEEDER_ERR_METHOD: MethodNotAllowedError,
  FEEDER_ERR_NO_ROUTE: NoRouteError,
  FEEDER_ERR_UNAUTHORIZED: UnauthorizedError,
  FEEDER_ERR_INTERNAL: InternalError,
};

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(CLASS_OF_CODE, value);
}

/**
 * The error the daemon raised, rebuilt from the code and message on the wire, so that its class,
 * `code` and `exitCode` are the same on both sides. A code this client does not know (a newer daemon) becomes
 * a DaemonError that names it.
 */
export function errorFromWire(code: string, message: string): FeederError {
  if (!isErrorCode(code))
    return new DaemonError(
      `${message}; the daemon gave the code ${code}, which this feeder does not know: upgrade it to the daemon's version`,
    );
  return new CLASS_OF_CODE[code](message);
}

function withLastErrors(message: string, lastErrors: readonly string[]): string {
  if (lastErrors.length === 0) return message;
  return `${message}; its last errors: ${lastErrors.join(' | ')}`;
}
