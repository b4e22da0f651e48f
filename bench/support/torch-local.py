"""What a user would do without the feeder: torch in Python on the same model file.

    python torch-local.py load MODEL             one torch.jit.load from local disk: {"load_s": ...}
    python torch-local.py infer MODEL TOKENS N [PAUSE_MS]
                                                 N calls of the module on TOKENS (JSON [[int]]),
                                                 after a warm-up, one thread, PAUSE_MS apart
                                                 (default 0): {"infer_ms": [...]}
"""

import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")
import torch  # noqa: E402


def main() -> None:
    mode, path = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    if mode == "load":
        started = time.perf_counter()
        torch.jit.load(path)
        print(json.dumps({"load_s": time.perf_counter() - started}))
        return
    tokens = torch.tensor(json.loads(sys.argv[3]), dtype=torch.long)
    pause_s = float(sys.argv[5]) / 1000 if len(sys.argv) > 5 else 0.0
    module = torch.jit.load(path).eval()
    times = []
    with torch.inference_mode():
        for _ in range(20):
            module(tokens)
        for _ in range(int(sys.argv[4])):
            started = time.perf_counter()
            module(tokens)
            times.append((time.perf_counter() - started) * 1000)
            if pause_s > 0:
                time.sleep(pause_s)
    print(json.dumps({"infer_ms": times}))


if __name__ == "__main__":
    main()
