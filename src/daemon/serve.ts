import { once } from 'node:events';
import type { Server as HttpsServer } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import { parseListenAddress, type FeederConfig } from '../config/config.js';
import { exposureOf } from '../config/daemon-address.js';
import { InvalidArgumentError } from '../errors.js';
import { logEvent, type Logger } from '../log/logger.js';
import { DaemonLease, type LeaseSettings } from './lease.js';
import { installTemplates } from '../model/templates.js';
import { advertisedAddress, reachOf } from './advertise.js';
import { createControlApi, listen, type Server } from '../api/control-api.js';
import { readServerTls, reloadServerTls } from '../api/tls.js';
import { createForwardAgent } from '../api/tls-client.js';
import { Deployments, type DaemonContext } from '../deployments/deployments.js';
import { Fleet } from '../fleet/fleet.js';

/**
 * `feeder serve`: checks the cluster, installs the templates, takes the lease on its name, opens the
 * control API, brings back the deployments that should be running, and on SIGTERM/SIGINT stops every
 * native process, gives the name back and returns. A failure once the API is open closes it and stops
 * what began before the error is returned, so a daemon that cannot start exits instead of listening
 * with nothing behind it.
 */
export async function serve(ctx: DaemonContext, signal: AbortSignal): Promise<void> {
  const started = performance.now();
  const name = ctx.config.daemon.name;
  const tls = readServerTls(ctx.config.daemon.tls);
  requireTlsBeyondLoopback(ctx.config, tls, ctx.logger);
  const health = await ctx.es.checkCluster();
  await installTemplates(ctx.es);
  // Before listening: a second daemon under the same name must not serve, nor restore its deployments.
  const lease = await DaemonLease.take(ctx.es, leaseSettings(ctx.config), ctx.logger);
  const deployments = new Deployments(ctx);
  const fleet = ctx.config.daemon.fleet === undefined ? undefined : new Fleet(ctx, deployments, lease);
  const listenAddress = parseListenAddress(ctx.config.daemon.listen);
  const reach = reachOf(listenAddress, ctx.config.daemon.advertise);
  let forwardAgent = fleet ? createForwardAgent(ctx.config) : undefined;
  const server = createControlApi(deployments, {
    token: ctx.config.daemon.token,
    address: listenAddress,
    hostNames: reach.hostNames,
    fleet,
    tls,
    forwardAgent: () => forwardAgent,
    inferenceTimeoutMs: ctx.config.daemon.inferenceTimeoutMs,
  });
  let stopReloading = () => {};
  try {
    const address = await listen(server, listenAddress);
    const advertise = advertisedAddress(reach, address);
    await lease.startRenewing({ listen: address, advertise, tls: tls !== undefined });
    if (tls)
      stopReloading = reloadServerTls(server as HttpsServer, ctx.config.daemon.tls, ({ trigger, error }) => {
        // The member's own certificate is also the one it forwards with under mutual TLS.
        if (!error && fleet) forwardAgent = createForwardAgent(ctx.config);
        logReload(ctx.logger, name, trigger, error);
      });
    logEvent(
      ctx.logger,
      {
        action: 'daemon-start',
        outcome: 'success',
        daemon: name,
        listen: address,
        advertise,
        advertise_candidates: reach.candidates,
        elasticsearch: ctx.es.url,
        cluster: health.clusterName,
        cluster_status: health.status,
        durationMs: performance.now() - started,
      },
      `feeder daemon '${name}' listening on ${address}${describeAdvertise(advertise, address, reach.candidates)}, cluster ${health.clusterName} (${health.status}) at ${ctx.es.url}`,
    );
    if (fleet) {
      await fleet.start();
      logEvent(
        ctx.logger,
        { action: 'daemon-restore', outcome: 'success', daemon: name, fleet: fleet.fleet },
        `daemon '${name}' joined fleet '${fleet.fleet}': it takes its share of the fleet's deployments`,
      );
    } else {
      await deployments.restore(signal);
      logEvent(
        ctx.logger,
        { action: 'daemon-restore', outcome: 'success', daemon: name, deployments: deployments.list().length },
        `brought back the deployments recorded for daemon '${name}': ${deployments.list().length} in all`,
      );
    }
    if (!signal.aborted) await once(signal, 'abort');
    logEvent(
      ctx.logger,
      { action: 'daemon-stop', outcome: 'unknown', daemon: name, reason: String(signal.reason) },
      `stopping on ${String(signal.reason)}: stopping every native process`,
    );
  } catch (error) {
    const reason = (error as Error).message;
    logEvent(
      ctx.logger,
      { action: 'daemon-stop', outcome: 'failure', daemon: name, reason },
      `feeder daemon '${name}' could not start: ${reason}; closing the control API and stopping every native process`,
    );
    throw error;
  } finally {
    stopReloading();
    await closeControlApi(server);
    // A fleet member gives back what it held at once, so that other daemons take it over without waiting for its lease to expire.
    await fleet?.drain();
    await deployments.stopAll();
    // Last: the name is free for another daemon only once no native process of this one runs.
    await lease.release();
  }
  logEvent(ctx.logger, { action: 'daemon-stop', outcome: 'success', daemon: name }, 'feeder daemon stopped');
}

/** Resolves once the server no longer listens; one that never started listening is already closed. */
function closeControlApi(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  return closed;
}

/**
 * Beyond loopback the token and every inference would cross the network in clear: the daemon
 * refuses to start so unless told to, and says so at every start when it was.
 */
function requireTlsBeyondLoopback({ daemon }: FeederConfig, tls: SecureContextOptions | undefined, logger: Logger): void {
  const exposed = exposureOf(daemon);
  if (tls || exposed === undefined) return;
  if (!daemon.insecurePlainHttp)
    throw new InvalidArgumentError(
      `${exposed}, and without TLS its token and every inference would cross the network in clear: give a certificate and key with --tls-cert and --tls-key (FEEDER_TLS_CERT, FEEDER_TLS_KEY, daemon.tls), or, on a network you trust, pass --insecure-plain-http`,
    );
  logger.warn(
    { event: { action: 'daemon-plain-http', outcome: 'unknown' }, feeder: { daemon: daemon.name, insecure_plain_http: true } },
    `${exposed} and serves plain HTTP (--insecure-plain-http): the token and every inference cross the network in clear; give it a certificate with --tls-cert and --tls-key`,
  );
}

function logReload(logger: Logger, daemon: string, trigger: string, error: Error | undefined): void {
  if (error)
    logEvent(
      logger,
      { action: 'tls-reload', outcome: 'failure', daemon, trigger, error: error.message },
      `on ${trigger}, the TLS certificate could not be reloaded (${error.message}); the one loaded before is still served`,
    );
  else logEvent(logger, { action: 'tls-reload', outcome: 'success', daemon, trigger }, `on ${trigger}, serving the TLS certificate anew`);
}

function leaseSettings({ daemon }: FeederConfig): LeaseSettings {
  return {
    name: daemon.name,
    listen: daemon.listen,
    heartbeatMs: daemon.heartbeatMs,
    leaseMs: daemon.leaseMs,
    fleet: daemon.fleet,
    maxModels: daemon.maxModels,
    memoryBudgetBytes: daemon.memoryBudget as number | undefined,
  };
}

/** What the log says of the advertised address: nothing when it is the one listened on; the choice when it was picked. */
function describeAdvertise(advertise: string, listen: string, candidates: string[]): string {
  if (advertise === listen) return '';
  const picked = candidates.length > 1 ? ` (picked among ${candidates.join(', ')}; set another with --advertise)` : '';
  return `, advertised as ${advertise}${picked}`;
}
