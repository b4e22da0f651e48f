#!/usr/bin/env bash
# Starts and stops a single-node Elasticsearch, or a cluster of several nodes on this machine, for
# development, tests and benchmarks.
#
#   scripts/elasticsearch.sh start [--version V] [--port P] [--name N] [--security PASSWORD [--tls]] [--fresh]
#   scripts/elasticsearch.sh start --nodes N [--version V] [--port P] [--name N] [--fresh]
#   scripts/elasticsearch.sh stop  [--name N] [--node I] [--kill]
#   scripts/elasticsearch.sh url   [--name N]
#   scripts/elasticsearch.sh remove [--name N]   (stops the instance and deletes its directory)
#   scripts/elasticsearch.sh ca    [--name N]     (the CA certificate of a --tls node)
#   scripts/elasticsearch.sh jdk-for VERSION     (prints the JDK it would use, or fails)
#
# `start` prints the node's URL as its last line of stdout once the node answers; it is a no-op
# (printing the URL) when that instance is already running. `--tls` (with `--security`) serves
# HTTPS with a certificate for 127.0.0.1 only (so `localhost` is a name it was not issued for),
# signed by a CA made for that start with openssl; `ca` prints where that CA's certificate is. The distribution is the
# integ-test-zip from Maven Central, fetched once with `mvn dependency:copy` and cached.
# Elasticsearch refuses to run as root, so as root the node runs as the user `feeder-es`.
#
# `--nodes N` (N > 1) makes the instance a cluster of N nodes on 127.0.0.1: node I serves HTTP on
# P+I-1 and transport on P+I-1+1000, with its own config, data and logs under <instance>/node-I;
# security is off. `start` starts the nodes that are not running (a no-op for live ones, so it also
# brings back a node that was stopped or killed) and returns once the cluster has all N nodes and is
# at least yellow, printing the nodes' URLs comma-separated, as `url` does. A later `start` or `stop`
# without --nodes acts on the whole cluster; `stop --node I` stops node I alone, `--kill` with
# SIGKILL instead of SIGTERM (a node lost, not shut down).
#
# The instance remembers the version that wrote its data: `start` refuses data written by another
# version that Elasticsearch cannot open (a newer version, or another major: "indexCreatedVersionMajor
# is in the future"), naming --fresh, which wipes the data first.
set -euo pipefail

version="${FEEDER_ES_VERSION:-8.19.7}"
port=""
name="dev"
security_password=""
tls=0
fresh=0
nodes=""
node=""
kill_signal=TERM
heap="${FEEDER_ES_HEAP:-1g}"

die() { echo "elasticsearch.sh: $*" >&2; exit 1; }
log() { echo "elasticsearch.sh: $*" >&2; }

command="${1:-}"
[ -n "$command" ] || die "usage: elasticsearch.sh start|stop|url|remove|ca|jdk-for VERSION [--version V] [--port P] [--name N] [--security PASSWORD [--tls]] [--nodes N] [--node I] [--kill] [--fresh]"
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
    --nodes) nodes="$2"; shift 2 ;;
    --node) node="$2"; shift 2 ;;
    --kill) kill_signal=KILL; shift ;;
    *) die "unknown option '$1'" ;;
  esac
done
[[ "$name" =~ ^[a-z0-9-]+$ ]] || die "--name must be lowercase letters, digits and '-', got '$name'"
[ "$tls" = 0 ] || [ -n "$security_password" ] || die "--tls needs --security PASSWORD: Elasticsearch serves HTTPS only with security on"
[ -z "$nodes" ] || [[ "$nodes" =~ ^[1-9][0-9]?$ ]] || die "--nodes must be a number of nodes from 1 to 99, got '$nodes'"
[ -z "$node" ] || [[ "$node" =~ ^[1-9][0-9]?$ ]] || die "--node must be a node number (1 for the first), got '$node'"

if [ "$(id -u)" = 0 ]; then
  # Not under /root: the unprivileged node user must be able to read the distribution.
  cache="${FEEDER_CACHE_DIR:-/var/cache/es-model-feeder}"
  run_user="feeder-es"
else
  cache="${FEEDER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/es-model-feeder}"
  run_user=""
fi
instance="$cache/instances/$name"
# The node being worked on: the instance itself for a single node, <instance>/node-I in a cluster.
node_dir="$instance"
node_name="feeder-$name"

run_as_node_user() {
  if [ -n "$run_user" ]; then runuser -u "$run_user" -- "$@"; else "$@"; fi
}

instance_pid() {
  local pid_file="$node_dir/es.pid"
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

# The number of nodes of the instance as started last (1 for a single node, and for one never started).
recorded_nodes() { cat "$instance/nodes" 2>/dev/null || echo 1; }

# Selects node I of a cluster instance for the functions that act on one node.
select_node() {
  node_dir="$instance/node-$1"
  node_name="feeder-$name-$1"
}

cluster_urls() {
  local base i urls=()
  base=$(cat "$instance/port")
  for i in $(seq 1 "$(recorded_nodes)"); do urls+=("http://127.0.0.1:$((base + i - 1))"); done
  local IFS=,
  echo "${urls[*]}"
}

# A version as Elasticsearch numbers it: 9.2.0 is 9020099.
version_id() {
  local major minor patch
  IFS=. read -r major minor patch <<< "$1"
  echo $(( ${major:-0} * 1000000 + ${minor:-0} * 10000 + ${patch:-0} * 100 + 99 ))
}

# The version id of the Elasticsearch that last wrote the data under $1/data, from the node metadata
# file Elasticsearch keeps for this very check (data/_state/node-N.st: SMILE, where the key
# "node_version" is followed by the token 0x24 and a zigzag VInt); empty when there is no such file.
# A start records the version in $1/version once the node answers, which is the fallback.
data_version_id() {
  local file
  file=$(find "$1/data/_state" -maxdepth 1 -name 'node-*.st' 2>/dev/null | head -n 1)
  if [ -n "$file" ]; then
    local bytes key=(110 111 100 101 95 118 101 114 115 105 111 110) i j n=0
    read -ra bytes <<< "$(od -An -tu1 -v "$file" | tr '\n' ' ')"
    for ((i = 0; i + ${#key[@]} < ${#bytes[@]}; i++)); do
      for ((j = 0; j < ${#key[@]}; j++)); do [ "${bytes[i + j]}" = "${key[j]}" ] || continue 2; done
      i=$((i + ${#key[@]}))
      [ "${bytes[i]}" = 36 ] || break
      for ((i++; i < ${#bytes[@]}; i++)); do
        if [ "${bytes[i]}" -ge 128 ]; then echo $(( ((n << 6) | (bytes[i] & 63)) >> 1 )); return; fi
        n=$(( (n << 7) | bytes[i] ))
      done
    done
  fi
  [ -s "$1/version" ] && version_id "$(cat "$1/version")"
  return 0
}

# "9.2.0" for 9020099.
version_of_id() { echo "$(($1 / 1000000)).$(($1 / 10000 % 100)).$(($1 / 100 % 100))"; }

# Elasticsearch opens data written by its own or an older version, of its major or the one before
# (which it upgrades). Data of a newer version makes the node die at boot ("indexCreatedVersionMajor
# is in the future", "cannot downgrade"); refuse before that, with the fix in the message. $1 is the
# directory holding the node's data/ (the instance, or a cluster node's directory).
check_data_version() {
  local dir="$1" written want
  [ -n "$(ls -A "$dir/data" 2>/dev/null)" ] || return 0
  written=$(data_version_id "$dir")
  [ -n "$written" ] || return 0
  want=$(version_id "$version")
  if [ "$written" -gt "$want" ] || [ $((written / 1000000)) -lt $((want / 1000000 - 1)) ]; then
    die "instance '$name' holds data written by Elasticsearch $(version_of_id "$written"), which Elasticsearch $version cannot open; start it with --fresh to wipe that data (or with --version $(version_of_id "$written") to keep it)"
  fi
  [ "$written" = "$want" ] || log "Elasticsearch $version upgrades the data of instance '$name' written by $(version_of_id "$written"); older versions cannot open it afterwards"
}

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
  local home="$1" conf="$node_dir/config"
  rm -rf "$conf"
  cp -r "$home/config" "$conf"
  local security=false
  [ -n "$security_password" ] && security=true
  cat > "$conf/elasticsearch.yml" <<YML
cluster.name: feeder-$name
node.name: $node_name
$(discovery_settings)
network.host: 127.0.0.1
http.port: ${http_port:-$port}
path.data: $node_dir/data
path.logs: $node_dir/logs
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

# A single node discovers only itself. A cluster node knows every node's transport port; the first
# start of a cluster (no data yet) also names the master-eligible nodes it may bootstrap from, which
# Elasticsearch wants removed once the cluster has formed, so a restarted node's config leaves it out.
discovery_settings() {
  if [ "$node_dir" = "$instance" ]; then echo "discovery.type: single-node"; return; fi
  local base i seeds=() masters=()
  base=$(cat "$instance/port")
  for i in $(seq 1 "$count"); do
    seeds+=("127.0.0.1:$((base + i - 1 + 1000))")
    masters+=("feeder-$name-$i")
  done
  local IFS=,
  echo "transport.port: $((http_port + 1000))"
  echo "discovery.seed_hosts: [${seeds[*]}]"
  if [ -z "$(ls -A "$node_dir/data" 2>/dev/null)" ]; then echo "cluster.initial_master_nodes: [${masters[*]}]"; fi
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
    kill -0 "$pid" 2>/dev/null || { tail -n 40 "$node_dir/logs/"*.log >&2 2>/dev/null || true; die "Elasticsearch exited during start; see $node_dir/logs"; }
    sleep 0.5
  done
  die "Elasticsearch did not answer at $url within 120 s; see $node_dir/logs"
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
  [ ! -s "$instance/nodes" ] || [ "$fresh" = 1 ] \
    || die "instance '$name' is a cluster of $(recorded_nodes) nodes; start it with --nodes $(recorded_nodes), or with --nodes 1 --fresh to make it a single node"
  if [ "$fresh" = 1 ]; then rm -rf "$instance/data" "$instance"/node-*; rm -f "$instance/nodes"; fi
  check_data_version "$instance"
  local home; home=$(fetch_distribution)
  java_home=$(find_java_home)
  ensure_node_user
  mkdir -p "$instance"
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
  echo "$version" > "$instance/version"
  instance_url
}

# Signals the selected node and waits until it is gone; TERM that does not stop it within 30 s becomes KILL.
stop_node() {
  local pid
  pid=$(instance_pid) || { log "$node_name is not running"; return 0; }
  kill "-$kill_signal" "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  log "$node_name did not stop within 30 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

stop() {
  if [ "$(recorded_nodes)" = 1 ]; then
    [ -z "$node" ] || die "--node is for a cluster; instance '$name' is a single node"
    instance_pid >/dev/null || { log "instance '$name' is not running"; return 0; }
    stop_node
    return
  fi
  if [ -n "$node" ]; then
    [ "$node" -le "$(recorded_nodes)" ] || die "instance '$name' has nodes 1 to $(recorded_nodes), not $node"
    select_node "$node"
    stop_node
    return
  fi
  local i
  for i in $(seq 1 "$(recorded_nodes)"); do (select_node "$i"; stop_node) & done
  wait
}

# The nodes of a cluster instance that are running, as their numbers.
live_nodes() {
  local i
  for i in $(seq 1 "$(recorded_nodes)"); do (select_node "$i"; instance_pid >/dev/null) && echo "$i"; done
  return 0
}

cluster_mode() { echo "version=$version security=off tls=off nodes=$count"; }

start_cluster() {
  [ -z "$security_password" ] || die "a cluster (--nodes $count) runs with security off; --security and --tls are for a single node"
  [ -z "$node" ] || die "start starts every node of the cluster that is not running; --node is for stop"
  local live; live=$(live_nodes)
  if [ -n "$live" ]; then
    local running; running=$(cat "$instance/mode" 2>/dev/null || echo "an unknown version")
    [ "$running" = "$(cluster_mode)" ] \
      || die "instance '$name' is already running with $running, not $(cluster_mode); stop it first: scripts/elasticsearch.sh stop --name $name"
    [ -z "$port" ] || [ "$port" = "$(cat "$instance/port")" ] \
      || die "instance '$name' is already running on ports from $(cat "$instance/port"), not $port; stop it first: scripts/elasticsearch.sh stop --name $name"
    [ "$fresh" = 0 ] || die "--fresh wipes the data of a stopped instance; instance '$name' is running: stop it first: scripts/elasticsearch.sh stop --name $name"
  elif [ "$fresh" = 1 ]; then
    rm -rf "$instance/data" "$instance"/node-*
  elif [ -n "$(ls -A "$instance/data" 2>/dev/null)" ]; then
    die "instance '$name' is a single node; start it without --nodes, or with --nodes $count --fresh to make it a cluster"
  elif [ "$(recorded_nodes)" != "$count" ] && [ -n "$(ls -A "$instance"/node-*/data 2>/dev/null)" ]; then
    die "instance '$name' is a cluster of $(recorded_nodes) nodes; start it with --nodes $(recorded_nodes), or with --nodes $count --fresh"
  fi
  [ -n "$port" ] || port=$(cat "$instance/port" 2>/dev/null || echo 9200)
  local i starting=()
  for i in $(seq 1 "$count"); do
    select_node "$i"
    instance_pid >/dev/null || check_data_version "$node_dir"
  done
  local home; home=$(fetch_distribution)
  java_home=$(find_java_home)
  ensure_node_user
  mkdir -p "$instance"
  echo "$count" > "$instance/nodes"
  echo "$port" > "$instance/port"
  cluster_mode > "$instance/mode"
  [ -z "$run_user" ] || chown "$run_user" "$instance"
  for i in $(seq 1 "$count"); do
    select_node "$i"
    instance_pid >/dev/null && continue
    mkdir -p "$node_dir/data" "$node_dir/logs" "$node_dir/tmp"
    rm -f "$node_dir/es.pid"
    http_port=$((port + i - 1))
    write_config "$home"
    [ -z "$run_user" ] || chown -R "$run_user" "$node_dir"
    starting+=("$i")
  done
  if [ "${#starting[@]}" -gt 0 ]; then
    log "starting node(s) ${starting[*]} of $count of cluster '$name', Elasticsearch $version on 127.0.0.1:$port-$((port + count - 1)) (java: $(java_major "$java_home"), heap $heap each)"
    # At once: a node's start waits (up to 30 s) for the cluster it belongs to, which needs the others.
    for i in "${starting[@]}"; do
      (
        select_node "$i"
        run_as_node_user env ES_PATH_CONF="$node_dir/config" ES_JAVA_HOME="$java_home" ES_TMPDIR="$node_dir/tmp" \
          "$home/bin/elasticsearch" -d -p "$node_dir/es.pid" >"$node_dir/start.log" 2>&1 || touch "$node_dir/start.failed"
      ) &
    done
    wait
  fi
  wait_for_cluster "${starting[@]}"
  for i in "${starting[@]}"; do echo "$version" > "$instance/node-$i/version"; done
  cluster_urls
}

# Until the cluster has all its nodes and is at least yellow, asking any live node; fails when a
# node just started has died.
wait_for_cluster() {
  local base i j; base=$(cat "$instance/port")
  for i in $(seq 1 240); do
    for j in "$@"; do
      select_node "$j"
      if [ -e "$node_dir/start.failed" ] || ! instance_pid >/dev/null; then
        rm -f "$node_dir/start.failed"
        cat "$node_dir/start.log" >&2 2>/dev/null || true
        tail -n 40 "$node_dir/logs/"*.log >&2 2>/dev/null || true
        die "$node_name exited during start; see $node_dir/logs"
      fi
    done
    for j in $(live_nodes); do
      if curl -fsS "http://127.0.0.1:$((base + j - 1))/_cluster/health?wait_for_nodes=$count&wait_for_status=yellow&timeout=1s" >/dev/null 2>&1; then
        return 0
      fi
    done
    sleep 0.5
  done
  die "cluster '$name' did not have $count nodes and at least yellow health within 120 s; see $instance/node-*/logs"
}

# The number of nodes a start asks for: --nodes, or as many as the instance had.
count="${nodes:-$(recorded_nodes)}"

case "$command" in
  start) if [ "$count" = 1 ]; then start; else start_cluster; fi ;;
  stop) stop ;;
  url)
    if [ "$(recorded_nodes)" = 1 ]; then
      instance_pid >/dev/null || die "instance '$name' is not running"
      instance_url
    else
      [ -n "$(live_nodes)" ] || die "instance '$name' is not running"
      cluster_urls
    fi
    ;;
  remove) stop; rm -rf "$instance" ;;
  ca) [ -s "$(instance_ca)" ] || die "instance '$name' has no CA certificate: start it with --security PASSWORD --tls"; instance_ca ;;
  jdk-for) find_java_home ;;
  *) die "unknown command '$command' (start, stop, url, remove, ca)" ;;
esac
