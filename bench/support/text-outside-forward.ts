import type { ModelAssets } from '../../src/model/assets.js';
import type { ResponseFrame } from '../../src/native/protocol.js';
import type { PaddedBatch } from '../../src/nlp/batch.js';
import { parseInferBody } from '../../src/nlp/infer-body.js';
import { inferText } from '../../src/nlp/infer-text.js';
import { TextModel } from '../../src/nlp/text-model.js';
import type { FeederServe } from './feeder-serve.js';
import { median, round } from './report.js';

// The daemon's work on a text request outside forward(), measured in this process: the daemon's own
// `_infer` code (parse, tokenize, pad, post-process) on the same texts, with forward() answered at
// once by the frame native-torch gave for the same batch, fetched beforehand through the raw /infer.

export interface OutsideForward {
  /** Tokenizing and post-processing CPU per doc / forward()'s time per doc. */
  share: number;
  figures: { cpu_us_per_doc: number; tokenize_us_per_doc: number; forward_ms_per_doc: number };
}

/** native-torch's answer to the batch, through the daemon's raw token endpoint, with its own forward() time. */
async function nativeAnswer(serve: FeederServe, modelId: string, batch: PaddedBatch): Promise<ResponseFrame & { time_ms: number }> {
  const res = await fetch(`${serve.url}/deployments/${modelId}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(batch.inputs),
  });
  const frame = (await res.json()) as ResponseFrame & { time_ms: number };
  if (frame.type !== 'result') throw new Error(`native-torch answered ${JSON.stringify(frame).slice(0, 300)}`);
  return frame;
}

function groups(texts: string[], size: number): string[][] {
  const out: string[][] = [];
  for (let i = 0; i + size <= texts.length; i += size) out.push(texts.slice(i, i + size));
  return out;
}

export async function outsideForward(
  serve: FeederServe,
  modelId: string,
  assets: ModelAssets,
  texts: string[],
  batch: number,
  rounds: number,
): Promise<OutsideForward> {
  const model = TextModel.fromAssets(modelId, assets);
  const bodies = groups(texts, batch).map((docs) => parseInferBody({ docs: docs.map((text) => ({ text_field: text })) }));
  const frames: Array<ResponseFrame & { time_ms: number }> = [];
  for (const body of bodies)
    await inferText(model, body, async (padded) => frames[frames.push(await nativeAnswer(serve, modelId, padded)) - 1]!);
  const docs = bodies.length * batch;
  const cpu: number[] = [];
  const tokenize: number[] = [];
  for (let r = 0; r < rounds + 1; r++) {
    const started = process.cpuUsage();
    for (const [i, body] of bodies.entries()) await inferText(model, body, async () => frames[i]!);
    const used = process.cpuUsage(started);
    const tokenizeStarted = process.cpuUsage();
    for (const text of texts.slice(0, docs))
      await model.tokenizer.encode(text, { maxSequenceLength: model.config.tokenization.max_sequence_length });
    const tokenizeUsed = process.cpuUsage(tokenizeStarted);
    // The first round warms the JIT up.
    if (r === 0) continue;
    cpu.push((used.user + used.system) / docs);
    tokenize.push((tokenizeUsed.user + tokenizeUsed.system) / docs);
  }
  const forwardMsPerDoc = median(frames.map((f) => f.time_ms)) / batch;
  const cpuUsPerDoc = median(cpu);
  return {
    share: cpuUsPerDoc / 1000 / forwardMsPerDoc,
    figures: {
      cpu_us_per_doc: round(cpuUsPerDoc),
      tokenize_us_per_doc: round(median(tokenize)),
      forward_ms_per_doc: round(forwardMsPerDoc, 3),
    },
  };
}
