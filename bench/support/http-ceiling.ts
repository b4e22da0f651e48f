// The HTTP ceiling of the inference benchmark, as a node process of its own:
//
//   node build/bench/support/http-ceiling.js '{"body":"<answer>","contentType":"application/json"}'
//
// A bare node:http server on a loopback port the kernel picks: it reads each request's body and
// answers with the same fixed body and headers whatever was asked. It is the most requests/s any
// node:http server on this machine gives; the daemon does the same plus its own work. Prints
// `{"port":N}` on stdout once it listens; stops on SIGTERM. With `workMs`, it is busy that long
// before each answer.
import { createServer } from 'node:http';

export interface CeilingOptions {
  /** The answer, byte for byte (the daemon's answer to the same request). */
  body: string;
  contentType: string;
  /**
   * Busy for this long before each answer, as a server computing the answer in its own process
   * (Python's forward, say) would be: bench:serve's floor for one client. Absent: answers at once.
   */
  workMs?: number;
}

const options = JSON.parse(process.argv[2] ?? '') as CeilingOptions;
const body = Buffer.from(options.body);
const headers = { 'content-type': options.contentType, 'content-length': body.length };

const server = createServer((request, response) => {
  // The whole request is read before answering, as the daemon must to parse it.
  request.resume();
  request.once('end', () => {
    if (options.workMs) busyFor(options.workMs);
    response.writeHead(200, headers);
    response.end(body);
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`));
function busyFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
