import { describePythonReference } from './python-reference.js';

// The tasks whose post-processing depends on the tokenizer (offsets, words, the mask token, pairs),
// with a byte-level BPE (RoBERTa) and a Unigram (XLM-RoBERTa) tokenizer, against transformers.
// Text classification is not one of them (reference-wordpiece.test.ts has it): its answer is read
// off the whole sequence, and these families' tokenization and truncation of the same long texts
// are judged, offsets and all, by their ner models.
describePythonReference(['roberta-ner', 'roberta-fill_mask', 'roberta-question_answering', 'xlm_roberta-ner', 'xlm_roberta-fill_mask']);
