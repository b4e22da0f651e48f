export * from './errors.js';
export { loadConfig, defaultConfig, type FeederConfig } from './config/config.js';
export { Es } from './es/es.js';
export { uploadModel, type UploadOptions } from './upload/upload.js';
export { verifyModel } from './maintenance/verify.js';
export { deleteModel } from './maintenance/delete.js';
export { listMetas, getMeta, type ModelMeta } from './model/meta.js';
