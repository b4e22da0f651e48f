#!/usr/bin/env bash
# The main job, end to end, on a fresh machine: installs what the project needs, builds it, starts
# a local Elasticsearch unless ES_URL is set, uploads a sample model, runs `feeder serve`, deploys
# the model into the native stub, and asks it for an inference whose answer is checked against the
# model file's own bytes. The daemon is stopped at the end; Elasticsearch is left running.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "installing system packages and npm dependencies"
bash scripts/install-system-deps.sh
npm ci --no-audit --no-fund --loglevel=error
npm run build --silent

if [ -z "${ES_URL:-}" ]; then
  step "starting a local Elasticsearch (ES_URL is not set)"
  ES_URL=$(bash scripts/elasticsearch.sh start --name quickstart --port "${FEEDER_QUICKSTART_ES_PORT:-9200}")
  started_es=1
fi
export ES_URL
feeder() { node build/src/cli/main.js "$@"; }

work=$(mktemp -d)
daemon_pid=""
cleanup() {
  if [ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null; then wait "$daemon_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

step "uploading a 64 MiB sample model as 'sample-model'"
head -c $((64 * 1024 * 1024)) /dev/urandom > "$work/sample-model.pt"
feeder upload "$work/sample-model.pt" --model-id sample-model --replace --description "quick start sample" 2>"$work/upload.log"
feeder models list

step "starting the daemon (feeder serve) on ${FEEDER_LISTEN:=127.0.0.1:9465}"
export FEEDER_LISTEN
# Not through the feeder function: in the background that would be a subshell, and $! its pid,
# so the SIGTERM at the end would stop the subshell and leave the daemon running.
node build/src/cli/main.js serve >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://$FEEDER_LISTEN/healthz" >/dev/null 2>&1 && break
  kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/daemon.log"; exit 1; }
  sleep 0.2
done

step "deploying sample-model into the native stub"
feeder deploy sample-model

step "asking for an inference on tokens 1,2,3 (each answer is model_byte[token] / 255)"
feeder infer sample-model --tokens 1,2,3
node -e '
  const bytes = require("fs").readFileSync(process.argv[1]);
  console.log("expected from the file:", JSON.stringify([[1, 2, 3].map((t) => [bytes[t] / 255])]));
' "$work/sample-model.pt"

step "status and the last daemon log lines (ECS JSON)"
feeder status
tail -n 3 "$work/daemon.log"

feeder undeploy sample-model
if [ -n "${started_es:-}" ]; then
  printf '\nDone. Elasticsearch is still running at %s; stop it with: bash scripts/elasticsearch.sh stop --name quickstart\n' "$ES_URL"
else
  printf '\nDone.\n'
fi
