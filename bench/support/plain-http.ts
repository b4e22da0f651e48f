import http from 'node:http';
import https from 'node:https';

export interface PlainResponse {
  status: number;
  body: string;
}

/**
 * A bare keep-alive HTTP client for Elasticsearch: no client library, no serializer, no retries.
 * It is the baseline the feeder is compared with. Credentials come from the URL or ES_API_KEY.
 */
export class PlainHttp {
  readonly #url: URL;
  readonly #transport: typeof http | typeof https;
  readonly #agent: http.Agent;
  readonly #auth: Record<string, string>;

  constructor(url: string) {
    this.#url = new URL(url);
    this.#transport = this.#url.protocol === 'https:' ? https : http;
    this.#agent = new this.#transport.Agent({ keepAlive: true, maxSockets: 8 });
    this.#auth = authHeader(this.#url);
  }

  /** `contentType` also picks the answer's, unless `accept` says otherwise (Elasticsearch answers a CBOR request in CBOR). */
  request(
    method: string,
    path: string,
    body?: Buffer,
    contentType = 'application/json',
    accept = 'application/json',
  ): Promise<PlainResponse> {
    const headers: Record<string, string | number> = { ...this.#auth, accept };
    if (body) Object.assign(headers, { 'content-type': contentType, 'content-length': body.length });
    return new Promise((resolve, reject) => {
      const req = this.#transport.request(
        { hostname: this.#url.hostname, port: this.#url.port, method, path, agent: this.#agent, headers },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (part: Buffer) => parts.push(part));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Like `request`, but throws unless the status is 2xx; returns the parsed JSON answer. */
  async ok(method: string, path: string, body?: Buffer, contentType?: string): Promise<any> {
    const res = await this.request(method, path, body, contentType);
    if (res.status < 200 || res.status >= 300) throw new Error(`${method} ${path}: HTTP ${res.status}: ${res.body.slice(0, 500)}`);
    return res.body ? JSON.parse(res.body) : null;
  }

  close(): void {
    this.#agent.destroy();
  }
}

function authHeader(url: URL): Record<string, string> {
  if (process.env.ES_API_KEY) return { authorization: `ApiKey ${process.env.ES_API_KEY}` };
  if (!url.username) return {};
  const basic = Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64');
  return { authorization: `Basic ${basic}` };
}
