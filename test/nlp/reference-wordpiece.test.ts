import { describePythonReference } from './python-reference.js';

// One model per task with BERT's WordPiece tokenizer (the MiniLM vocabulary), against transformers.
describePythonReference([
  'bert-ner',
  'bert-text_classification',
  'bert-zero_shot_classification',
  'bert-text_similarity',
  'bert-fill_mask',
  'bert-question_answering',
  'bert-text_expansion',
  'bert-pass_through',
]);
