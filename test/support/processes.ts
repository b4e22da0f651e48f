import { readFileSync } from 'node:fs';
import { pollUntil } from './wait.js';

/**
 * Whether `pid` still runs. A zombie does not: it holds no memory, and an orphan that died stays one
 * for good where pid 1 does not reap (as in some containers). With `command`, the process's command
 * line must also hold it, so a pid the kernel has since given to another process is not counted.
 */
export function isAlive(pid: number, command?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  if (procStat(pid)?.[0] === 'Z') return false;
  return command === undefined || commandLine(pid).includes(command);
}

/** The fields of /proc/<pid>/stat after the command name (state, ppid, pgrp, ...), or null once the pid is gone. */
export function procStat(pid: number): string[] | null {
  try {
    // The command name, in parentheses, may itself hold spaces and parentheses: cut after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/** Waits up to `ms` for `pid` to stop running; says whether it did. */
export async function stopsRunning(pid: number, ms: number): Promise<boolean> {
  return (await pollUntil(() => !isAlive(pid), { timeoutMs: ms, intervalMs: 25 })) !== undefined;
}

/** SIGKILL, for a process that may have exited since it was seen. */
export function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
