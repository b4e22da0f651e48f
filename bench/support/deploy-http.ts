import http from 'node:http';
import https from 'node:https';

/**
 * A bare keep-alive HTTP client for the deploy baselines: no client library, no retries. `discard`
 * reads an answer and throws it away (the fetch ceiling); `json` parses one. Credentials come from
 * the URL or ES_API_KEY.
 */
export class RawHttp {
  readonly #url: URL;
  readonly #transport: typeof http | typeof https;
  readonly #agent: http.Agent;
  readonly #auth: Record<string, string>;

  constructor(url: string, maxSockets = 8) {
    this.#url = new URL(url);
    this.#transport = this.#url.protocol === 'https:' ? https : http;
    this.#agent = new this.#transport.Agent({ keepAlive: true, maxSockets });
    this.#auth = authHeader(this.#url);
  }

  /** GET `path`; resolves with the number of body bytes received, which are not kept. */
  discard(path: string): Promise<number> {
    return this.#send('GET', path, undefined, (res, done) => {
      let bytes = 0;
      res.on('data', (part: Buffer) => (bytes += part.length));
      res.on('end', () => done(bytes));
    });
  }

  /** Sends a JSON body (or none) and parses the JSON answer; throws unless the status is 2xx. */
  json<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    return this.#send(method, path, body === undefined ? undefined : Buffer.from(JSON.stringify(body)), (res, done) => {
      const parts: Buffer[] = [];
      res.on('data', (part: Buffer) => parts.push(part));
      res.on('end', () => done(JSON.parse(Buffer.concat(parts).toString('utf8')) as T));
    });
  }

  close(): void {
    this.#agent.destroy();
  }

  #send<T>(
    method: string,
    path: string,
    body: Buffer | undefined,
    read: (res: http.IncomingMessage, done: (value: T) => void) => void,
  ): Promise<T> {
    const headers: Record<string, string | number> = { ...this.#auth };
    if (body) Object.assign(headers, { 'content-type': 'application/json', 'content-length': body.length });
    return new Promise<T>((resolve, reject) => {
      const req = this.#transport.request(
        { hostname: this.#url.hostname, port: this.#url.port, method, path, agent: this.#agent, headers },
        (res) => {
          res.on('error', reject);
          if (!res.statusCode || res.statusCode < 200 || res.statusCode >= 300) {
            let text = '';
            res.on('data', (part: Buffer) => (text += part.length < 1000 ? part.toString() : ''));
            res.on('end', () => reject(new Error(`${method} ${path}: HTTP ${res.statusCode}: ${text.slice(0, 500)}`)));
            return;
          }
          read(res, resolve);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }
}

function authHeader(url: URL): Record<string, string> {
  if (process.env.ES_API_KEY) return { authorization: `ApiKey ${process.env.ES_API_KEY}` };
  if (!url.username) return {};
  const basic = Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64');
  return { authorization: `Basic ${basic}` };
}
