// Codec benchmark: the decoders of the deploy path on their own, no network. One chunk document's
// answer, cut into 64 KiB parts as socket reads hand it over, decoded into a chunk buffer with its
// CRC32, over and over; CPU ms per MiB of chunk, median of BENCH_RUNS runs.
//
//   npm run bench:codec
//
// It decides how CBOR chunks are decoded: our streaming scanner (src/chunks/codec/cbor.ts) against
// cborg, a well-kept library, which decodes only a whole buffer (so the parts are gathered
// first), and the base64 JSON decoder as it was the only one. Writes bench/results/codec.json.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decode } from 'cborg';
import { BufferPool } from '../src/chunks/buffer-pool.js';
import { crc32 } from '../src/chunks/crc32.js';
import { codecFor, type ChunkCodec } from '../src/chunks/codec/index.js';
import { median, round, table } from './support/report.js';

const MIB = 1024 * 1024;
const PART = 64 * 1024;
const RESULT_FILE = fileURLToPath(new URL('../../bench/results/codec.json', import.meta.url));

interface Variant {
  name: string;
  /** Decodes one answer, given as its parts; returns the chunk's CRC32 (so nothing is optimised away). */
  decode(parts: Buffer[]): number;
}

function parts(doc: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < doc.length; at += PART) out.push(doc.subarray(at, at + PART));
  return out;
}

function streaming(codec: ChunkCodec, size: number): Variant {
  const pool = new BufferPool(2);
  return {
    name: `feeder ${codec.encoding} (streaming)`,
    decode(answer) {
      const decoder = codec.decoder(size, pool);
      for (const part of answer) decoder.push(part);
      const decoded = decoder.finish()!;
      pool.give(decoded.bytes);
      return decoded.crc;
    },
  };
}

function library(): Variant {
  return {
    name: 'cborg (parts gathered, then decoded)',
    decode(answer) {
      const doc = decode(Buffer.concat(answer)) as { definition: Uint8Array };
      return crc32(Buffer.from(doc.definition.buffer, doc.definition.byteOffset, doc.definition.byteLength));
    },
  };
}

function measure(variant: Variant, answer: Buffer[], chunkMib: number, seconds = 1): number {
  // Warm up, then as many decodes as fit in `seconds`.
  for (let i = 0; i < 20; i++) variant.decode(answer);
  const cpu = process.cpuUsage();
  let decoded = 0;
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    variant.decode(answer);
    decoded += 1;
  }
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / 1000 / (decoded * chunkMib);
}

async function main(): Promise<void> {
  const runs = Number(process.env.BENCH_RUNS ?? 3);
  const size = MIB;
  const bytes = randomBytes(size);
  const chunk = { modelId: 'bench', generation: 1, docNum: 0, bytes, last: false, totalLength: null, crc: crc32(bytes) };
  const cborDoc = codecFor('cbor').encode(chunk);
  // As Elasticsearch answers a CBOR GET: the same items in a map of indefinite length.
  const answered = Buffer.concat([Buffer.from([0xbf]), cborDoc.subarray(1), Buffer.from([0xff])]);
  const jsonDoc = codecFor('base64').encode(chunk);
  const cases = [
    { variant: streaming(codecFor('cbor'), size), answer: parts(answered) },
    { variant: library(), answer: parts(answered) },
    { variant: streaming(codecFor('base64'), size), answer: parts(jsonDoc) },
  ];
  for (const { variant, answer } of cases) {
    if (variant.decode(answer) !== chunk.crc) throw new Error(`${variant.name} decoded a wrong chunk`);
  }
  const samples = cases.map(() => [] as number[]);
  for (let run = 0; run < runs; run++) cases.forEach(({ variant, answer }, i) => samples[i]!.push(measure(variant, answer, size / MIB)));
  const results = cases.map(({ variant }, i) => ({
    decoder: variant.name,
    cpu_ms_per_mib: round(median(samples[i]!), 3),
    samples: samples[i]!.map((s) => round(s, 3)),
  }));
  const ours = results[0]!.cpu_ms_per_mib;
  const report = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    runs,
    chunk_mib: size / MIB,
    part_kib: PART / 1024,
    results,
    library_vs_ours: round(results[1]!.cpu_ms_per_mib / ours, 2),
  };
  await mkdir(dirname(RESULT_FILE), { recursive: true });
  await writeFile(RESULT_FILE, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nDecoding one 1 MiB chunk document from 64 KiB parts, with its CRC32 (CPU ms per MiB, median of ${runs})\n`);
  console.log(
    table(
      ['decoder', 'ms/MiB', 'vs feeder cbor'],
      results.map((r) => [r.decoder, r.cpu_ms_per_mib, round(r.cpu_ms_per_mib / ours, 2)]),
    ),
  );
  console.log('\nwritten to bench/results/codec.json');
}

await main().catch((error: unknown) => {
  console.error(`bench: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
});
