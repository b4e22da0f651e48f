import { createReadStream } from 'node:fs';
import { access, constants, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import { SourceError } from '../errors.js';
import type { SourceInfo } from '../model/meta.js';

/** A model file or stdin, checked before anything is sent. `size` is null for stdin. */
export interface ModelSource extends SourceInfo {
  open(readSize: number): Readable;
}

export async function openSource(path: string, stdin: NodeJS.ReadStream = process.stdin): Promise<ModelSource> {
  if (path === '-') return stdinSource(stdin);
  return fileSource(path);
}

function stdinSource(stdin: NodeJS.ReadStream): ModelSource {
  if (stdin.isTTY) {
    throw new SourceError("refusing to read a model from a terminal: pipe the model into 'feeder upload -' or give a file path");
  }
  let opened = false;
  return {
    name: '-',
    size: null,
    open() {
      if (opened) throw new SourceError('stdin can be read only once');
      opened = true;
      return stdin;
    },
  };
}

async function fileSource(path: string): Promise<ModelSource> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    throw sourceError(path, error);
  });
  if (info.isDirectory()) throw new SourceError(`'${path}' is a directory; give the path of a model file`);
  if (!info.isFile()) throw new SourceError(`'${path}' is not a regular file; use 'feeder upload -' to read a pipe`);
  if (info.size === 0) throw new SourceError(`model file '${path}' is empty`);
  await access(path, constants.R_OK).catch((error: NodeJS.ErrnoException) => {
    throw sourceError(path, error);
  });
  return {
    name: basename(path),
    size: info.size,
    open: (readSize) => createReadStream(path, { highWaterMark: readSize }),
  };
}

export function sourceError(path: string, error: NodeJS.ErrnoException): SourceError {
  switch (error.code) {
    case 'ENOENT':
      return new SourceError(`model file '${path}' does not exist`, { cause: error });
    case 'EACCES':
    case 'EPERM':
      return new SourceError(`model file '${path}' cannot be read: permission denied`, { cause: error });
    case 'EISDIR':
      return new SourceError(`'${path}' is a directory; give the path of a model file`, { cause: error });
    default:
      return new SourceError(`cannot read model file '${path}': ${error.message}`, { cause: error });
  }
}
