import { BadPathError } from '../errors.js';

/**
 * The path of a request target, checked once, by hand: `new URL(target, base)` reads `//host/x`
 * and `/\host/x` as another host, resolves `..`, accepts the absolute form, and throws on
 * `/\[`, so a target could reach a route it does not name, or turn into a 500. Only the origin
 * form (`/path?query`) of a path of our own passes; the query is ignored, as before.
 */
export function parseTargetPath(target: string | undefined): string {
  const raw = target ?? '';
  const path = raw.split('?', 1)[0]!;
  const problem = problemOf(path);
  if (problem)
    throw new BadPathError(
      `the request target ${JSON.stringify(raw.slice(0, 200))} ${problem}; send an absolute path such as /deployments/<id>`,
    );
  return path;
}

function problemOf(path: string): string | undefined {
  if (!path.startsWith('/')) return 'is not an absolute path';
  if (path.startsWith('//')) return 'starts with //, which names another host';
  if (path.includes('\\')) return 'holds a backslash, which some parsers read as /';
  if (path.includes('#')) return 'holds a fragment, which a client never sends';
  if (path.split('/').some((segment) => segment === '.' || segment === '..')) return 'holds a dot segment';
  return undefined;
}

/** A path segment, percent-decoded: the model id of /deployments/<id>. */
export function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadPathError(`'${segment}' is not a valid percent-encoded path segment`);
  }
}
