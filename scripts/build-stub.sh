#!/usr/bin/env bash
# Builds native-stub into native-stub/build/native-stub, where feeder's default deploy.command
# looks for it. Ships in the package, so an installed feeder can build its own stub:
# `feeder native build-stub` and `npm run build:stub` both run this one script.
set -euo pipefail
cd "$(dirname "$0")/.."

needs="the stub needs cmake 3.25+, a C++17 compiler, msgpack-c's C++ headers and OpenSSL's libcrypto
(Debian: apt-get install cmake g++ libmsgpack-cxx-dev libssl-dev)"
command -v cmake >/dev/null 2>&1 || { echo "build-stub.sh: no cmake on PATH; $needs" >&2; exit 1; }
cmake -S native-stub -B native-stub/build -DCMAKE_BUILD_TYPE=Release >/dev/null ||
  { echo "build-stub.sh: cmake could not configure native-stub (see above); $needs" >&2; exit 1; }
cmake --build native-stub/build -j 2
