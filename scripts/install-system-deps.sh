#!/usr/bin/env bash
# Installs the system packages the project needs on Debian/Ubuntu: a JDK and Maven (to fetch and
# run the Elasticsearch test node), unzip and curl, and the native stub's build tools and libraries,
# and script(1) (bsdutils), which gives the progress-bar test a real terminal, and Python 3 with its
# venv module, into which scripts/install-torch.sh installs torch for native-torch and its tests.
# Idempotent: packages already present are left alone. Needs root (or sudo).
set -euo pipefail

packages=(maven unzip curl ca-certificates cmake make g++ libmsgpack-cxx-dev libssl-dev openjdk-17-jdk-headless procps util-linux bsdutils openssl python3 python3-venv)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
echo "install-system-deps: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
