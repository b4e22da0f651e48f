import { onExit } from 'signal-exit';

/**
 * The process group a native process leads: it is spawned detached (setsid), so its group holds
 * it and whatever helpers it starts, and a signal to the group reaches them all. execa's kill, its
 * SIGKILL after a delay and its exit cleanup reach the pid alone (and the cleanup is off for a
 * detached child), so this does all three for the group.
 */
export class ProcessGroup {
  readonly #pgid: number;
  #released = false;

  /** `pgid` is the leader's pid; a spawn that failed has none, and this then signals nothing. */
  constructor(pgid: number) {
    // Guarded because kill(-1) signals every process we may signal, and kill(-0) our own group.
    this.#pgid = Number.isSafeInteger(pgid) && pgid > 1 ? pgid : 0;
    if (this.#pgid) track(this.#pgid);
  }

  /** Sends `signal` to every process of the group; false when none was left to receive it. */
  signal(signal: NodeJS.Signals): boolean {
    if (!this.#pgid || this.#released) return false;
    return signalGroup(this.#pgid, signal);
  }

  /**
   * The leader has exited: whatever is left of its group is killed, since nothing reads it any
   * more. Call it as the leader is reaped: helpers that are left hold the group's id, so it cannot
   * belong to another group; with none left the signal finds no group (for the id to name a new
   * one within that instant, the pids would have to wrap around first).
   */
  release(): void {
    if (!this.#pgid || this.#released) return;
    signalGroup(this.#pgid, 'SIGKILL');
    this.#released = true;
    untrack(this.#pgid);
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    // ESRCH: the group is gone. EPERM: what is left of it is not ours to signal.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ESRCH' || code === 'EPERM') return false;
    throw error;
  }
}

/** Groups whose leader has not exited: the daemon's exit, however it comes, sends them SIGTERM. */
const live = new Set<number>();
let removeExitHandler: (() => void) | null = null;

function track(pgid: number): void {
  live.add(pgid);
  // signal-exit, as execa's own cleanup: it also runs on a signal that would kill us unhandled.
  removeExitHandler ??= onExit(() => {
    for (const group of live) signalGroup(group, 'SIGTERM');
  });
}

function untrack(pgid: number): void {
  live.delete(pgid);
  if (live.size > 0) return;
  // No handler while nothing is live: signal-exit's signal listeners change how signals end us.
  removeExitHandler?.();
  removeExitHandler = null;
}
