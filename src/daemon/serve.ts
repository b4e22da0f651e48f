import { once } from 'node:events';
import { parseListenAddress } from '../config/config.js';
import { logEvent } from '../log/logger.js';
import { installTemplates } from '../store/templates.js';
import { createControlApi, listen } from './control-api.js';
import { Deployments, type DaemonContext } from './deployments.js';

/**
 * `feeder serve`: checks the cluster, installs the templates, opens the control API, brings back the
 * deployments that should be running, and on SIGTERM/SIGINT stops every native process and returns.
 */
export async function serve(ctx: DaemonContext, signal: AbortSignal): Promise<void> {
  const started = performance.now();
  const health = await ctx.es.checkCluster();
  await installTemplates(ctx.es);
  const deployments = new Deployments(ctx);
  const listenAddress = parseListenAddress(ctx.config.daemon.listen);
  const server = createControlApi(deployments, { token: ctx.config.daemon.token, address: listenAddress });
  const address = await listen(server, listenAddress);
  logEvent(ctx.logger, { action: 'daemon-start', outcome: 'success', daemon: ctx.config.daemon.name, listen: address, elasticsearch: ctx.es.url, cluster: health.clusterName, cluster_status: health.status, durationMs: performance.now() - started }, `feeder daemon '${ctx.config.daemon.name}' listening on ${address}, cluster ${health.clusterName} (${health.status}) at ${ctx.es.url}`);
  await deployments.restore();
  if (!signal.aborted) await once(signal, 'abort');
  logEvent(ctx.logger, { action: 'daemon-stop', outcome: 'unknown', daemon: ctx.config.daemon.name, reason: String(signal.reason) }, `stopping on ${String(signal.reason)}: stopping every native process`);
  server.close();
  server.closeAllConnections();
  await deployments.stopAll();
  logEvent(ctx.logger, { action: 'daemon-stop', outcome: 'success', daemon: ctx.config.daemon.name }, 'feeder daemon stopped');
}
