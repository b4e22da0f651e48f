// bench:serve's one-client bound, as a node process of its own: the daemon's two hops and nothing
// else.
//
//   node build/bench/support/bare-proxy.js '{"binary":"...","model":"<file>","args":["--threads","1"]}'
//
// It streams the model into the native process as the daemon does (size header, then the bytes),
// then serves POST <any path> with a body `{"tokens": [[...]]}`: one request frame to the native
// process per HTTP request, its answer frame as the JSON answer. No routes, checks, queue, batching,
// timeouts or metrics: the least a node process between a client and a native process costs, on the
// same cores. Prints `{"port":N}` once it listens; stops on SIGTERM.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { frameSplitter, packr, spawnWithModel } from './native-direct.js';

export interface BareProxyOptions {
  binary: string;
  model: string;
  args: string[];
}

const options = JSON.parse(process.argv[2] ?? '') as BareProxyOptions;
const native = spawnWithModel(options.binary, readFileSync(options.model), options.args);
const waiting = new Map<string, (frame: unknown) => void>();
let loaded: (frame: { type?: string }) => void = () => {};
const load = new Promise<{ type?: string }>((resolve) => (loaded = resolve));
const split = frameSplitter();
native.stdout.on('data', (data: Buffer) => {
  for (const frame of split(data) as Array<{ type?: string; request_id: string }>) {
    if (frame.type === 'loaded') loaded(frame);
    const answer = waiting.get(frame.request_id);
    waiting.delete(frame.request_id);
    answer?.(frame);
  }
});
native.once('exit', (code, signal) => loaded({ type: `an exit (${signal ?? code}) before its loaded frame` }));
const first = await load;
if (first.type !== 'loaded') throw new Error(`the native process did not load the model: ${JSON.stringify(first)}`);

let next = 0;
const server = createServer((request, response) => {
  const parts: Buffer[] = [];
  request.on('data', (part: Buffer) => parts.push(part));
  request.on('end', () => {
    const { tokens } = JSON.parse(Buffer.concat(parts).toString('utf8')) as { tokens: number[][] };
    const id = String((next += 1));
    waiting.set(id, (frame) => {
      const text = JSON.stringify(frame);
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      response.end(text);
    });
    native.stdin.write(packr.pack({ request_id: id, tokens }));
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`));

process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  native.stdin.end();
});
