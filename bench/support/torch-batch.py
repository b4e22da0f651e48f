"""The cores' own limit for bench:serve: torch in Python on the same TorchScript file, no daemon.

    python torch-batch.py MODEL TOKENS SECONDS BATCH THREADS
        calls the module on BATCH copies of TOKENS (JSON [[int]], one row) for SECONDS after a
        warm-up, on THREADS intra-op threads: {"rows_s": ..., "p50_ms": ..., "calls": ...}
"""

import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")
import torch  # noqa: E402


def main() -> None:
    path, tokens, seconds, batch, threads = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    inputs = torch.tensor(tokens * batch, dtype=torch.long)
    module = torch.jit.load(path).eval()
    times = []
    with torch.inference_mode():
        # A few calls warm it up; twenty of 64 rows took minutes on a loaded machine.
        for _ in range(3):
            module(inputs)
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            started = time.perf_counter()
            module(inputs)
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    total_s = sum(times) / 1000
    print(json.dumps({"rows_s": len(times) * batch / total_s, "p50_ms": times[len(times) // 2], "calls": len(times)}))


if __name__ == "__main__":
    main()
