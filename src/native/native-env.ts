import type { HeaderKind } from '../config/config.js';
import { PARALLELISM_ENV, parallelismEnv, type Parallelism } from './parallelism.js';

/**
 * What a native process may take from the daemon's environment, when it is set there: the search
 * path for the helpers and libraries it runs (PATH), where a library keeps per-user files (HOME),
 * how it formats text and time (LANG, LC_ALL, TZ), and where it writes temporary files (TMPDIR).
 * Nothing else: the daemon's environment holds ES_PASSWORD, ES_API_KEY, FEEDER_TOKEN and an ES_URL
 * that may carry credentials, and a process that needs none of them must not be able to read them
 * in /proc/<pid>/environ. Anything a process needs beyond these (OMP_NUM_THREADS, MKL_NUM_THREADS,
 * CUDA_VISIBLE_DEVICES, LD_LIBRARY_PATH) is named in `deploy.env`, where an operator sees it.
 */
export const PLATFORM_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'] as const;

/** The version of docs/native-protocol.md that the daemon speaks. */
export const PROTOCOL_VERSION = 1;

/**
 * Set by the daemon alone: they describe what it writes (the protocol version, the size header's
 * width), so a `deploy.env` that named them could only make the process misread its stdin; and a
 * deployment's workers and threads, which `feeder deploy` sets per model.
 */
export const PROTOCOL_ENV = ['FEEDER_PROTOCOL', 'FEEDER_HEADER', ...PARALLELISM_ENV] as const;

/**
 * The whole environment of a native process: the platform set from `daemonEnv`, then `deploy.env`,
 * which wins, then the protocol variables (and the deployment's parallelism, when it has one), which
 * `deploy.env` may not name (the config refuses it).
 */
export function nativeEnvironment(
  deployEnv: Readonly<Record<string, string>>,
  header: HeaderKind,
  parallelism?: Parallelism,
  daemonEnv: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of PLATFORM_ENV) {
    const value = daemonEnv[name];
    if (value !== undefined) env[name] = value;
  }
  const workers = parallelism ? parallelismEnv(parallelism) : {};
  return { ...env, ...deployEnv, FEEDER_PROTOCOL: String(PROTOCOL_VERSION), FEEDER_HEADER: header, ...workers };
}
