// Where things live in Elasticsearch. docs/storage.md describes the same.

export const META_INDEX = '.feeder-models';
export const SHARED_CHUNKS_INDEX = '.feeder-chunks-000001';
export const CHUNKS_INDEX_PATTERN = '.feeder-chunks-*';
/** What a model needs besides its weights (tokenizer, task config), one document each per generation. */
export const ASSETS_INDEX = '.feeder-model-assets';
/** Which models each daemon should be running: its desired state outlives the daemon's memory. */
export const DEPLOYMENTS_INDEX = '.feeder-deployments';
/** Which daemons are running: one presence document per daemon name, renewed while it runs. */
export const DAEMONS_INDEX = '.feeder-daemons';
/** A fleet's desired deployments (how many allocations of a model) and which daemon holds each allocation. */
export const FLEET_INDEX = '.feeder-fleet';

/**
 * Chunk ids are predictable so a reader fetches them by id and a delete needs no query. The upload
 * generation is part of the id so a replacement can be written beside the model it replaces.
 */
export function chunkDocId(modelId: string, generation: number, docNum: number): string {
  return `${modelId}-g${generation}-chunk-${docNum}`;
}

/** An asset's id, predictable as a chunk's: a reader fetches it by id, a delete needs no query. */
export function assetDocId(modelId: string, generation: number, kind: string): string {
  return `${modelId}-g${generation}-${kind}`;
}

/** A large model's own chunk index: deleting the model is then one index delete. */
export function dedicatedChunksIndex(modelId: string, generation: number): string {
  return `.feeder-chunks-m-${modelId}-g${generation}`;
}

/**
 * Whether `index` is the generation's own dedicated index, the only chunk index whose removal is an
 * index delete: any other one (the shared index, or one a meta document names by hand) may hold
 * other models' documents.
 */
export function isOwnChunksIndex(index: string, modelId: string, generation: number): boolean {
  return index === dedicatedChunksIndex(modelId, generation);
}
