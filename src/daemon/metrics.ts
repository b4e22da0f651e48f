import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DEPLOYMENT_STATES as STATES, type DeploymentStatus } from '../api/wire-types.js';

/** The daemon's Prometheus metrics, served at GET /metrics. */
export class DaemonMetrics {
  readonly registry = new Registry();
  readonly bytesStreamed = new Counter({
    name: 'feeder_stream_bytes_total',
    help: 'Model bytes streamed into native processes',
    labelNames: ['model_id'],
    registers: [this.registry],
  });
  readonly throughput = new Gauge({
    name: 'feeder_stream_throughput_mib_per_second',
    help: 'Throughput of the last model load',
    labelNames: ['model_id'],
    registers: [this.registry],
  });
  readonly restarts = new Counter({
    name: 'feeder_native_restarts_total',
    help: 'Native processes restarted after dying',
    labelNames: ['model_id'],
    registers: [this.registry],
  });
  /** Outcomes: success, error (an error answer or a failed request), rejected (queue full), timeout. */
  readonly inferences = new Counter({
    name: 'feeder_inference_requests_total',
    help: 'Inference requests by outcome',
    labelNames: ['model_id', 'outcome'],
    registers: [this.registry],
  });
  readonly inferenceLatency = new Histogram({
    name: 'feeder_inference_latency_seconds',
    help: 'Inference latency seen by the daemon',
    labelNames: ['model_id'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  /** Dynamic batching: how many requests each frame to the native process carried. */
  readonly batchSize = new Histogram({
    name: 'feeder_inference_batch_size',
    help: 'Inference requests per frame sent to the native process (one forward())',
    labelNames: ['model_id'],
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers: [this.registry],
  });
  readonly queueDelay = new Histogram({
    name: 'feeder_inference_queue_delay_seconds',
    help: 'How long an inference request waited in the daemon before its frame was sent',
    labelNames: ['model_id'],
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });

  /** A fleet member's claims of free allocations: won, or lost to another daemon's fenced write. */
  readonly fleetClaims = new Counter({
    name: 'feeder_fleet_claims_total',
    help: 'Claims of fleet allocations by outcome (won, lost)',
    labelNames: ['outcome'],
    registers: [this.registry],
  });

  /** Rebalancing moves this daemon started (as the receiver), completed (as the receiver), or abandoned (either end). */
  readonly fleetMoves = new Counter({
    name: 'feeder_fleet_moves_total',
    help: 'Moves of fleet allocations toward a lighter daemon by outcome (started, completed, abandoned)',
    labelNames: ['outcome'],
    registers: [this.registry],
  });

  constructor(statusesNow: () => DeploymentStatus[]) {
    new Gauge({
      name: 'feeder_deployments',
      help: 'Deployments by state',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        const now = statusesNow();
        for (const state of STATES) this.set({ state }, now.filter((s) => s.state === state).length);
      },
    });
    new Gauge({
      name: 'feeder_inference_pending_requests',
      help: 'Inference requests queued or sent to the native process and not yet answered',
      labelNames: ['model_id'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const status of statusesNow()) this.set({ model_id: status.model_id }, status.number_of_pending_requests);
      },
    });
    new Gauge({
      name: 'feeder_deployment_workers',
      help: "forward()s at once in the deployment's native process (Elastic's number_of_allocations on one host)",
      labelNames: ['model_id'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const status of statusesNow()) this.set({ model_id: status.model_id }, status.workers);
      },
    });
    new Gauge({
      name: 'feeder_deployment_threads_per_worker',
      help: "Intra-op threads of each worker's forward() (Elastic's threads_per_allocation)",
      labelNames: ['model_id'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const status of statusesNow()) this.set({ model_id: status.model_id }, status.threads_per_worker);
      },
    });
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
