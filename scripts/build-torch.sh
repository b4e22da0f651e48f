#!/usr/bin/env bash
# Builds native-torch/ against the libtorch that scripts/install-torch.sh installs (installing it
# first, once: about 540 MiB for the C++ part alone). `npm run build:torch` runs this.
#   scripts/build-torch.sh [--libtorch-only]   (--libtorch-only: skip the Python part of the install)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-torch.sh "$@" >/dev/null
libtorch=$(bash scripts/install-torch.sh path libtorch)
cmake -S native-torch -B native-torch/build -DCMAKE_BUILD_TYPE=Release -DLIBTORCH_DIR="$libtorch" >/dev/null
cmake --build native-torch/build -j 2
