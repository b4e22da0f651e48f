// The daemon side of the deploy benchmark, as its own node process so its memory is its own:
//
//   node build/bench/support/deploy-child.js '{"esUrl":...,"modelId":...,"header":"u32","args":[...],"prefetch":3}'
//
// Deploys one stored model with feedModel (what the daemon runs), stops the native process, and
// prints one JSON line (DeployChildReport) on stdout. Logs (warn and up) go to stderr.
import { readFileSync } from 'node:fs';
import { loadConfig, type HeaderKind } from '../../src/config/config.js';
import { Es } from '../../src/es/es.js';
import { feedModel } from '../../src/feed/feed-model.js';
import { createLogger } from '../../src/log/logger.js';
import { ChunkGauge } from '../../src/chunks/chunk-reader.js';
import { procCpuMs } from './deploy-es-cpu.js';

export interface DeployChildOptions {
  esUrl: string;
  modelId: string;
  header: HeaderKind;
  /** The native stub's flags. */
  args: string[];
  prefetch: number;
}

export interface DeployChildReport {
  /** feedModel's own figure: spawn of the native process to its verified `loaded` report. */
  duration_ms: number;
  bytes: number;
  /** CPU time (user + system) this node process spent inside feedModel. */
  cpu_ms: number;
  /** CPU time the native process had used when it reported the model loaded (reading and hashing it). */
  native_cpu_ms: number;
  /** Most decoded chunks held at once. */
  chunks_peak: number;
  /** Elasticsearch calls made (the meta document and the chunk GETs) and their mean latency, answer parsed. */
  es_calls: number;
  es_call_ms_mean: number;
  /** Wall time with at least one Elasticsearch call in flight. */
  es_busy_ms: number;
  /** VmHWM: the high-water mark of this process's own address space. */
  vm_hwm_kib: number | null;
  /** getrusage maxRSS, which on Linux also carries the spawning parent's RSS across fork+exec. */
  max_rss_kib: number;
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '') as DeployChildOptions;
  const config = loadConfig({ esUrl: options.esUrl }, {});
  // An hour: a slow run on a busy machine is a result, not a failure.
  Object.assign(config.deploy, { header: options.header, args: options.args, prefetch: options.prefetch, timeoutMs: 60 * 60_000 });
  const es = new Es(config.elasticsearch);
  const calls = new CallClock();
  const gauge = new ChunkGauge();
  try {
    const cpu = process.cpuUsage();
    const result = await feedModel(
      { es: calls.wrap(es), config, logger: createLogger({ level: 'warn', pretty: false }) },
      { modelId: options.modelId, gauge },
    );
    const used = process.cpuUsage(cpu);
    const nativeCpuMs = await procCpuMs(result.native.pid);
    await result.native.stop();
    const report: DeployChildReport = {
      duration_ms: result.durationMs,
      bytes: result.loaded.bytes,
      cpu_ms: (used.user + used.system) / 1000,
      native_cpu_ms: nativeCpuMs,
      chunks_peak: gauge.peak,
      es_calls: calls.count,
      es_call_ms_mean: calls.totalMs / Math.max(1, calls.count),
      es_busy_ms: calls.busyMs,
      vm_hwm_kib: ownPeakRssKib(),
      max_rss_kib: process.resourceUsage().maxRSS,
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    await es.close();
  }
}

/** Times every `Es.call`: how long each took, and how long at least one was in flight. */
class CallClock {
  count = 0;
  totalMs = 0;
  busyMs = 0;
  #inFlight = 0;
  #busySince = 0;

  wrap(es: Es): Es {
    const timed = Object.create(es) as Es;
    timed.call = async (doing, request) => {
      const started = this.#start();
      try {
        return await es.call(doing, request);
      } finally {
        this.#end(started);
      }
    };
    return timed;
  }

  #start(): number {
    const now = performance.now();
    if (this.#inFlight++ === 0) this.#busySince = now;
    return now;
  }

  #end(started: number): void {
    const now = performance.now();
    this.count += 1;
    this.totalMs += now - started;
    if (--this.#inFlight === 0) this.busyMs += now - this.#busySince;
  }
}

function ownPeakRssKib(): number | null {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) : null;
}

await main().catch((error: unknown) => {
  process.stderr.write(`deploy-child: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
