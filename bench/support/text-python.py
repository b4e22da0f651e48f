"""What a user would do without the feeder to embed texts with all-MiniLM-L6-v2: the HF model and
its tokenizer in Python, with the directory's mean pooling and normalisation (sentence-transformers'
`encode` for this model, which the project's Python does not have).

    python text-python.py MODEL_DIR TEXTS.json BATCH SECONDS THREADS

Closed loop on one thread of work: the texts in turn, BATCH at a time (tokenize with padding, one
forward, pool, normalise, to Python lists), for SECONDS after a warm-up. Prints
{"docs_s", "tokenize_us_per_doc", "forward_ms_per_batch"}: the tokenizer's time alone over the same
batches is the figure the daemon's tokenizing is held against.
"""

import json
import os
import sys
import time
import warnings

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_VERBOSITY"] = "error"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
warnings.filterwarnings("ignore")
import torch  # noqa: E402
import transformers  # noqa: E402

transformers.utils.logging.disable_progress_bar()


def main() -> None:
    model_dir, texts_file, batch, seconds, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    with open(texts_file, encoding="utf-8") as f:
        texts = json.load(f)
    with open(os.path.join(model_dir, "sentence_bert_config.json"), encoding="utf-8") as f:
        max_length = json.load(f)["max_seq_length"]
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModel.from_pretrained(model_dir, use_kernels=False).eval()
    batches = [texts[i:i + batch] for i in range(0, len(texts) - batch + 1, batch)]

    def embed(docs):
        encoding = tokenizer(docs, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        started = time.perf_counter()
        hidden = model(**encoding).last_hidden_state
        forward = time.perf_counter() - started
        mask = encoding["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        vectors = torch.nn.functional.normalize((hidden * mask).sum(dim=1) / mask.sum(dim=1), p=2.0, dim=1)
        vectors.tolist()
        return forward

    with torch.inference_mode():
        for docs in batches[:5]:
            embed(docs)
        done, forwards, started = 0, [], time.perf_counter()
        while time.perf_counter() - started < seconds:
            forwards.append(embed(batches[len(forwards) % len(batches)]))
            done += batch
        elapsed = time.perf_counter() - started

    tokenized = 0
    started = time.perf_counter()
    for docs in batches:
        tokenizer(docs, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        tokenized += len(docs)
    tokenize_s = time.perf_counter() - started
    forwards.sort()
    print(json.dumps({"docs_s": done / elapsed, "tokenize_us_per_doc": tokenize_s / tokenized * 1e6,
                      "forward_ms_per_batch": forwards[len(forwards) // 2] * 1000}))


if __name__ == "__main__":
    main()
