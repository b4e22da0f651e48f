import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

// The longest files start first, so that they run beside the rest instead of after it: the fleet
// files, the nested runs of es-instances, the race test, and the forward that waits out a 62 s answer
// (idle, so it costs a worker slot, not a core). fleet-cluster starts the 3-node cluster
// and holds it; the other files on the cluster start last: the cluster is one file's at a time
// (useClusterAlone), so they wait for it, and they would hold a worker idle while they wait if they
// started with it.
const FIRST = [
  'test/fleet/fleet-cluster.test.ts',
  'test/fleet/fleet.test.ts',
  'test/support/es-instances.test.ts',
  'test/daemon/concurrency.test.ts',
  'test/daemon/forward-timeout.test.ts',
  'test/daemon/concurrency.test.ts',
  'test/deployments/workers.test.ts',
  'test/fleet/rebalance-chaos.test.ts',
  'test/fleet/forward.test.ts',
];
// The NLP files trace and run real models in Python and torch: CPU-bound for minutes. Beside the
// fleet file they starved its daemons until leases lapsed (a 6 s lease, 2 cores), so they start
// after the rest, before the cluster files.
// Longest first among them: the two import files (150 to 175 s each) started last of all and ran
// alone at the end, one worker busy and two idle for over a minute.
const LAST = [
  'test/upload/import-conversion.test.ts',
  'test/upload/import.test.ts',
  'test/nlp/reference-wordpiece.test.ts',
  'test/nlp/reference-bpe-unigram.test.ts',
  'test/nlp/minilm-reference.test.ts',
  'test/nlp/masked-lm-outputs.test.ts',
  'test/nlp/infer-tasks.test.ts',
  'test/fleet/forward.test.ts',
  'test/feed/node-loss.test.ts',
  'test/es/cluster.test.ts',
];
const rank = (spec: TestSpecification): number => {
  const first = FIRST.findIndex((part) => spec.moduleId.endsWith(part));
  if (first !== -1) return first - FIRST.length;
  return LAST.findIndex((part) => spec.moduleId.endsWith(part)) + 1;
};

// Files whose outcome does not depend on Elasticsearch's version; CI's second pass
// (FEEDER_TEST_SECOND_PASS=1, another Elasticsearch version) leaves them out, to stay within its time:
// - native processes, alone or behind a daemon that streams them a model (that stream is tested on
//   every version: import.test.ts into native-torch, feed-model, the supervisor);
// - the tokenizer, the docs, the NLP tasks' answers and what `feeder import` makes of a model in
//   Python (their storage path is import.test.ts's);
// - the runs' bookkeeping of the nodes they start (es-instances: locks and marks; starting a node of
//   each version is elasticsearch-script.test.ts's);
// - what the npm package holds and builds, the TLS of the daemon's own listener, and how long a
//   forward waits for its holder (the models they serve are stored and streamed as everywhere else);
// - the seeded races and chaos runs of one daemon's map and processes and of forwarding between
//   members, and the workers a native process runs: the documents they write and read are the
//   desired-deployment, presence and fleet documents that lifecycle-races, restart, batching-settings,
//   fleet, fleet-cluster and rebalance write and read on every version.
const VERSION_INDEPENDENT = [
  'test/native/native-check.test.ts',
  'test/native/native-env.test.ts',
  'test/native/native-lib.test.ts',
  'test/native/native-lifetime.test.ts',
  'test/native/native-options.test.ts',
  'test/native/native-process.test.ts',
  'test/native/native-torch.test.ts',
  'test/native/native-torch-protocol.test.ts',
  'test/native/native-workers.test.ts',
  'test/native/protocol.test.ts',
  'test/native/stdin-writer.test.ts',
  'test/nlp/**',
  'test/docs/**',
  'test/config/units.test.ts',
  'test/upload/import-conversion.test.ts',
  'test/support/es-instances.test.ts',
  'test/package/install.test.ts',
  'test/daemon/tls.test.ts',
  'test/daemon/forward-timeout.test.ts',
  'test/daemon/concurrency.test.ts',
  'test/deployments/workers.test.ts',
  'test/fleet/rebalance-chaos.test.ts',
  'test/fleet/forward.test.ts',
];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    return sorted
      .map((spec, order) => ({ spec, order }))
      .sort((a, b) => rank(a.spec) - rank(b.spec) || a.order - b.order)
      .map(({ spec }) => spec);
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: process.env.FEEDER_TEST_SECOND_PASS === '1' ? VERSION_INDEPENDENT : [],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 90_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // Most of the suite waits on Elasticsearch, native processes and timers, not on a core: one file
    // at a time (vitest's default on 2 cores) left the cores idle and took over 12 minutes.
    maxWorkers: Number(process.env.FEEDER_TEST_WORKERS ?? 3),
    sequence: { sequencer: LongestFirst },
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
  },
});
