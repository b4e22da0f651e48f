import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP relay in front of the real Elasticsearch node. `cut()` drops every connection and stops
 * listening, which to a client is exactly a node that went away; `restore()` brings it back on the
 * same port. `stall()` makes it take new connections and forward nothing, which is a node that
 * stopped answering. It is used because stopping the suite's shared node would break the other tests.
 */
export class TcpRelay {
  #server: Server | null = null;
  readonly #sockets = new Set<Socket>();
  #stalled = false;
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

  /** New connections are accepted and read, and never answered. */
  stall(): void {
    this.#stalled = true;
  }

  restore(): Promise<void> {
    return this.#listen(this.port);
  }

  #swallow(client: Socket): void {
    this.#sockets.add(client);
    client.on('close', () => this.#sockets.delete(client));
    client.on('error', () => client.destroy());
    client.resume();
  }

  #listen(port: number): Promise<void> {
    const server = createServer((client) => {
      this.connections += 1;
      if (this.#stalled) return this.#swallow(client);
      const upstream = connect(Number(this.target.port), this.target.hostname);
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
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
