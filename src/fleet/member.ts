import type { DaemonContext, Deployments } from '../deployments/deployments.js';

/** An allocation this daemon holds: which one, the desired revision it applied, and the model's size. */
export interface HeldAllocation {
  allocation: number;
  revision: number;
  bytes: number | null;
}

/** What the steps of a reconcile pass share: who this daemon is, what it holds, and how it stops one. */
export interface Member {
  readonly ctx: DaemonContext;
  readonly deployments: Deployments;
  readonly name: string;
  readonly fleet: string;
  /** Models whose allocation this daemon holds, by model id. */
  readonly held: Map<string, HeldAllocation>;
  /** Reconciles again as soon as the pass under way is over. */
  nudge(): void;
  stopLocal(modelId: string, why: string): Promise<void>;
}
