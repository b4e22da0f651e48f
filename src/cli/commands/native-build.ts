import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import { defaultNativeCommand, packageRoot } from '../../config/paths.js';
import { NativeProcessError } from '../../errors.js';
import { runCommand, type GlobalArgs } from '../context.js';

/**
 * Builds the stub inside the package, where the default deploy.command looks, with the script that
 * `npm run build:stub` runs: an installed package has no npm scripts a user would think to call.
 */
export const buildStubCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'build-stub',
  describe: 'Build native-stub (needs cmake, a C++17 compiler, msgpack-c and OpenSSL) where deploy.command finds it by default',
  handler: (args) =>
    runCommand(args, async () => {
      const { execa } = await import('execa');
      const script = join(packageRoot(), 'scripts', 'build-stub.sh');
      // The compiler's chatter goes to stderr, so that stdout holds only the built path, for scripts.
      const result = await execa('bash', [script], { stdin: 'ignore', stdout: 2, stderr: 'inherit', reject: false });
      const built = defaultNativeCommand();
      if (result.failed || !existsSync(built)) {
        throw new NativeProcessError(
          `building native-stub failed (${result.shortMessage}); the package folder must be writable by this user (${packageRoot()})`,
        );
      }
      process.stdout.write(`${built}\n`);
    }),
};
