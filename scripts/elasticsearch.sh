#!/usr/bin/env bash
# Starts and stops a single-node Elasticsearch for development, tests and benchmarks.
#
#   scripts/elasticsearch.sh start [--version V] [--port P] [--name N] [--security PASSWORD [--tls]] [--fresh]
#   scripts/elasticsearch.sh stop  [--name N]
#   scripts/elasticsearch.sh url   [--name N]
#   scripts/elasticsearch.sh ca    [--name N]     (the CA certificate of a --tls node)
#   scripts/elasticsearch.sh jdk-for VERSION     (prints the JDK it would use, or fails)
#
# `start` prints the node's URL as its last line of stdout once the node answers; it is a no-op
# (printing the URL) when that instance is already running. `--tls` (with `--security`) serves
# HTTPS with a certificate for 127.0.0.1 only (so `localhost` is a name it was not issued for),
# signed by a CA made for that start with openssl; `ca` prints where that CA's certificate is. The distribution is the
# integ-test-zip from Maven Central, fetched once with `mvn dependency:copy` and cached.
# Elasticsearch refuses to run as root, so as root the node runs as the user `feeder-es`.
set -euo pipefail

version="${FEEDER_ES_VERSION:-8.19.7}"
port=""
name="dev"
security_password=""
tls=0
fresh=0
heap="${FEEDER_ES_HEAP:-1g}"

die() { echo "elasticsearch.sh: $*" >&2; exit 1; }
log() { echo "elasticsearch.sh: $*" >&2; }

command="${1:-}"
[ -n "$command" ] || die "usage: elasticsearch.sh start|stop|url|ca|jdk-for VERSION [--version V] [--port P] [--name N] [--security PASSWORD [--tls]] [--fresh]"
shift
if [ "$command" = jdk-for ]; then version="${1:?jdk-for needs a version}"; shift; fi
while [ $# -gt 0 ]; do
  case "$1" in
    --version) version="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --name) name="$2"; shift 2 ;;
    --security) security_password="$2"; shift 2 ;;
    --tls) tls=1; shift ;;
    --fresh) fresh=1; shift ;;
    *) die "unknown option '$1'" ;;
  esac
done
[[ "$name" =~ ^[a-z0-9-]+$ ]] || die "--name must be lowercase letters, digits and '-', got '$name'"
[ "$tls" = 0 ] || [ -n "$security_password" ] || die "--tls needs --security PASSWORD: Elasticsearch serves HTTPS only with security on"

if [ "$(id -u)" = 0 ]; then
  # Not under /root: the unprivileged node user must be able to read the distribution.
  cache="${FEEDER_CACHE_DIR:-/var/cache/es-model-feeder}"
  run_user="feeder-es"
else
  cache="${FEEDER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/es-model-feeder}"
  run_user=""
fi
instance="$cache/instances/$name"

run_as_node_user() {
  if [ -n "$run_user" ]; then runuser -u "$run_user" -- "$@"; else "$@"; fi
}

instance_pid() {
  local pid_file="$instance/es.pid"
  [ -s "$pid_file" ] || return 1
  local pid; pid=$(cat "$pid_file")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# HTTPS when the instance was started with --tls (its `mode` file, written at start, says so).
instance_url() {
  local scheme=http
  grep -qs 'tls=on' "$instance/mode" && scheme=https
  echo "$scheme://127.0.0.1:$(cat "$instance/port")"
}

instance_ca() { echo "$instance/config/certs/ca.crt"; }

# A CA and a node certificate (IP 127.0.0.1) signed by it, made anew for each start.
write_certificates() {
  local certs="$1"
  command -v openssl >/dev/null || die "--tls needs openssl (scripts/install-system-deps.sh installs it)"
  mkdir -p "$certs"
  local out="$certs/openssl.log"
  { openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=feeder-$name test CA" \
      -keyout "$certs/ca.key" -out "$certs/ca.crt" \
    && openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$certs/node.key" -out "$certs/node.csr" \
    && printf 'subjectAltName=IP:127.0.0.1\n' > "$certs/node.ext" \
    && openssl x509 -req -in "$certs/node.csr" -CA "$certs/ca.crt" -CAkey "$certs/ca.key" -CAcreateserial \
      -days 30 -extfile "$certs/node.ext" -out "$certs/node.crt"; } >"$out" 2>&1 \
    || { cat "$out" >&2; die "could not make the TLS certificates with openssl (see above)"; }
  rm -f "$out"
  rm -f "$certs/ca.key" "$certs/node.csr" "$certs/node.ext" "$certs/ca.srl"
}

major_of() { echo "${1%%.*}"; }

java_major() { "$1/bin/java" -version 2>&1 | sed -nE '1s/.*version "([0-9]+).*/\1/p'; }

# 8.x runs on Java 17+, 9.x needs 21+. ES_JAVA_HOME wins when set.
find_java_home() {
  local need=17
  [ "$(major_of "$version")" -ge 9 ] && need=21
  if [ -n "${ES_JAVA_HOME:-}" ]; then echo "$ES_JAVA_HOME"; return; fi
  local candidate best="" best_major=0 m
  for candidate in /usr/lib/jvm/*; do
    [ -x "$candidate/bin/java" ] || continue
    m=$(java_major "$candidate") || continue
    [ -n "$m" ] && [ "$m" -ge "$need" ] || continue
    # Prefer the oldest JDK that is new enough: it is the one the version was tested most with.
    if [ -z "$best" ] || [ "$m" -lt "$best_major" ]; then best="$candidate"; best_major="$m"; fi
  done
  [ -n "$best" ] || die "Elasticsearch $version needs Java $need or newer; none found under /usr/lib/jvm. Install one (e.g. apt-get install openjdk-17-jdk-headless) or set ES_JAVA_HOME."
  echo "$best"
}

# Two nodes started at once on a fresh machine would both fetch: the lock makes the second wait for
# the first's download and unzip instead of unzipping a half-written file.
fetch_distribution() {
  local home="$cache/elasticsearch-$version"
  if [ -x "$home/bin/elasticsearch" ]; then echo "$home"; return; fi
  mkdir -p "$cache"
  exec {lock_fd}>"$cache/fetch.lock"
  flock "$lock_fd"
  if [ -x "$home/bin/elasticsearch" ]; then flock -u "$lock_fd"; echo "$home"; return; fi
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch Elasticsearch $version once: apt-get install maven"
  mkdir -p "$cache/downloads"
  local zip="$cache/downloads/elasticsearch-$version.zip"
  if [ ! -s "$zip" ]; then
    log "fetching org.elasticsearch.distribution.integ-test-zip:elasticsearch:$version:zip"
    mvn -q -B dependency:copy \
      "-Dartifact=org.elasticsearch.distribution.integ-test-zip:elasticsearch:$version:zip" \
      "-DoutputDirectory=$cache/downloads" >&2 || die "could not fetch Elasticsearch $version from Maven Central"
  fi
  local tmp; tmp=$(mktemp -d "$cache/unzip.XXXXXX")
  unzip -q "$zip" -d "$tmp" || die "could not unzip $zip"
  mv "$tmp/elasticsearch-$version" "$home"
  rmdir "$tmp"
  chmod -R a+rX "$home"
  flock -u "$lock_fd"
  echo "$home"
}

ensure_node_user() {
  [ -n "$run_user" ] || return 0
  id "$run_user" >/dev/null 2>&1 && return 0
  useradd --system --no-create-home --shell /usr/sbin/nologin "$run_user" \
    || die "could not create the user '$run_user' to run Elasticsearch as"
}

write_config() {
  local home="$1" conf="$instance/config"
  rm -rf "$conf"
  cp -r "$home/config" "$conf"
  local security=false
  [ -n "$security_password" ] && security=true
  cat > "$conf/elasticsearch.yml" <<YML
cluster.name: feeder-$name
node.name: feeder-$name
discovery.type: single-node
network.host: 127.0.0.1
http.port: $port
path.data: $instance/data
path.logs: $instance/logs
xpack.security.enabled: $security
xpack.security.http.ssl.enabled: $([ "$tls" = 1 ] && echo true || echo false)
xpack.security.transport.ssl.enabled: false
cluster.routing.allocation.disk.watermark.low: 97%
cluster.routing.allocation.disk.watermark.high: 98%
cluster.routing.allocation.disk.watermark.flood_stage: 99%
cluster.routing.allocation.disk.watermark.flood_stage.frozen: 99%
YML
  printf -- '-Xms%s\n-Xmx%s\n' "$heap" "$heap" > "$conf/jvm.options.d/heap.options"
  if [ "$tls" = 1 ]; then
    write_certificates "$conf/certs"
    cat >> "$conf/elasticsearch.yml" <<YML
xpack.security.http.ssl.key: certs/node.key
xpack.security.http.ssl.certificate: certs/node.crt
xpack.security.http.ssl.certificate_authorities: [certs/ca.crt]
YML
  fi
  if [ -n "$security_password" ]; then
    ES_PATH_CONF="$conf" ES_JAVA_HOME="$java_home" "$home/bin/elasticsearch-keystore" create >/dev/null
    printf '%s' "$security_password" | ES_PATH_CONF="$conf" ES_JAVA_HOME="$java_home" \
      "$home/bin/elasticsearch-keystore" add -x bootstrap.password >/dev/null
  fi
}

wait_until_answering() {
  local url="$1" pid="$2" tls_args=() curl_config="" i
  # The password reaches curl as a config on stdin (-K -), not as -u in its arguments, which every
  # user's ps shows; in a quoted curl config value, \ and " are escaped.
  if [ -n "$security_password" ]; then
    local quoted="${security_password//\\/\\\\}"
    curl_config="user = \"elastic:${quoted//\"/\\\"}\""
  fi
  [ "$tls" = 1 ] && tls_args=(--cacert "$(instance_ca)")
  for i in $(seq 1 240); do
    if printf '%s\n' "$curl_config" | curl -fsS -K - "${tls_args[@]}" "$url/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { tail -n 40 "$instance/logs/"*.log >&2 2>/dev/null || true; die "Elasticsearch exited during start; see $instance/logs"; }
    sleep 0.5
  done
  die "Elasticsearch did not answer at $url within 120 s; see $instance/logs"
}

# What a start asks for, to tell whether a running instance is the same node.
wanted_mode() { echo "version=$version security=$([ -n "$security_password" ] && echo on || echo off) tls=$([ "$tls" = 1 ] && echo on || echo off)"; }

start() {
  if instance_pid >/dev/null; then
    local running; running=$(cat "$instance/mode" 2>/dev/null || echo "an unknown version, security and TLS")
    [ "$running" = "$(wanted_mode)" ] \
      || die "instance '$name' is already running with $running, not $(wanted_mode); stop it first: scripts/elasticsearch.sh stop --name $name"
    instance_url
    return
  fi
  [ -n "$port" ] || port=9200
  local home; home=$(fetch_distribution)
  java_home=$(find_java_home)
  ensure_node_user
  mkdir -p "$instance"
  [ "$fresh" = 1 ] && rm -rf "$instance/data"
  mkdir -p "$instance/data" "$instance/logs" "$instance/tmp"
  write_config "$home"
  echo "$port" > "$instance/port"
  wanted_mode > "$instance/mode"
  [ -n "$run_user" ] && chown -R "$run_user" "$instance"
  log "starting Elasticsearch $version on 127.0.0.1:$port (java: $(java_major "$java_home"), heap $heap)"
  run_as_node_user env ES_PATH_CONF="$instance/config" ES_JAVA_HOME="$java_home" ES_TMPDIR="$instance/tmp" \
    "$home/bin/elasticsearch" -d -p "$instance/es.pid" >"$instance/start.log" 2>&1 \
    || { cat "$instance/start.log" >&2; die "Elasticsearch failed to start; see $instance/logs"; }
  local pid; pid=$(cat "$instance/es.pid")
  wait_until_answering "$(instance_url)" "$pid"
  instance_url
}

stop() {
  local pid
  pid=$(instance_pid) || { log "instance '$name' is not running"; return 0; }
  kill -TERM "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  log "instance '$name' did not stop within 30 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

case "$command" in
  start) start ;;
  stop) stop ;;
  url) instance_pid >/dev/null || die "instance '$name' is not running"; instance_url ;;
  ca) [ -s "$(instance_ca)" ] || die "instance '$name' has no CA certificate: start it with --security PASSWORD --tls"; instance_ca ;;
  jdk-for) find_java_home ;;
  *) die "unknown command '$command' (start, stop, url, ca)" ;;
esac
