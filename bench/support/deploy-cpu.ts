import { cpus } from 'node:os';
import { median, round, table } from './report.js';

/**
 * Where the CPU of a deploy goes, per MiB of model, and what that allows on this machine.
 *
 * Elasticsearch, the daemon and the native process share the machine's cores, but the Elasticsearch
 * ceiling is measured with only a reader that discards: no decoding and no native process. When all
 * of them are CPU-bound, no deploy can beat `cores / (CPU per MiB)`, and the least CPU any deploy can
 * need is what Elasticsearch spent serving the ceiling, plus what its raw reader spent, plus what the
 * native process spends reading and hashing the model. That sum leaves out decoding, checksums and
 * pipe writes, so the bound it gives is generous.
 */
export interface CpuBudget {
  cores: number;
  /** Medians of the ceiling's samples: Elasticsearch serving, the raw reader. */
  es_limit_ms_per_mib: { elasticsearch: number; reader: number };
  /** Medians of the feeder's samples. */
  feeder_ms_per_mib: { elasticsearch: number; daemon: number; native: number };
  /** elasticsearch + reader of the ceiling, + native of the feeder: the least any deploy needs. */
  deploy_floor_ms_per_mib: number;
  /** cores * 1000 / deploy_floor_ms_per_mib: the fastest deploy these cores allow. */
  deploy_bound_mib_s: number;
  deploy_bound_vs_es_limit: number;
}

interface CpuSample {
  es_cpu_s: number;
  client_cpu_s: number;
}

interface FeederCpuSample {
  es_cpu_s: number;
  node_cpu_s: number;
  native_cpu_s: number;
}

export function cpuBudget(mib: number, esLimitMibS: number, esLimit: CpuSample[], feeder: FeederCpuSample[]): CpuBudget {
  const perMib = (seconds: number[]) => round((median(seconds) * 1000) / mib, 2);
  const cores = cpus().length;
  const esLimitCpu = { elasticsearch: perMib(esLimit.map((s) => s.es_cpu_s)), reader: perMib(esLimit.map((s) => s.client_cpu_s)) };
  const feederCpu = {
    elasticsearch: perMib(feeder.map((s) => s.es_cpu_s)),
    daemon: perMib(feeder.map((s) => s.node_cpu_s)),
    native: perMib(feeder.map((s) => s.native_cpu_s)),
  };
  const floor = esLimitCpu.elasticsearch + esLimitCpu.reader + feederCpu.native;
  const bound = (cores * 1000) / floor;
  return {
    cores,
    es_limit_ms_per_mib: esLimitCpu,
    feeder_ms_per_mib: feederCpu,
    deploy_floor_ms_per_mib: round(floor, 2),
    deploy_bound_mib_s: round(bound),
    deploy_bound_vs_es_limit: round(bound / esLimitMibS, 2),
  };
}

export function printCpuBudget(
  sizes: Array<{ size_mib: number; feeder_mib_s: number; es_limit_mib_s: number; cpu: CpuBudget }>,
  encoding = 'base64',
): void {
  console.log(`\nCPU per MiB of model (ms, medians), ${encoding} chunks, and what ${sizes[0]?.cpu.cores ?? '?'} cores allow\n`);
  console.log(
    table(
      [
        'size MiB',
        'ES (limit)',
        'reader (limit)',
        'ES (feeder)',
        'daemon',
        'native',
        'deploy floor',
        'bound MiB/s',
        'bound/ES limit',
        'feeder/bound',
      ],
      sizes.map((s) => {
        const c = s.cpu;
        return [
          s.size_mib,
          c.es_limit_ms_per_mib.elasticsearch,
          c.es_limit_ms_per_mib.reader,
          c.feeder_ms_per_mib.elasticsearch,
          c.feeder_ms_per_mib.daemon,
          c.feeder_ms_per_mib.native,
          c.deploy_floor_ms_per_mib,
          c.deploy_bound_mib_s,
          c.deploy_bound_vs_es_limit,
          round(s.feeder_mib_s / c.deploy_bound_mib_s, 2),
        ];
      }),
    ),
  );
  console.log(
    '\ndeploy floor = ES (limit) + reader (limit) + native: the least CPU any deploy needs per MiB (decoding, checksums and pipe writes left out); bound = cores * 1000 / floor',
  );
}
