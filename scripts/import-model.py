#!/usr/bin/env python3
"""Turns a local Hugging Face model directory into what `feeder import` stores: a frozen TorchScript
file, its tokenizer.json and a task config. Run by the CLI with the Python that
scripts/install-torch.sh installs; nothing is fetched from a hub.

    import-model.py trace DIR --out OUT [--task auto|TASK] [--quantize]
    import-model.py probe MODEL.pt --tokenizer tokenizer.json --task TASK [--labels a,b]
    import-model.py vocabulary VOCAB.json --family bert|roberta|xlm_roberta --out tokenizer.json

`trace` writes OUT/model.pt, OUT/tokenizer.json, OUT/task.json and prints the task config on stdout.
`probe` runs a user's TorchScript file once with the tokenizer family's inputs and prints the task
config. `vocabulary` turns an Elastic ML vocabulary document into a tokenizer.json.
Bad input exits 2 with one line on stderr: `import-model: <problem>; <fix>`.
"""

import argparse
import json
import os
import sys
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
warnings.filterwarnings("ignore")

TASKS = (
    "text_embedding", "text_classification", "zero_shot_classification", "text_similarity", "ner",
    "fill_mask", "question_answering", "text_expansion", "pass_through",
)
# Which architectures name which tasks, as Eland reads them: the first match in the class name wins.
ARCHITECTURE_TASKS = (
    ("ForTokenClassification", "ner"),
    ("ForSequenceClassification", "text_classification"),
    ("ForQuestionAnswering", "question_answering"),
    ("ForMaskedLM", "fill_mask"),
)
ZERO_SHOT_LABELS = {"entailment", "neutral", "contradiction"}
CLASSIFYING = {"text_classification", "zero_shot_classification", "text_similarity", "ner"}
# Elastic's convention: these families take (tokens, attention mask); the BERT-like ones also token
# type ids and position ids.
TWO_INPUT_TYPES = {"roberta", "xlm-roberta", "mpnet", "bart", "camembert", "deberta-v2"}
INPUT_NAMES = ("tokens", "arg_1", "arg_2", "arg_3")
REASONABLE_MAX_LENGTH = 8192


class BadInput(Exception):
    """The user's files cannot be imported: exit 2 with the problem and its fix."""


def fail(message: str, code: int) -> None:
    sys.stderr.write(f"import-model: {message}\n")
    sys.exit(code)


def read_json(path: str, what: str):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise BadInput(f"{what} '{path}' is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}); "
                       "save it again with save_pretrained, or give a valid file")


# ---------------------------------------------------------------------------------------------
# Tokenizer


def load_tokenizer(path: str):
    from tokenizers import Tokenizer

    read_json(path, "the tokenizer")
    try:
        return Tokenizer.from_file(path)
    except Exception as e:  # tokenizers raises plain exceptions for a file it cannot read
        raise BadInput(f"the tokenizer '{path}' is not a tokenizer.json that the tokenizers library can load ({e}); "
                       "save it with a fast tokenizer's save_pretrained")


def tokenizer_family(tokenizer_json: dict, model_type: str | None) -> str:
    kind = (tokenizer_json.get("model") or {}).get("type")
    if model_type == "mpnet":
        return "mpnet"
    if kind == "WordPiece":
        return "bert"
    if kind == "BPE":
        return "roberta"
    if kind == "Unigram":
        return "xlm_roberta"
    raise BadInput(f"the tokenizer's model is {kind!r}: only WordPiece (BERT), BPE (RoBERTa) and Unigram "
                   "(XLM-RoBERTa) tokenizers are supported; use a model with one of those")


def does_lower_case(tokenizer_json: dict) -> bool:
    normalizer = json.dumps(tokenizer_json.get("normalizer") or {})
    return '"lowercase": true' in normalizer or '"Lowercase"' in normalizer


def input_count(family: str, model_type: str | None) -> int:
    if family in ("roberta", "xlm_roberta", "mpnet") or model_type in TWO_INPUT_TYPES:
        return 2
    return 4


def family_inputs(tokenizer, count: int, texts: list):
    """The family's inputs for `texts` (strings or pairs), padded to one length, as Elastic passes them."""
    import torch

    # A tokenizer.json may pad to a fixed length: the probe must run at a length of its own.
    tokenizer.no_truncation()
    tokenizer.no_padding()
    encodings = tokenizer.encode_batch(texts)
    width = max(len(e.ids) for e in encodings)
    pad = tokenizer.token_to_id("[PAD]")
    pad = tokenizer.token_to_id("<pad>") if pad is None else pad
    pad = 0 if pad is None else pad
    ids = [e.ids + [pad] * (width - len(e.ids)) for e in encodings]
    mask = [[1] * len(e.ids) + [0] * (width - len(e.ids)) for e in encodings]
    types = [e.type_ids + [0] * (width - len(e.ids)) for e in encodings]
    positions = [list(range(width)) for _ in encodings]
    tensors = [torch.tensor(x, dtype=torch.long) for x in (ids, mask, types, positions)]
    return tuple(tensors[:count])


# ---------------------------------------------------------------------------------------------
# Task


def detect_task(config, model_dir: str) -> str:
    if os.path.exists(os.path.join(model_dir, "modules.json")):
        return "text_embedding"
    architectures = config.architectures or []
    for architecture in architectures:
        for part, task in ARCHITECTURE_TASKS:
            if part in architecture:
                return refine_classification(config) if task == "text_classification" else task
    names = ", ".join(architectures) or "none"
    raise BadInput(f"no task can be told from the architecture ({names}): give one with --task "
                   f"({', '.join(TASKS)})")


def refine_classification(config) -> str:
    labels = [str(v).lower() for v in (config.id2label or {}).values()]
    if len(labels) == 1:
        return "text_similarity"
    if labels and set(labels) <= ZERO_SHOT_LABELS:
        return "zero_shot_classification"
    return "text_classification"


def labels_of(config) -> list:
    return [str(label) for _, label in sorted((config.id2label or {}).items(), key=lambda kv: int(kv[0]))]


def max_sequence_length(model_dir: str, config) -> int:
    """The tokenizer's or sentence-transformers' limit, never more than the model has positions for."""
    positions = getattr(config, "max_position_embeddings", None) or 512
    # RoBERTa's position ids start after the padding id: two positions are never used.
    if config.model_type in ("roberta", "xlm-roberta", "camembert"):
        positions -= 2
    for file, key in (("sentence_bert_config.json", "max_seq_length"), ("tokenizer_config.json", "model_max_length")):
        path = os.path.join(model_dir, file)
        length = read_json(path, file).get(key) if os.path.exists(path) else None
        if isinstance(length, int) and 0 < length < REASONABLE_MAX_LENGTH:
            return min(length, positions)
    return positions


def pooling_of(model_dir: str) -> dict:
    """The sentence-transformers modules after the encoder: pooling mode and normalisation."""
    modules = read_json(os.path.join(model_dir, "modules.json"), "modules.json")
    pooling, normalize = "none", False
    for module in modules:
        kind = module.get("type", "")
        if kind.endswith("Pooling"):
            pooling_config = read_json(os.path.join(model_dir, module.get("path", ""), "config.json"), "the pooling config")
            pooling = next((mode for key, mode in (("pooling_mode_mean_tokens", "mean"), ("pooling_mode_cls_token", "cls"),
                                                   ("pooling_mode_max_tokens", "max")) if pooling_config.get(key)), "none")
        elif kind.endswith("Normalize"):
            normalize = True
    return {"pooling": pooling, "normalize": normalize}


# ---------------------------------------------------------------------------------------------
# Model


def check_directory(model_dir: str) -> None:
    if not os.path.isdir(model_dir):
        raise BadInput(f"'{model_dir}' is not a directory; give a Hugging Face model directory (config.json, weights, tokenizer.json)")
    present = set(os.listdir(model_dir))
    if "config.json" not in present:
        raise BadInput(f"'{model_dir}' has no config.json; save the model there with save_pretrained")
    if not present & {"model.safetensors", "pytorch_model.bin"}:
        raise BadInput(f"'{model_dir}' has no weights (model.safetensors or pytorch_model.bin); save the model there with save_pretrained")
    if "tokenizer.json" not in present:
        raise BadInput(f"'{model_dir}' has no tokenizer.json; save a fast tokenizer there with tokenizer.save_pretrained, "
                       "or upload a traced model with 'feeder upload --tokenizer' or '--vocabulary'")


def load_model(model_dir: str, task: str, config):
    import transformers

    auto = {
        "ner": transformers.AutoModelForTokenClassification,
        "text_classification": transformers.AutoModelForSequenceClassification,
        "zero_shot_classification": transformers.AutoModelForSequenceClassification,
        "text_similarity": transformers.AutoModelForSequenceClassification,
        "question_answering": transformers.AutoModelForQuestionAnswering,
        "fill_mask": transformers.AutoModelForMaskedLM,
        "text_expansion": transformers.AutoModelForMaskedLM,
    }.get(task, transformers.AutoModel)
    try:
        return auto.from_pretrained(model_dir, config=config, use_kernels=False).eval()
    except (RuntimeError, ValueError) as e:
        text = str(e)
        if "size mismatch" in text or "mismatched" in text.lower():
            raise BadInput(f"the weights in '{model_dir}' do not fit its config.json ({first_line(text)}); the labels "
                           "(id2label) must have as many entries as the model has outputs")
        raise BadInput(f"transformers cannot load '{model_dir}' for {task} ({first_line(text)}); check --task and the directory")


def first_line(text: str) -> str:
    return " ".join(text.strip().split())[:300]


def daemon_pooling(out, pooling: dict) -> dict:
    """A model that answers one vector per token ([batch, seq, dim]) is pooled by the daemon: mean and
    normalised, as a sentence embedding most often is; one that pools itself says how it did."""
    return {"pooling": "mean", "normalize": True} if out.dim() == 3 else pooling


def make_wrapper(model, task: str, count: int, pooling: dict):
    import torch

    class Wrapper(torch.nn.Module):
        """Takes the family's inputs by position and returns one tensor, as native-torch serves it."""

        def __init__(self):
            super().__init__()
            self.model = model
            self.model_type = model.config.model_type

        def forward(self, *inputs):
            names = ("input_ids", "attention_mask", "token_type_ids", "position_ids")
            kwargs = dict(zip(names, inputs))
            if self.model_type == "distilbert":
                kwargs = {k: kwargs[k] for k in names[:2]}
            out = self.model(**kwargs, return_dict=False)
            if task == "question_answering":
                return torch.stack([out[0], out[1]], dim=-1)
            if task == "text_embedding":
                return pool(out[0], inputs[1])
            if task == "text_expansion" and out[0].dim() == 3:
                return splade(out[0], inputs[1])
            return out[0]

    def splade(logits, mask):
        # SPLADE's (and ELSER's) reduction in the model: one vocabulary-sized row per text, not one per
        # token, which for a 30k vocabulary would make the answer seq times larger.
        weights = torch.log1p(torch.relu(logits)) * mask.unsqueeze(-1).to(logits.dtype)
        return weights.max(dim=1).values

    def pool(hidden, mask):
        if pooling["pooling"] == "mean":
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            vector = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
        elif pooling["pooling"] == "cls":
            vector = hidden[:, 0]
        elif pooling["pooling"] == "max":
            vector = hidden.masked_fill(mask.unsqueeze(-1) == 0, -1e9).max(dim=1).values
        else:
            return hidden
        return torch.nn.functional.normalize(vector, p=2.0, dim=1) if pooling["normalize"] else vector

    return Wrapper().eval()


def trace(wrapper, example, quantize: bool):
    import torch

    if quantize:
        wrapper = torch.ao.quantization.quantize_dynamic(wrapper, {torch.nn.Linear}, dtype=torch.qint8)
    with torch.no_grad():
        traced = torch.jit.trace(wrapper, example, strict=False, check_trace=False)
        return wrapper, torch.jit.freeze(traced.eval())


def probe(traced, inputs, family: str, expected=None, what: str = "the traced model"):
    """One short forward with the family's inputs, of another length than the trace's."""
    import torch

    names = ", ".join(INPUT_NAMES[: len(inputs)])
    try:
        with torch.no_grad():
            out = traced(*inputs)
    except Exception as e:
        raise BadInput(f"{what}'s forward() does not take the {family} family's {len(inputs)} inputs ({names}): "
                       f"{first_line(str(e))}; trace it with forward({names}) as Elastic's convention has it")
    if not isinstance(out, torch.Tensor):
        raise BadInput(f"{what}'s forward() returns {type(out).__name__}, not one tensor; return the task's tensor")
    if expected is not None and (out.shape != expected.shape or (out - expected).abs().max().item() > 1e-4):
        raise BadInput(f"{what} answers differently from the model at another sequence length; it cannot be traced "
                       "with this architecture (try --task pass_through, or trace it yourself)")
    return out


def check_labels(task: str, labels: list, out, what: str) -> None:
    if task not in CLASSIFYING:
        return
    if not labels:
        raise BadInput(f"{what} is a {task} model without labels; give them (config.json's id2label, or --labels)")
    if out.shape[-1] != len(labels):
        raise BadInput(f"{len(labels)} labels ({', '.join(labels)}) but the model has {out.shape[-1]} outputs; "
                       "give one label per output")


def probe_texts(task: str) -> list:
    if task in ("zero_shot_classification", "text_similarity"):
        return [("A short probe.", "This is about probes."), ("Another one, a little longer.", "It is.")]
    return ["A short probe.", "Another one, a little longer than the first."]


def task_config(task, labels, family, tokenizer_json, max_length, count, extra) -> dict:
    config = {
        "task": task,
        "labels": labels or None,
        "tokenization": {
            "family": family,
            "do_lower_case": does_lower_case(tokenizer_json),
            "max_sequence_length": max_length,
            "truncate": "second" if task == "text_similarity" else "first",
        },
        "inputs": list(INPUT_NAMES[:count]),
        "input": {"field_names": ["text_field"]},
    }
    config.update(extra)
    return config


def run_trace(args) -> dict:
    import shutil
    import torch
    import transformers

    torch.manual_seed(0)
    check_directory(args.dir)
    tokenizer_path = os.path.join(args.dir, "tokenizer.json")
    tokenizer = load_tokenizer(tokenizer_path)
    tokenizer_json = read_json(tokenizer_path, "the tokenizer")
    config = transformers.AutoConfig.from_pretrained(args.dir)
    task = detect_task(config, args.dir) if args.task == "auto" else args.task
    family = tokenizer_family(tokenizer_json, config.model_type)
    count = input_count(family, config.model_type)
    pooling = pooling_of(args.dir) if task == "text_embedding" and os.path.exists(os.path.join(args.dir, "modules.json")) else {"pooling": "none", "normalize": False}
    model = load_model(args.dir, task, config)
    labels = labels_of(config) if task in CLASSIFYING else []
    wrapper = make_wrapper(model, task, count, pooling)
    example = family_inputs(tokenizer, count, ["This is an example sentence to trace the model with."])
    wrapper, traced = trace(wrapper, example, args.quantize)
    inputs = family_inputs(tokenizer, count, probe_texts(task))
    with torch.no_grad():
        expected = wrapper(*inputs)
    out = probe(traced, inputs, family, expected)
    check_labels(task, labels, out, "the model")
    extra = {"quantized": bool(args.quantize), "architecture": (config.architectures or [None])[0], "model_type": config.model_type}
    if task == "text_embedding":
        extra["text_embedding"] = {**daemon_pooling(out, pooling), "embedding_size": int(out.shape[-1])}
    result = task_config(task, labels, family, tokenizer_json, max_sequence_length(args.dir, config), count, extra)
    os.makedirs(args.out, exist_ok=True)
    torch.jit.save(traced, os.path.join(args.out, "model.pt"))
    shutil.copyfile(tokenizer_path, os.path.join(args.out, "tokenizer.json"))
    with open(os.path.join(args.out, "task.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    return result


def run_probe(args) -> dict:
    import torch

    tokenizer = load_tokenizer(args.tokenizer)
    tokenizer_json = read_json(args.tokenizer, "the tokenizer")
    family = tokenizer_family(tokenizer_json, None)
    count = input_count(family, None)
    try:
        model = torch.jit.load(args.model, map_location="cpu").eval()
    except Exception as e:
        raise BadInput(f"'{args.model}' is not a TorchScript file torch can load ({first_line(str(e))}); "
                       "save it with torch.jit.save")
    out = probe(model, family_inputs(tokenizer, count, probe_texts(args.task)), family, what=f"'{args.model}'")
    labels = [label for label in (args.labels or "").split(",") if label]
    check_labels(args.task, labels, out, f"'{args.model}'")
    extra = {"quantized": False, "architecture": None, "model_type": None}
    if args.task == "text_embedding":
        extra["text_embedding"] = {**daemon_pooling(out, {"pooling": "none", "normalize": False}), "embedding_size": int(out.shape[-1])}
    return task_config(args.task, labels, family, tokenizer_json, args.max_sequence_length, count, extra)


def run_vocabulary(args) -> dict:
    """Builds a tokenizer.json from an Elastic ML vocabulary document (vocabulary, merges, scores)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    doc = read_json(args.vocabulary, "the vocabulary document")
    vocabulary = doc.get("vocabulary") if isinstance(doc, dict) else None
    if not isinstance(vocabulary, list) or not vocabulary:
        raise BadInput(f"'{args.vocabulary}' has no 'vocabulary' list; give an Elastic ML vocabulary document "
                       "({\"vocabulary\": [...], \"merges\": [...], \"scores\": [...]})")
    ids = {token: i for i, token in enumerate(vocabulary)}

    def need(token):
        if token not in ids:
            raise BadInput(f"the vocabulary has no {token} token, which the {args.family} family needs; give the model's own vocabulary")
        return ids[token]

    if args.family == "bert":
        tokenizer = Tokenizer(models.WordPiece(ids, unk_token="[UNK]"))
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=args.lower_case)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        cls, sep = need("[CLS]"), need("[SEP]")
        tokenizer.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
        tokenizer.decoder = decoders.WordPiece()
    elif args.family == "roberta":
        merges = doc.get("merges")
        if not isinstance(merges, list):
            raise BadInput(f"'{args.vocabulary}' has no 'merges' list, which a RoBERTa (BPE) vocabulary needs")
        pairs = [tuple(m.split(" ", 1)) for m in merges]
        tokenizer = Tokenizer(models.BPE(ids, pairs))
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.post_processor = processors.RobertaProcessing(("</s>", need("</s>")), ("<s>", need("<s>")))
        tokenizer.decoder = decoders.ByteLevel()
    else:
        scores = doc.get("scores")
        if not isinstance(scores, list) or len(scores) != len(vocabulary):
            raise BadInput(f"'{args.vocabulary}' needs a 'scores' list as long as its vocabulary for an XLM-RoBERTa (Unigram) vocabulary")
        tokenizer = Tokenizer(models.Unigram(list(zip(vocabulary, scores)), unk_id=need("<unk>")))
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", need("<s>")), ("</s>", need("</s>"))])
        tokenizer.decoder = decoders.Metaspace()
    tokenizer.save(args.out)
    return {"tokenizer": args.out, "family": args.family, "vocabulary_size": len(vocabulary)}


def parse_args():
    parser = argparse.ArgumentParser(description="Trace a Hugging Face model directory for feeder import")
    commands = parser.add_subparsers(dest="command", required=True)
    t = commands.add_parser("trace")
    t.add_argument("dir")
    t.add_argument("--out", required=True)
    t.add_argument("--task", default="auto", choices=("auto",) + TASKS)
    t.add_argument("--quantize", action="store_true")
    p = commands.add_parser("probe")
    p.add_argument("model")
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--task", required=True, choices=TASKS)
    p.add_argument("--labels")
    p.add_argument("--max-sequence-length", type=int, default=512)
    v = commands.add_parser("vocabulary")
    v.add_argument("vocabulary")
    v.add_argument("--family", required=True, choices=("bert", "roberta", "xlm_roberta"))
    v.add_argument("--lower-case", action="store_true")
    v.add_argument("--out", required=True)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    try:
        import torch  # noqa: F401
        import tokenizers  # noqa: F401
        if args.command == "trace":
            import transformers  # noqa: F401
    except ImportError as e:
        fail(f"this Python cannot import {e.name}; run scripts/install-torch.sh, which installs torch and transformers", 1)
    try:
        run = {"trace": run_trace, "probe": run_probe, "vocabulary": run_vocabulary}[args.command]
        print(json.dumps(run(args)))
    except BadInput as e:
        fail(str(e), 2)


if __name__ == "__main__":
    main()
