import { loadConfig } from '../../src/config/config.js';
import { DaemonMetrics } from '../../src/daemon/metrics.js';
import { InferenceQueue, type InferenceLimits } from '../../src/deployments/inference-queue.js';
import { NativeProcess } from '../../src/native/native-process.js';
import { captureLogger } from './es.js';
import { sizeHeader } from './native-run.js';

/** A native process (the stub unless `command` says otherwise) that has loaded `bytes` and takes requests. */
export async function loadedNative(bytes: Buffer, args: string[] = [], command = loadConfig({ config: undefined }, {}).deploy.command) {
  const { logger } = captureLogger();
  const native = new NativeProcess({ command, args, header: 'u32', logger, modelId: 'batching', requestTimeoutMs: 30_000 });
  const signal = new AbortController().signal;
  await native.writeHeader(sizeHeader('u32', bytes.length), signal);
  await native.writeChunk(bytes, signal);
  native.endLoad();
  await native.loaded;
  return native;
}

/** A deployment's inference queue with its own metrics; batching as the defaults have it unless `limits` say otherwise. */
export function inferenceQueue(limits: Partial<InferenceLimits> = {}) {
  const metrics = new DaemonMetrics(() => []);
  const queue = new InferenceQueue(
    'batching',
    { queueCapacity: 10_000, timeoutMs: 30_000, maxBatchSize: 32, maxQueueDelayMs: 0, ...limits },
    metrics,
  );
  return { queue, metrics };
}

/** The batch sizes (requests per frame) the queue sent: their count and sum. */
export async function batchSizes(metrics: DaemonMetrics): Promise<{ count: number; sum: number }> {
  const { values } = await metrics.batchSize.get();
  const of = (name: string) => values.find((v) => v.metricName === `feeder_inference_batch_size_${name}`)?.value ?? 0;
  return { count: of('count'), sum: of('sum') };
}
