// The load generator of the inference benchmark, as a node process of its own so that it shares no
// event loop with the server under test:
//
//   node build/bench/support/load-generator.js '<LoadOptions as JSON>'
//
// Closed loop: `connections` keep-alive connections (an undici Pool, no pipelining), each sending
// its next request as soon as the previous answer has been read. Answers that complete during the
// warm-up are not counted; those that complete in the `durationMs` after it are, with their
// latencies. Prints one JSON line (LoadReport) on stdout.
//
// On a 2-core machine the generator shares the cores with the server it loads, so it is kept lean:
// undici's dispatch API hands over the status and the body's bytes without a stream per answer.
import { readFileSync } from 'node:fs';
import { Pool, type Dispatcher } from 'undici';

export interface LoadOptions {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  method: string;
  path: string;
  body: string;
  contentType: string;
  connections: number;
  warmupMs: number;
  durationMs: number;
  /** An answer without this text is counted as an error (`unexpected_body`), even with a 2xx status. */
  expect: string;
  /** For an https origin: the PEM file of the CA its certificate is checked against. */
  ca?: string;
}

export interface LoadReport {
  /** 2xx answers with the expected body, completed during the measured window. */
  requests: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  mean_ms: number;
  max_ms: number;
  /** Everything else completed during the measured window: non-2xx by status, bad bodies, transport errors. */
  errors: number;
  error_detail: { status: Record<string, number>; unexpected_body: number; transport: number; first: string | null };
  /** Every answer, warm-up included: what the servers' CPU time is divided by. */
  total_answers: number;
  /** This process's CPU time over the whole run. */
  cpu_ms: number;
  /** Connections the pool opened over the whole run: `connections` when keep-alive held. */
  connections_opened: number;
  /** The measured window in µs on the monotonic clock (`process.hrtime`, which `node --cpu-prof` also uses). */
  window_us: { from: number; to: number };
}

interface Answer {
  status: number;
  body: string;
}

/** After a transport error, so that a dead server is not hammered in a tight loop. */
const ERROR_PAUSE_MS = 10;

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '') as LoadOptions;
  const connect = options.ca === undefined ? {} : { connect: { ca: readFileSync(options.ca) } };
  const pool = new Pool(options.origin, { connections: options.connections, pipelining: 1, ...connect });
  const cpu = process.cpuUsage();
  const startedUs = Number(process.hrtime.bigint() / 1000n);
  const started = performance.now();
  const window = { from: started + options.warmupMs, to: started + options.warmupMs + options.durationMs };
  const tally = new Tally(window);
  pool.on('connect', () => (tally.connectionsOpened += 1));
  try {
    await Promise.all(Array.from({ length: options.connections }, () => client(pool, options, tally)));
  } finally {
    await pool.close();
  }
  const used = process.cpuUsage(cpu);
  const fromUs = startedUs + options.warmupMs * 1000;
  const report: LoadReport = {
    ...tally.report(options.durationMs, (used.user + used.system) / 1000),
    window_us: { from: fromUs, to: fromUs + options.durationMs * 1000 },
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

/** One connection's worth of the closed loop. */
async function client(pool: Pool, options: LoadOptions, tally: Tally): Promise<void> {
  const request: Dispatcher.DispatchOptions = {
    method: options.method as Dispatcher.HttpMethod,
    path: options.path,
    headers: { 'content-type': options.contentType },
    body: options.body,
  };
  while (performance.now() < tally.window.to) {
    const sent = performance.now();
    try {
      const answer = await send(pool, request);
      tally.answer(sent, performance.now(), answer.status, answer.body.includes(options.expect), answer.body);
    } catch (error) {
      tally.transportError(performance.now(), error as Error);
      await new Promise((resolve) => setTimeout(resolve, ERROR_PAUSE_MS));
    }
  }
}

function send(pool: Pool, request: Dispatcher.DispatchOptions): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let body = '';
    pool.dispatch(request, {
      onConnect: () => {},
      onHeaders: (statusCode) => ((status = statusCode), true),
      onData: (chunk) => ((body += chunk.toString('latin1')), true),
      onComplete: () => resolve({ status, body }),
      onError: reject,
    });
  });
}

class Tally {
  connectionsOpened = 0;
  readonly #latencies: number[] = [];
  readonly #status: Record<string, number> = {};
  #unexpected = 0;
  #transport = 0;
  #first: string | null = null;
  #answers = 0;

  constructor(readonly window: { from: number; to: number }) {}

  answer(sent: number, done: number, status: number, expected: boolean, text: string): void {
    this.#answers += 1;
    if (!this.#counts(done)) return;
    if (status >= 200 && status < 300 && expected) return void this.#latencies.push(done - sent);
    if (status >= 200 && status < 300) this.#unexpected += 1;
    else this.#status[status] = (this.#status[status] ?? 0) + 1;
    this.#first ??= `HTTP ${status}: ${text.slice(0, 300)}`;
  }

  transportError(done: number, error: Error): void {
    if (!this.#counts(done)) return;
    this.#transport += 1;
    this.#first ??= `${(error as { code?: string }).code ?? error.name}: ${error.message}`;
  }

  report(durationMs: number, cpuMs: number): Omit<LoadReport, 'window_us'> {
    const sorted = Float64Array.from(this.#latencies).sort();
    const statusErrors = Object.values(this.#status).reduce((a, b) => a + b, 0);
    return {
      requests: sorted.length,
      rps: sorted.length / (durationMs / 1000),
      p50_ms: percentile(sorted, 0.5),
      p99_ms: percentile(sorted, 0.99),
      mean_ms: sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : NaN,
      max_ms: sorted.at(-1) ?? NaN,
      errors: statusErrors + this.#unexpected + this.#transport,
      error_detail: { status: this.#status, unexpected_body: this.#unexpected, transport: this.#transport, first: this.#first },
      total_answers: this.#answers,
      cpu_ms: cpuMs,
      connections_opened: this.connectionsOpened,
    };
  }

  #counts(done: number): boolean {
    return done > this.window.from && done <= this.window.to;
  }
}

/** Nearest rank: the smallest latency that at least `q` of the requests did not exceed. */
function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

await main().catch((error: unknown) => {
  process.stderr.write(`load-generator: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
