import { readFileSync, statSync, type Stats } from 'node:fs';
import { InvalidArgumentError } from '../errors.js';

/** A credential as the user gave it: its value, or the path of a file that holds it. */
export interface SecretSource {
  value?: string | undefined;
  file?: string | undefined;
  /** How the user names each way, for messages: `['ES_PASSWORD', 'ES_PASSWORD_FILE']`. */
  names: readonly [value: string, file: string];
  kind: 'password' | 'API key' | 'token' | 'TLS key';
}

/** The credential, undefined when given neither way; both ways at once is ambiguous and refused. */
export function resolveSecret(source: SecretSource): string | undefined {
  if (source.value !== undefined && source.file !== undefined) {
    throw new InvalidArgumentError(`give ${source.names[0]} or ${source.names[1]}, not both`);
  }
  return source.file === undefined ? source.value : readSecretFile(source.file, source.kind, source.names[1]);
}

/**
 * Reads a credential from a file, as `docker secrets` and systemd's credentials hand them over: one
 * trailing newline is not part of it. A file its group or others can open is refused, since the
 * point of the file is that only its owner can read the secret.
 */
export function readSecretFile(path: string, kind: SecretSource['kind'], givenBy: string): string {
  const what = `the ${kind} file '${path}' given by ${givenBy}`;
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch (error) {
    throw unreadable(what, error);
  }
  if (!stats.isFile()) throw new InvalidArgumentError(`${what} is not a file`);
  const mode = stats.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new InvalidArgumentError(`${what} is open to other users (mode ${mode.toString(8).padStart(4, '0')}); run: chmod 600 ${path}`);
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw unreadable(what, error);
  }
  const secret = text.replace(/\r?\n$/, '');
  if (secret === '') throw new InvalidArgumentError(`${what} is empty`);
  return secret;
}

function unreadable(what: string, error: unknown): InvalidArgumentError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new InvalidArgumentError(`${what} does not exist`, { cause: error });
  if (code === 'EACCES') return new InvalidArgumentError(`${what} cannot be read: permission denied`, { cause: error });
  return new InvalidArgumentError(`${what} cannot be read: ${code ?? (error as Error).message}`, { cause: error });
}
