import { describePythonReference } from './python-reference.js';

// The tasks whose post-processing depends on the tokenizer (offsets, words, the mask token, pairs),
// with a byte-level BPE (RoBERTa) and a Unigram (XLM-RoBERTa) tokenizer, against transformers.
describePythonReference([
  'roberta-ner',
  'roberta-text_classification',
  'roberta-fill_mask',
  'roberta-question_answering',
  'xlm_roberta-ner',
  'xlm_roberta-text_classification',
  'xlm_roberta-fill_mask',
]);
