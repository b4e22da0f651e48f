import type { ConfigOverrides } from '../config/config.js';

interface SecretFlag {
  flag: string;
  given: (args: ConfigOverrides) => boolean;
  env: string;
  file: string;
  setting: string;
}

// Kept for Eland compatibility, but a command line is in every user's `ps`; each entry names where
// the credential could go instead.
const SECRET_FLAGS: readonly SecretFlag[] = [
  {
    flag: '--es-password',
    given: (a) => a.esPassword !== undefined,
    env: 'ES_PASSWORD',
    file: '--es-password-file or ES_PASSWORD_FILE',
    setting: 'elasticsearch.password',
  },
  {
    flag: '--es-api-key',
    given: (a) => a.esApiKey !== undefined,
    env: 'ES_API_KEY',
    file: '--es-api-key-file or ES_API_KEY_FILE',
    setting: 'elasticsearch.apiKey',
  },
];

/** The warning for credentials given as flags, naming the flags and never their values; null when none was. */
export function visibleSecretsWarning(args: ConfigOverrides): string | null {
  const given = SECRET_FLAGS.filter((secret) => secret.given(args));
  if (given.length === 0) return null;
  const each = (part: (secret: SecretFlag) => string) => given.map(part).join(' and ');
  const one = given.length === 1;
  return (
    `${each((s) => s.flag)} on the command line ${one ? 'is' : 'are'} visible to every user of this machine (ps, /proc/<pid>/cmdline); ` +
    `use ${each((s) => s.env)} in the environment, ${each((s) => s.file)} naming ${one ? 'a file' : 'files'} of mode 0600, ` +
    `or ${each((s) => s.setting)} in a config file of mode 0600`
  );
}
