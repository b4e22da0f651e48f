import { DaemonRunningError } from '../errors.js';
import type { Es } from '../es/es.js';
import { logEvent, type Logger } from '../log/logger.js';
import { daemonUrl, describeDaemon, liveDaemon, type PresenceDoc } from '../coordination/daemon-presence.js';
import { daemonsRunning, desiredDeployments, recordUndeployed } from '../coordination/desired-deployments.js';
import { collectGarbage } from '../model/garbage.js';
import { getMeta } from '../model/meta.js';
import { validateModelId } from '../model/model-id.js';

export interface OfflineUndeployResult {
  daemon: string;
  model_id: string;
  /** Whether the daemon had a desired-deployment document for the model. */
  undeployed: boolean;
  /** When it had none: the daemons that do, in case the name was mistyped. */
  deployed_on: string[];
  /** Old generations whose chunks were removed, and those still kept (pinned by another deployment, or failed). */
  generations_removed: number[];
  generations_kept: number[];
}

/**
 * Undeploys a model from a daemon that is gone for good, by removing its desired-deployment
 * document, the only thing of it left. Refused while the daemon holds a live lease: it would keep
 * serving a model that nothing records, and lose its chunks to the next delete.
 */
export async function undeployFromStoppedDaemon(es: Es, daemon: string, modelId: string, logger: Logger): Promise<OfflineUndeployResult> {
  validateModelId(modelId);
  const running = await liveDaemon(es, daemon);
  if (running) {
    throw new DaemonRunningError(
      `${describeDaemon(running)} is running, so it undeploys its models itself: run 'feeder undeploy ${modelId}' against it (${howToReach(running)}); --daemon is for a daemon that is gone`,
    );
  }
  const undeployed = (await desiredDeployments(es, daemon)).includes(modelId);
  await recordUndeployed(es, daemon, modelId);
  const deployedOn = undeployed ? [] : await daemonsRunning(es, modelId);
  if (undeployed)
    logEvent(
      logger,
      { action: 'undeploy', outcome: 'success', modelId, daemon },
      `removed the deployment of model '${modelId}' on daemon '${daemon}', which is not running`,
    );
  return { daemon, model_id: modelId, undeployed, deployed_on: deployedOn, ...(await collectUnpinned(es, modelId, logger)) };
}

/** The removed deployment may have been the last to pin an old generation: collect what it held. */
async function collectUnpinned(
  es: Es,
  modelId: string,
  logger: Logger,
): Promise<Pick<OfflineUndeployResult, 'generations_removed' | 'generations_kept'>> {
  const before = await getMeta(es, modelId);
  if (!before) return { generations_removed: [], generations_kept: [] };
  const garbage = before.meta.garbage.map((g) => g.generation);
  try {
    const kept = (await collectGarbage(es, before, logger)).meta.garbage.map((g) => g.generation);
    return { generations_removed: garbage.filter((g) => !kept.includes(g)), generations_kept: kept };
  } catch (error) {
    // The deployment is gone either way; the generations stay listed for the next collection.
    logger.warn(
      { err: error, feeder: { model_id: modelId } },
      `could not remove the old generations of model '${modelId}': ${(error as Error).message}; the next upload or delete tries again`,
    );
    return { generations_removed: [], generations_kept: garbage };
  }
}

/** The flag that points a command at a running daemon: its URL, or its socket on its own machine. */
function howToReach(doc: PresenceDoc): string {
  if (doc.advertise === undefined || doc.advertise.startsWith('unix:')) return `--listen ${doc.listen} or FEEDER_LISTEN`;
  return `--daemon-url ${daemonUrl(doc)} or FEEDER_DAEMON_URL`;
}
