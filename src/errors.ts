// One error type for the project, each subclass with a stable `code` that callers match on.
// The README's error table lists them; `exitCode` is what the CLI exits with (2 = bad usage).

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

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A value given by the user is unusable; nothing was sent anywhere. */
export class InvalidArgumentError extends FeederError {
  override readonly code = 'FEEDER_ERR_INVALID_ARGUMENT';
  override readonly exitCode = 2;
}

export class InvalidModelIdError extends FeederError {
  override readonly code = 'FEEDER_ERR_INVALID_MODEL_ID';
  override readonly exitCode = 2;
}

/** The model file (or stdin) cannot be read, or holds nothing. */
export class SourceError extends FeederError {
  override readonly code = 'FEEDER_ERR_SOURCE';
  override readonly exitCode = 2;
}

export class ModelNotFoundError extends FeederError {
  override readonly code = 'FEEDER_ERR_MODEL_NOT_FOUND';
}

export class ModelExistsError extends FeederError {
  override readonly code = 'FEEDER_ERR_MODEL_EXISTS';
}

/** The model is in a state that does not allow the operation (uploading, deleting, deployed). */
export class ModelStateError extends FeederError {
  override readonly code = 'FEEDER_ERR_MODEL_STATE';
}

/** Another writer changed the model at the same time; this one gave way. */
export class ConcurrentModificationError extends FeederError {
  override readonly code = 'FEEDER_ERR_CONCURRENT_MODIFICATION';
}

/** Stored chunks disagree with the meta document or with their own checksums. */
export class IntegrityError extends FeederError {
  override readonly code: ErrorCode = 'FEEDER_ERR_INTEGRITY';
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
  override readonly code = 'FEEDER_ERR_NATIVE_PROCESS';
  /** The last ERROR lines the process logged, oldest first. */
  readonly lastErrors: readonly string[];

  constructor(message: string, options: { cause?: unknown; lastErrors?: readonly string[] } = {}) {
    super(withLastErrors(message, options.lastErrors ?? []), options);
    this.lastErrors = options.lastErrors ?? [];
  }
}

export class TimeoutError extends FeederError {
  override readonly code: ErrorCode = 'FEEDER_ERR_TIMEOUT';
}

/** A model load in which no byte moved for `deploy.stallTimeoutMs`: the message says where it stalled. */
export class StalledError extends TimeoutError {
  override readonly code = 'FEEDER_ERR_STALLED';
}

/** A deployment's inference queue is full (`deploy.queueCapacity`): try again later. */
export class QueueFullError extends FeederError {
  override readonly code = 'FEEDER_ERR_QUEUE_FULL';
}

export class AbortedError extends FeederError {
  override readonly code = 'FEEDER_ERR_ABORTED';
}

/**
 * The daemon's control API could not be reached, gave an answer this client cannot use, or refused
 * the request with a code that has no class of its own (`code` then carries the daemon's).
 */
export class DaemonError extends FeederError {
  override readonly code: ErrorCode;

  constructor(message: string, options: { cause?: unknown; code?: ErrorCode } = {}) {
    super(message, options);
    this.code = options.code ?? 'FEEDER_ERR_DAEMON';
  }
}

/**
 * A daemon of that name holds a live lease in `.feeder-daemons`: a second one may not start under
 * its name, and its deployments are changed through it, not behind its back.
 */
export class DaemonRunningError extends FeederError {
  override readonly code = 'FEEDER_ERR_DAEMON_RUNNING';
}

/** The daemon is starting or shutting down and takes no new work. */
export class UnavailableError extends FeederError {
  override readonly code = 'FEEDER_ERR_UNAVAILABLE';
}

/** The control API cannot listen where daemon.listen says: the port is taken, or the socket path is someone else's. */
export class ListenError extends FeederError {
  override readonly code = 'FEEDER_ERR_LISTEN';
}

type ErrorClass = new (message: string) => FeederError;

/**
 * The class each code is raised with; null for the control API's own codes, which come back as a
 * DaemonError carrying them. A Record, so that a code added to the union without a line here does
 * not compile.
 */
const CLASS_OF_CODE: Record<ErrorCode, ErrorClass | null> = {
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
  FEEDER_ERR_TIMEOUT: TimeoutError,
  FEEDER_ERR_STALLED: StalledError,
  FEEDER_ERR_QUEUE_FULL: QueueFullError,
  FEEDER_ERR_ABORTED: AbortedError,
  FEEDER_ERR_DAEMON: DaemonError,
  FEEDER_ERR_DAEMON_RUNNING: DaemonRunningError,
  FEEDER_ERR_UNAVAILABLE: UnavailableError,
  FEEDER_ERR_LISTEN: ListenError,
  FEEDER_ERR_BAD_JSON: null,
  FEEDER_ERR_BAD_PATH: null,
  FEEDER_ERR_BAD_REQUEST: null,
  FEEDER_ERR_FORBIDDEN: null,
  FEEDER_ERR_CONTENT_TYPE: null,
  FEEDER_ERR_BODY_TOO_LARGE: null,
  FEEDER_ERR_METHOD: null,
  FEEDER_ERR_NO_ROUTE: null,
  FEEDER_ERR_UNAUTHORIZED: null,
  FEEDER_ERR_INTERNAL: null,
};

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(CLASS_OF_CODE, value);
}

/**
 * The error the daemon raised, rebuilt from the code and message on the wire, so that `code` and
 * `exitCode` are the same on both sides. A code this client does not know (a newer daemon) becomes
 * a DaemonError that names it.
 */
export function errorFromWire(code: string, message: string): FeederError {
  if (!isErrorCode(code))
    return new DaemonError(
      `${message}; the daemon gave the code ${code}, which this feeder does not know: upgrade it to the daemon's version`,
    );
  const ErrorClass = CLASS_OF_CODE[code];
  return ErrorClass ? new ErrorClass(message) : new DaemonError(message, { code });
}

function withLastErrors(message: string, lastErrors: readonly string[]): string {
  if (lastErrors.length === 0) return message;
  return `${message}; its last errors: ${lastErrors.join(' | ')}`;
}
