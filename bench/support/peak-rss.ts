// Preloaded with `node --import` into a process under measurement: on exit it writes the process's
// peak resident set size in KiB to the file named by BENCH_PEAK_RSS_FILE.
//
// On Linux, getrusage's maxRSS (process.resourceUsage().maxRSS) survives fork and exec: a child
// spawned by a parent holding 1.5 GiB reports at least 1.5 GiB. VmHWM in /proc/self/status is the
// high-water mark of this program's own address space, so it is used when there is one.
import { readFileSync, writeFileSync } from 'node:fs';

const out = process.env.BENCH_PEAK_RSS_FILE;
if (out) process.on('exit', () => writeFileSync(out, String(ownPeakRssKib() ?? process.resourceUsage().maxRSS)));

function ownPeakRssKib(): number | null {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}
