import { InvalidModelIdError } from '../errors.js';

export const MODEL_ID_MAX_LENGTH = 64;
// Elastic ML's rule for trained model ids.
const MODEL_ID_PATTERN = /^[a-z0-9](?:[a-z0-9_.-]*[a-z0-9])?$/;

/** Rejects an unusable model id before any request is sent, saying what is wrong with it. */
export function validateModelId(id: unknown): string {
  if (typeof id !== 'string' || id.length === 0) {
    throw new InvalidModelIdError('a model id is required (lowercase letters, digits, "-", "_" and ".")');
  }
  if (id.length > MODEL_ID_MAX_LENGTH) {
    throw new InvalidModelIdError(`model id '${id.slice(0, 20)}…' is ${id.length} characters long; the limit is ${MODEL_ID_MAX_LENGTH}`);
  }
  if (!MODEL_ID_PATTERN.test(id)) {
    throw new InvalidModelIdError(
      `model id '${id}' is not valid: use lowercase letters, digits, "-", "_" and ".", starting and ending with a letter or digit`,
    );
  }
  return id;
}
