import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's own folder, found from this module whether it runs from `src/` or from the build. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'es-model-feeder') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('es-model-feeder: cannot find the package root');
    dir = parent;
  }
}

export function defaultNativeCommand(): string {
  return join(packageRoot(), 'native-stub', 'build', 'native-stub');
}
