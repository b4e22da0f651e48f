import { setTimeout as sleep } from 'node:timers/promises';
import { chmod } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Agent as HttpsAgent, type Server as HttpsServer } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import { formatHostPort, type ListenAddress } from '../config/daemon-address.js';
import {
  BadPathError,
  InvalidArgumentError,
  ListenError,
  MethodNotAllowedError,
  ModelNotFoundError,
  NoRouteError,
  UnavailableError,
} from '../errors.js';
import { CONTROL_CLEAR_CACHE, CONTROL_PROCESS_STATS } from '../native/protocol.js';
import { parseInferenceInputs } from '../native/token-ids.js';
import type { Parallelism } from '../native/parallelism.js';
import { parseInferBody } from '../nlp/infer-body.js';
import { inferText } from '../nlp/infer-text.js';
import type { Deployments } from '../deployments/deployments.js';
import type { BatchingOverrides } from '../deployments/inference-queue.js';
import { validateBatching } from '../config/config.js';
import { type Fleet } from '../fleet/fleet.js';
import { fleetSettled, waitForFleet } from '../fleet/fleet-status.js';
import { forwardToHolders, FORWARDED_HEADER, SERVED_BY_HEADER } from '../fleet/forward.js';
import { forwardTimeoutOf } from '../fleet/forward-timeout.js';
import type { DeploymentStatus } from './wire-types.js';
import { answerClientError, checkBearer, readJsonBody, sendError, sendJson, trackResponse, writeRawError } from './http.js';
import { checkBrowserRequest, requireJsonBody } from './request-guard.js';
import { decodePathSegment, parseTargetPath } from './request-target.js';
import { prepareSocketPath } from './socket-path.js';
import { answerPlainHttp, checkClientCertificate, clientCertificateOptions } from './tls.js';

/** The control API's server: plain HTTP, or HTTPS with `daemon.tls`. */
export type Server = HttpServer | HttpsServer;

type Handler = (request: IncomingMessage, response: ServerResponse, modelId: string) => Promise<void>;

interface Route {
  pattern: RegExp;
  methods: Record<string, Handler>;
}

export interface ControlApiOptions {
  token: string | undefined;
  /** Set when the daemon is a fleet member: deployments are then the fleet's. */
  fleet?: Fleet | undefined;
  /** Where it listens: a Unix socket's clients may send no Host. */
  address: ListenAddress;
  /** The daemon's names beyond loopback that a request's Host may carry (src/daemon/advertise.ts). */
  hostNames: readonly string[];
  /** The certificate and key to serve (and the CA of client certificates): the API then speaks HTTPS only. */
  tls?: SecureContextOptions | undefined;
  /** How a fleet member reaches the members that speak HTTPS: checked against the fleet's CA, with its own certificate for mutual TLS. */
  forwardAgent?: () => HttpsAgent | undefined;
  /** `daemon.inferenceTimeoutMs`: how long a forwarded request waits for its holder when it names no timeout of its own. */
  inferenceTimeoutMs: number;
}

const MAX_WAIT_MS = 10 * 60_000;
/** How long a fleet undeploy waits for the holders to stop their allocations. */
const UNDEPLOY_WAIT_MS = 30_000;

/**
 * The daemon's control API:
 *   GET /healthz, GET /metrics, GET /deployments, GET|PUT|DELETE /deployments/<id>,
 *   POST /deployments/<id>/infer, POST /deployments/<id>/_infer, POST /deployments/<id>/control
 */
export function createControlApi(deployments: Deployments, options: ControlApiOptions): Server {
  const routes = options.fleet ? buildFleetRoutes(deployments, options.fleet, options) : buildRoutes(deployments);
  const onRequest = (request: IncomingMessage, response: ServerResponse) => {
    trackResponse(request, response);
    handle(routes, request, response, options).catch((error: unknown) => sendError(response, error));
  };
  // The Host check is ours (a Unix socket may go without one); node's would answer a bare 400.
  const server = options.tls
    ? createHttpsServer({ requireHostHeader: false, ...options.tls, ...clientCertificateOptions(options.tls) }, onRequest)
    : createServer({ requireHostHeader: false }, onRequest);
  if (options.tls) answerPlainHttp(server as HttpsServer);
  server.on('clientError', answerClientError);
  // Unanswered, node:http drops a CONNECT's connection without a word.
  server.on('connect', (_request: IncomingMessage, socket) =>
    writeRawError(socket, new BadPathError('CONNECT is not served: the control API is no proxy')),
  );
  // node:http answers an Expect other than 100-continue with a bare 417 before any check of ours; RFC 9110 lets a server ignore it.
  server.on('checkExpectation', onRequest);
  return server;
}

/**
 * Who may ask comes before what is asked: the client certificate under mutual TLS, the browser checks, then the token (but for /healthz),
 * so that a caller without the token learns nothing of the routes, not even from a 404 or a 405.
 */
async function handle(routes: Route[], request: IncomingMessage, response: ServerResponse, options: ControlApiOptions): Promise<void> {
  checkClientCertificate(request, options.tls?.ca !== undefined);
  checkBrowserRequest(request, options.address, options.hostNames);
  const path = parseTargetPath(request.url);
  if (path !== '/healthz') checkBearer(request, options.token);
  const { handler, id } = resolveRoute(routes, request.method ?? '', path);
  requireJsonBody(request);
  await handler(request, response, id);
}

function resolveRoute(routes: Route[], method: string, path: string): { handler: Handler; id: string } {
  const route = routes.find((r) => r.pattern.test(path));
  if (!route) throw new NoRouteError(`no such endpoint: ${path}`);
  const handler = route.methods[method];
  if (!handler) {
    const allow = Object.keys(route.methods).join(', ');
    throw new MethodNotAllowedError(`${method} is not allowed on ${path}; use ${allow}`, { allow });
  }
  return { handler, id: decodePathSegment(route.pattern.exec(path)![1] ?? '') };
}

function buildRoutes(deployments: Deployments): Route[] {
  return [
    {
      pattern: /^\/healthz$/,
      methods: { GET: async (_q, r) => sendJson(r, 200, { status: 'ok', deployments: deployments.list().length }) },
    },
    {
      pattern: /^\/metrics$/,
      methods: {
        GET: async (_q, r) => {
          const text = await deployments.metrics.render();
          r.writeHead(200, { 'content-type': deployments.metrics.registry.contentType });
          r.end(text);
        },
      },
    },
    { pattern: /^\/deployments\/?$/, methods: { GET: async (_q, r) => sendJson(r, 200, { deployments: deployments.list() }) } },
    {
      pattern: /^\/deployments\/([^/]+)$/,
      methods: {
        GET: async (_q, r, id) => sendJson(r, 200, deployments.require(id).status()),
        PUT: async (q, r, id) => deploy(deployments, q, r, id),
        DELETE: async (_q, r, id) => sendJson(r, 200, await deployments.undeploy(id)),
      },
    },
    { pattern: /^\/deployments\/([^/]+)\/infer$/, methods: { POST: async (q, r, id) => infer(deployments, q, r, id) } },
    { pattern: /^\/deployments\/([^/]+)\/_infer$/, methods: { POST: async (q, r, id) => inferOnText(deployments, q, r, id) } },
    { pattern: /^\/deployments\/([^/]+)\/control$/, methods: { POST: async (q, r, id) => control(deployments, q, r, id) } },
  ];
}

/**
 * The routes of a fleet member. Deployments are the fleet's: PUT asks the fleet for `allocations`
 * of a model, GET shows where each allocation runs, DELETE removes it from the fleet. An inference
 * this daemon cannot answer itself is forwarded, with the token, to a daemon that holds a started
 * allocation (once: a forwarded request is never forwarded again).
 */
function buildFleetRoutes(deployments: Deployments, fleet: Fleet, options: ControlApiOptions): Route[] {
  const { token, forwardAgent, tls, inferenceTimeoutMs } = options;
  const [healthz, metrics] = buildRoutes(deployments);
  const onModel = (path: keyof typeof LOCAL_HANDLERS) => async (request: IncomingMessage, response: ServerResponse, id: string) => {
    if (fleet.servesLocally(id)) {
      response.setHeader(SERVED_BY_HEADER, fleet.name);
      return LOCAL_HANDLERS[path](deployments, request, response, id);
    }
    if (request.headers[FORWARDED_HEADER] !== undefined)
      throw new UnavailableError(`daemon '${fleet.name}' no longer serves model '${id}'; try again`);
    const servers = await fleet.findServers(id);
    if (servers.length === 0) {
      await fleet.modelStatus(id);
      throw new UnavailableError(
        `no daemon of fleet '${fleet.fleet}' has a started allocation of model '${id}' yet; 'feeder status ${id}' shows where each allocation is`,
      );
    }
    await forwardToHolders(request, response, servers, {
      token,
      from: fleet.name,
      path: `/deployments/${encodeURIComponent(id)}/${path}`,
      health: fleet.holderHealth,
      // An inference changes nothing: another holder may answer it; a control request is the holder's own.
      resendable: path !== 'control',
      httpsAgent: forwardAgent?.(),
      tlsOnly: tls !== undefined,
      // Only `_infer` has a timeout of its own; /infer and control wait as configured.
      timeout: (body) => forwardTimeoutOf(id, path === '_infer' ? body : undefined, inferenceTimeoutMs),
    });
  };
  return [
    healthz!,
    metrics!,
    {
      pattern: /^\/deployments\/?$/,
      methods: { GET: async (_q, r) => sendJson(r, 200, { deployments: deployments.list(), fleet: await fleet.status() }) },
    },
    {
      pattern: /^\/deployments\/([^/]+)$/,
      methods: {
        GET: async (_q, r, id) => sendJson(r, 200, await fleet.modelStatus(id)),
        PUT: async (q, r, id) => deployToFleet(fleet, q, r, id),
        DELETE: async (_q, r, id) => undeployFromFleet(fleet, r, id),
      },
    },
    { pattern: /^\/deployments\/([^/]+)\/infer$/, methods: { POST: onModel('infer') } },
    { pattern: /^\/deployments\/([^/]+)\/_infer$/, methods: { POST: onModel('_infer') } },
    { pattern: /^\/deployments\/([^/]+)\/control$/, methods: { POST: onModel('control') } },
    { pattern: /^\/fleet$/, methods: { GET: async (_q, r) => sendJson(r, 200, await fleet.status()) } },
  ];
}

/**
 * PUT /deployments/<id> {allocations?, wait_for?, timeout_ms?, workers?, threads_per_worker?, max_batch_size?, max_queue_delay_ms?}
 * on a fleet member: 200 once every allocation is started (or one failed), 202 if still under way.
 */
async function deployToFleet(fleet: Fleet, request: IncomingMessage, response: ServerResponse, modelId: string): Promise<void> {
  const body = asObject(await readJsonBody(request));
  const { waitFor, timeoutMs } = parseWait(body);
  const allocations = body.allocations ?? 1;
  await fleet.deploy(modelId, allocations as number, { parallelism: parseParallelism(body), batching: parseBatching(body) });
  const { status, done } = await waitForFleet(fleet, modelId, (s) => s !== null && fleetSettled(s, waitFor), timeoutMs);
  sendJson(response, done ? 200 : 202, status);
}

/** DELETE /deployments/<id> on a fleet member: removes the desired deployment, then waits (a while) until no daemon holds an allocation of it. */
async function undeployFromFleet(fleet: Fleet, response: ServerResponse, modelId: string): Promise<void> {
  if (!(await fleet.undeploy(modelId)))
    throw new ModelNotFoundError(
      `model '${modelId}' is not deployed in fleet '${fleet.fleet}'; 'feeder status' lists the fleet's deployments`,
    );
  // Each holder stops its allocation at its next reconcile; the answer waits for them, within a bound.
  const deadline = Date.now() + UNDEPLOY_WAIT_MS;
  let left = await fleet.allocationsLeft(modelId);
  while (left > 0 && Date.now() < deadline) {
    await sleep(250);
    left = await fleet.allocationsLeft(modelId);
  }
  sendJson(response, 200, { model_id: modelId, fleet: fleet.fleet, undeployed: true, allocations_left: left });
}

/** `workers` and `threads_per_worker` as the body names them; resolveParallelism checks them. */
function parseParallelism(body: Record<string, unknown>): Partial<Parallelism> {
  const given: Partial<Parallelism> = {};
  if (body.workers !== undefined) given.workers = body.workers as number;
  if (body.threads_per_worker !== undefined) given.threadsPerWorker = body.threads_per_worker as number;
  return given;
}

function parseWait(body: Record<string, unknown>): { waitFor: 'starting' | 'started'; timeoutMs: number } {
  const waitFor = body.wait_for ?? 'started';
  if (waitFor !== 'starting' && waitFor !== 'started')
    throw new InvalidArgumentError(`wait_for must be 'starting' or 'started'; got ${JSON.stringify(waitFor)}`);
  const timeoutMs = body.timeout_ms ?? 60_000;
  if (!Number.isSafeInteger(timeoutMs) || (timeoutMs as number) < 0 || (timeoutMs as number) > MAX_WAIT_MS) {
    throw new InvalidArgumentError(
      `timeout_ms must be a whole number of milliseconds up to ${MAX_WAIT_MS}; got ${JSON.stringify(timeoutMs)}`,
    );
  }
  return { waitFor, timeoutMs: timeoutMs as number };
}

/** A deploy's own batching, `max_batch_size` and `max_queue_delay_ms`; what is not given stays as configured. */
function parseBatching(body: Record<string, unknown>): BatchingOverrides {
  const batching = { maxBatchSize: body.max_batch_size, maxQueueDelayMs: body.max_queue_delay_ms };
  validateBatching(batching, 'max_batch_size', 'max_queue_delay_ms');
  return batching as BatchingOverrides;
}

/** PUT /deployments/<id> {wait_for?, timeout_ms?, workers?, threads_per_worker?, max_batch_size?, max_queue_delay_ms?}: 200 once the wait is over, 202 if still starting. */
async function deploy(deployments: Deployments, request: IncomingMessage, response: ServerResponse, modelId: string): Promise<void> {
  const body = asObject(await readJsonBody(request));
  if (body.allocations !== undefined && body.allocations !== 1)
    throw new InvalidArgumentError(
      `allocations above 1 need a fleet: this daemon is in none; start the daemons with the same daemon.fleet (FEEDER_FLEET, --fleet)`,
    );
  const { waitFor, timeoutMs } = parseWait(body);
  const deployment = await deployments.deploy(modelId, parseParallelism(body), parseBatching(body));
  const status = await deployment.waitUntil(waitFor === 'starting' ? isUnderWay : isSettled, timeoutMs);
  sendJson(response, isSettled(status) || waitFor === 'starting' ? 200 : 202, status);
}

/** Started (and not rolling over), failed or stopped: nothing more will happen without a command. */
function isSettled(status: DeploymentStatus): boolean {
  return status.state !== 'starting' && status.state !== 'stopping' && status.rollover?.state !== 'loading';
}

function isUnderWay(status: DeploymentStatus): boolean {
  return status.state !== 'stopping';
}

async function infer(deployments: Deployments, request: IncomingMessage, response: ServerResponse, modelId: string): Promise<void> {
  const deployment = deployments.require(modelId);
  const inputs = parseInferenceInputs(asObject(await readJsonBody(request)));
  sendJson(response, 200, await deployment.infer(inputs));
}

/** POST /deployments/<id>/_infer, Elastic's body: text in, one task result per doc out. */
async function inferOnText(deployments: Deployments, request: IncomingMessage, response: ServerResponse, modelId: string): Promise<void> {
  const deployment = deployments.require(modelId);
  const body = parseInferBody(asObject(await readJsonBody(request)));
  const model = deployment.textModel();
  sendJson(response, 200, await inferText(model, body, (batch) => deployment.infer(batch.inputs, { pad: batch.pad })));
}

/** POST /deployments/<id>/control {control: 0|1}: the process's answer, as for an inference. */
async function control(deployments: Deployments, request: IncomingMessage, response: ServerResponse, modelId: string): Promise<void> {
  const deployment = deployments.require(modelId);
  const { control: code } = asObject(await readJsonBody(request));
  if (code !== CONTROL_CLEAR_CACHE && code !== CONTROL_PROCESS_STATS) {
    throw new InvalidArgumentError(
      `control must be ${CONTROL_CLEAR_CACHE} (clear the cache) or ${CONTROL_PROCESS_STATS} (process stats), e.g. {"control": 1}; got ${JSON.stringify(code)}`,
    );
  }
  sendJson(response, 200, await deployment.control(code));
}

const LOCAL_HANDLERS = { infer, _infer: inferOnText, control } as const;

function asObject(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidArgumentError('request body must be a JSON object');
  return value as Record<string, unknown>;
}

/** Listens on a TCP address, or on a Unix socket that only this user can open; answers where, with the real port. */
export async function listen(server: Server, address: ListenAddress): Promise<string> {
  if (address.kind === 'unix') {
    await prepareSocketPath(address.path);
    await listenOn(server, `unix:${address.path}`, (done) => server.listen(address.path, done));
    await chmod(address.path, 0o600);
    return `unix:${address.path}`;
  }
  await listenOn(server, formatHostPort(address.host, address.port), (done) => server.listen(address.port, address.host, done));
  return formatHostPort(address.host, (server.address() as { port: number }).port);
}

const LISTEN_FAILURES: Record<string, string> = {
  EADDRINUSE: 'the address is in use, by another daemon or another program',
  EADDRNOTAVAIL: 'no interface of this machine has that address',
  ENOTFOUND: 'the host name does not resolve to an address',
};

/** A port or socket that another process took meanwhile is the user's to sort out, not a crash. */
async function listenOn(server: Server, where: string, start: (done: () => void) => void): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      start(() => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = LISTEN_FAILURES[code ?? ''] ?? (error as Error).message;
    throw new ListenError(`cannot listen on ${where}: ${reason}; choose another address with --listen / FEEDER_LISTEN`, { cause: error });
  }
}
