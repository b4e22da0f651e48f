import { describe, expect, it } from 'vitest';
import * as errors from '../src/errors.js';
import {
  BadJsonError,
  BadPathError,
  BadRequestError,
  BodyTooLargeError,
  ContentTypeError,
  DaemonError,
  errorFromWire,
  FeederError,
  ForbiddenError,
  InternalError,
  isErrorCode,
  MethodNotAllowedError,
  NoRouteError,
  UnauthorizedError,
} from '../src/errors.js';

type ErrorClass = new (message: string) => FeederError;

const raised = (Object.values(errors) as unknown[])
  .filter((value): value is ErrorClass => typeof value === 'function' && (value === FeederError || value.prototype instanceof FeederError))
  .map((ErrorClass) => new ErrorClass('what went wrong'));

describe('errors rebuilt from the wire', () => {
  it('finds every error class of the project', () => {
    expect(raised.length).toBeGreaterThanOrEqual(32);
  });

  it.each(raised.map((error) => [error.name, error] as const))('a %s comes back as itself, with its code and exit code', (_name, error) => {
    const rebuilt = errorFromWire(error.code, error.message);
    expect(rebuilt).toBeInstanceOf(error.constructor);
    expect({ code: rebuilt.code, exitCode: rebuilt.exitCode, message: rebuilt.message }).toEqual({
      code: error.code,
      exitCode: error.exitCode,
      message: error.message,
    });
  });

  it.each([
    ['FEEDER_ERR_BAD_JSON', BadJsonError, 400],
    ['FEEDER_ERR_BAD_PATH', BadPathError, 400],
    ['FEEDER_ERR_BAD_REQUEST', BadRequestError, 400],
    ['FEEDER_ERR_FORBIDDEN', ForbiddenError, 403],
    ['FEEDER_ERR_CONTENT_TYPE', ContentTypeError, 415],
    ['FEEDER_ERR_BODY_TOO_LARGE', BodyTooLargeError, 413],
    ['FEEDER_ERR_METHOD', MethodNotAllowedError, 405],
    ['FEEDER_ERR_NO_ROUTE', NoRouteError, 404],
    ['FEEDER_ERR_UNAUTHORIZED', UnauthorizedError, 401],
    ['FEEDER_ERR_INTERNAL', InternalError, 500],
  ] as const)("the control API's %s comes back as its own class, a FeederError that exits 1", (code, ErrorClass, httpStatus) => {
    const rebuilt = errorFromWire(code, 'refused');
    expect(rebuilt).toBeInstanceOf(ErrorClass);
    expect(rebuilt).not.toBeInstanceOf(DaemonError);
    expect({ code: rebuilt.code, exitCode: rebuilt.exitCode, httpStatus: rebuilt.httpStatus }).toEqual({ code, exitCode: 1, httpStatus });
  });

  it.each(['FEEDER_ERR_FROM_THE_FUTURE', 'toString', '__proto__', ''])('an unknown code (%j) is a DaemonError that names it', (code) => {
    const rebuilt = errorFromWire(code, 'something new');
    expect(isErrorCode(code)).toBe(false);
    expect(rebuilt).toBeInstanceOf(DaemonError);
    expect(rebuilt.code).toBe('FEEDER_ERR_DAEMON');
    expect(rebuilt.message).toContain('something new');
    expect(rebuilt.message).toContain(`code ${code}`);
  });
});
