export * from './errors.js';
export { loadConfig, defaultConfig, type FeederConfig } from './config/config.js';
export { Es } from './es/es.js';
export { uploadModel, type UploadOptions } from './upload/upload.js';
export { verifyModel } from './store/verify.js';
export { deleteModel } from './store/delete.js';
export { listMetas, getMeta, type ModelMeta } from './store/meta.js';
