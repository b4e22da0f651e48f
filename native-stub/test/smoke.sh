#!/usr/bin/env bash
# Builds native-stub and runs the smoke checks against the real binary.
# Usage: bash native-stub/test/smoke.sh   (from anywhere)
# Env: SMOKE_BIG=0 skips the >4 GiB streaming check; SMOKE_PURE_PY=1 forces
# the built-in MessagePack codec instead of the python `msgpack` module.
set -euo pipefail

stub_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

cmake -S "$stub_dir" -B "$stub_dir/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
build_log="$(cmake --build "$stub_dir/build" -j 2 2>&1)" || { echo "$build_log"; exit 1; }
if grep -q "warning:" <<<"$build_log"; then
  echo "$build_log"
  echo "smoke: build produced warnings"
  exit 1
fi

exec python3 "$stub_dir/test/smoke.py" "$stub_dir/build/native-stub"
