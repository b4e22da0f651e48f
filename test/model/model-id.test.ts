import { describe, expect, it } from 'vitest';
import { InvalidModelIdError } from '../../src/errors.js';
import { validateModelId } from '../../src/model/model-id.js';

describe('validateModelId', () => {
  it.each(['a', 'my-model', 'bert_base.v2', '0abc9', 'a'.repeat(64)])('accepts %s', (id) => {
    expect(validateModelId(id)).toBe(id);
  });

  it.each([
    ['', /required/],
    ['Upper', /not valid/],
    ['has space', /not valid/],
    ['../x', /not valid/],
    ['a'.repeat(65), /65 characters long; the limit is 64/],
    ['modèle', /not valid/],
    ['-start', /not valid/],
    ['end.', /not valid/],
    ['a/b', /not valid/],
  ])('rejects %j with a message that says why', (id, message) => {
    expect(() => validateModelId(id)).toThrow(InvalidModelIdError);
    expect(() => validateModelId(id)).toThrow(message);
  });
});
