import { readFile } from 'node:fs/promises';
import type { RawHttp } from './deploy-http.js';

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in ticks of 1/100 s. */
const TICKS_PER_SECOND = 100;

/**
 * A clock of the CPU milliseconds the Elasticsearch node has used: read from /proc/<pid>/stat when
 * the node runs on this machine (exact to 10 ms), else from the node stats API (refreshed about once
 * a second, so only good for long measurements).
 */
export async function esCpuClock(http: RawHttp, esUrl: string): Promise<{ source: 'proc' | 'node-stats'; read: () => Promise<number> }> {
  const local = ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(esUrl).hostname);
  if (!local) return { source: 'node-stats', read: () => statsCpuMs(http) };
  const info = await http.json<{ nodes: Record<string, { process?: { id?: number } }> }>(
    'GET',
    '/_nodes/_local/process?filter_path=nodes.*.process.id',
  );
  const pid = Object.values(info.nodes)[0]?.process?.id;
  if (pid !== undefined && (await procCpuMs(pid).catch(() => null)) !== null) return { source: 'proc', read: () => procCpuMs(pid) };
  return { source: 'node-stats', read: () => statsCpuMs(http) };
}

/** CPU milliseconds (user + system) process `pid` has used so far. */
export async function procCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

async function statsCpuMs(http: RawHttp): Promise<number> {
  const stats = await http.json<{ nodes: Record<string, { process: { cpu: { total_in_millis: number } } }> }>(
    'GET',
    '/_nodes/_local/stats/process?filter_path=nodes.*.process.cpu.total_in_millis',
  );
  return Object.values(stats.nodes)[0]!.process.cpu.total_in_millis;
}
