import { once } from 'node:events';
import type { Server } from 'node:http';
import { parseListenAddress, type FeederConfig } from '../config/config.js';
import { logEvent } from '../log/logger.js';
import { DaemonLease, type LeaseSettings } from './lease.js';
import { installTemplates } from '../model/templates.js';
import { advertisedAddress, reachOf } from './advertise.js';
import { createControlApi, listen } from '../api/control-api.js';
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
  const health = await ctx.es.checkCluster();
  await installTemplates(ctx.es);
  // Before listening: a second daemon under the same name must not serve, nor restore its deployments.
  const lease = await DaemonLease.take(ctx.es, leaseSettings(ctx.config), ctx.logger);
  const deployments = new Deployments(ctx);
  const fleet = ctx.config.daemon.fleet === undefined ? undefined : new Fleet(ctx, deployments, lease);
  const listenAddress = parseListenAddress(ctx.config.daemon.listen);
  const reach = reachOf(listenAddress, ctx.config.daemon.advertise);
  const server = createControlApi(deployments, {
    token: ctx.config.daemon.token,
    address: listenAddress,
    hostNames: reach.hostNames,
    fleet,
  });
  try {
    const address = await listen(server, listenAddress);
    const advertise = advertisedAddress(reach, address);
    lease.startRenewing({ listen: address, advertise });
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
