import { createServer, connect, type Server, type Socket } from 'node:net';

type Pair = readonly [client: Socket, upstream: Socket];

/**
 * A TCP relay in front of the real Elasticsearch node. `cut()` drops every connection and stops
 * listening, which to a client is exactly a node that went away; `restore()` brings it back on the
 * same port. `pause()` stops forwarding in both directions with every connection kept open, which
 * to a client is a node that stalled; `resume()` forwards again. It is used because stopping the
 * suite's shared node would break the other tests.
 */
export class TcpRelay {
  #server: Server | null = null;
  readonly #sockets = new Set<Socket>();
  readonly #pairs = new Set<Pair>();
  #paused = false;
  port = 0;
  /** Connections accepted so far. */
  connections = 0;

  constructor(private readonly target: URL) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    await this.#listen(0);
    return this;
  }

  cut(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    const server = this.#server;
    this.#server = null;
    return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }

  restore(): Promise<void> {
    return this.#listen(this.port);
  }

  pause(): void {
    this.#paused = true;
    for (const pair of this.#pairs) stopForwarding(pair);
  }

  resume(): void {
    this.#paused = false;
    for (const pair of this.#pairs) forward(pair);
  }

  #listen(port: number): Promise<void> {
    const server = createServer((client) => {
      this.connections += 1;
      const upstream = connect(Number(this.target.port), this.target.hostname);
      const pair: Pair = [client, upstream];
      this.#pairs.add(pair);
      for (const socket of pair) {
        this.#sockets.add(socket);
        socket.on('close', () => {
          this.#sockets.delete(socket);
          this.#pairs.delete(pair);
        });
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      if (this.#paused) stopForwarding(pair);
      else forward(pair);
    });
    this.#server = server;
    return new Promise((resolve) =>
      server.listen(port, '127.0.0.1', () => {
        this.port = (server.address() as { port: number }).port;
        resolve();
      }),
    );
  }
}

function forward([client, upstream]: Pair): void {
  client.pipe(upstream);
  upstream.pipe(client);
}

function stopForwarding([client, upstream]: Pair): void {
  client.unpipe(upstream);
  upstream.unpipe(client);
  client.pause();
  upstream.pause();
}
