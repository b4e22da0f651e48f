import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * What tells that a lease was written by a process of this machine since it booted: its host name,
 * the kernel's boot id, and the pid namespace, without which a pid says nothing (two containers may
 * share a host name and a kernel but not their pids). Null where the kernel does not tell (not
 * Linux): a name is then only ever taken over once its lease expired.
 */
export interface HostIdentity {
  host: string;
  boot_id: string | null;
  pid_namespace: string | null;
}

let cached: HostIdentity | undefined;

export function thisHost(): HostIdentity {
  cached ??= {
    host: hostname(),
    boot_id: readOrNull(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()),
    pid_namespace: readOrNull(() => readlinkSync('/proc/self/ns/pid')),
  };
  return cached;
}

function readOrNull(read: () => string): string | null {
  try {
    return read() || null;
  } catch {
    return null;
  }
}

/** Whether a lease holder is a process of this machine, in this boot and pid namespace: only then does its pid say whether it runs. */
export function isThisHost(holder: Partial<HostIdentity>): boolean {
  const here = thisHost();
  return (
    here.boot_id !== null &&
    here.pid_namespace !== null &&
    holder.host === here.host &&
    holder.boot_id === here.boot_id &&
    holder.pid_namespace === here.pid_namespace
  );
}

/**
 * Whether process `pid` of this host is gone. A pid reused by some other process reads as alive,
 * which only makes the name wait for its lease as before; our own pid is a previous process's
 * (a container restarted keeps its pids small and reuses them), since this one holds no lease yet.
 */
export function isGone(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    // EPERM: it runs, under another user.
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
