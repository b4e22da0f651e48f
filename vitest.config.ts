import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

// The files that run on the 3-node cluster are the longest by far (the fleet file alone is a third
// of the suite's time): started first, they run beside the rest instead of after it.
const LONGEST = ['test/fleet/', 'test/feed/node-loss.test.ts', 'test/es/cluster.test.ts', 'test/daemon/concurrency.test.ts'];
const rank = (spec: TestSpecification): number => {
  const index = LONGEST.findIndex((part) => spec.moduleId.includes(part));
  return index === -1 ? LONGEST.length : index;
};

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
