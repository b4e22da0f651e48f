import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelExistsError } from '../errors.js';
import type { ModelAssets } from '../model/assets.js';
import { getMeta, type ModelMeta } from '../model/meta.js';
import { validateModelId } from '../model/model-id.js';
import { parseTaskConfig, summaryOf, type Task } from '../model/task-config.js';
import { abandonUpload } from './abandon.js';
import { runImportScript } from './import-script.js';
import type { UploadPlan } from './plan.js';
import { uploadModel, type UploadContext, type UploadOptions } from './upload.js';

export type StoredUploadOptions = Omit<UploadOptions, 'path' | 'assets' | 'resume' | 'stdin'>;

export interface ImportOptions extends StoredUploadOptions {
  /** A local Hugging Face model directory. */
  dir: string;
  task: Task | 'auto';
  quantize?: boolean;
}

export interface TracedUploadOptions extends StoredUploadOptions {
  /** A TorchScript file the user traced. */
  path: string;
  task: Task;
  /** A tokenizer.json, or an Elastic ML vocabulary document to build one from. */
  tokenizer: { file: string } | { vocabulary: string; family: string; lowerCase: boolean };
  labels?: string[];
  maxSequenceLength?: number;
}

/**
 * `feeder import`: traces a Hugging Face directory in Python into a temporary directory, then
 * uploads the TorchScript file as every upload is, its tokenizer and task config with it.
 */
export async function importModel(ctx: UploadContext, options: ImportOptions): Promise<ModelMeta> {
  await checkTarget(ctx, options);
  return withScratch(async (scratch) => {
    const traceArgs = ['trace', options.dir, '--out', scratch, '--task', options.task, ...(options.quantize ? ['--quantize'] : [])];
    await runImportScript(traceArgs, options.signal);
    const files = { tokenizer: await readFile(join(scratch, 'tokenizer.json')), task_config: await readFile(join(scratch, 'task.json')) };
    return uploadWithAssets(ctx, { ...options, path: join(scratch, 'model.pt') }, files);
  });
}

/** `feeder upload --task --tokenizer`: a model the user traced, probed once with its family's inputs before anything is sent. */
export async function uploadTraced(ctx: UploadContext, options: TracedUploadOptions): Promise<ModelMeta> {
  await checkTarget(ctx, options);
  return withScratch(async (scratch) => {
    const tokenizer = await tokenizerFile(options.tokenizer, scratch, options.signal);
    const probeArgs = ['probe', options.path, '--tokenizer', tokenizer, '--task', options.task];
    if (options.labels?.length) probeArgs.push('--labels', options.labels.join(','));
    if (options.maxSequenceLength !== undefined) probeArgs.push('--max-sequence-length', String(options.maxSequenceLength));
    const config = await runImportScript(probeArgs, options.signal);
    const files = { tokenizer: await readFile(tokenizer), task_config: Buffer.from(config.trim()) };
    return uploadWithAssets(ctx, options, files);
  });
}

async function tokenizerFile(source: TracedUploadOptions['tokenizer'], scratch: string, signal?: AbortSignal): Promise<string> {
  if ('file' in source) return source.file;
  const out = join(scratch, 'tokenizer.json');
  const args = ['vocabulary', source.vocabulary, '--family', source.family, '--out', out, ...(source.lowerCase ? ['--lower-case'] : [])];
  await runImportScript(args, signal);
  return out;
}

/** An existing model is refused before minutes of tracing, unless it is to be replaced. */
async function checkTarget(ctx: UploadContext, options: StoredUploadOptions): Promise<void> {
  const existing = await getMeta(ctx.es, validateModelId(options.modelId));
  if (existing && !options.replace) {
    throw new ModelExistsError(`model '${options.modelId}' already exists; pass --replace to overwrite it or choose another model id`);
  }
}

/**
 * A failed import removes what it wrote, and only that: a first import leaves no model behind (an
 * unfinished one could only be resumed without its tokenizer); a failed replacement leaves the model
 * as it was; a model another writer stored meanwhile is theirs.
 */
async function uploadWithAssets(
  ctx: UploadContext,
  options: StoredUploadOptions & { path: string },
  files: ModelAssets,
): Promise<ModelMeta> {
  const config = parseTaskConfig(files.task_config, 'task.json');
  let plan: UploadPlan | undefined;
  try {
    return await uploadModel(ctx, { ...options, assets: { files, summary: summaryOf(config) }, onPlanned: (p) => (plan = p) });
  } catch (error) {
    if (plan) {
      await abandonUpload(ctx.es, plan, ctx.logger).catch((cleanup: unknown) =>
        ctx.logger.warn({ err: cleanup }, `could not remove the unfinished import of '${options.modelId}'; 'feeder models delete' does`),
      );
    }
    throw error;
  }
}

async function withScratch<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'feeder-import-'));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
