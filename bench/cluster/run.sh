#!/usr/bin/env bash
# Starts a local Canopy cluster on loopback: a 3-node NATS JetStream cluster and N
# canopy-server shards, with every log, data directory and pid in one folder; runs until
# SIGINT/SIGTERM, then stops the shards (flushing their last batch) and the NATS nodes.
# docs/SCALE-OUT.md explains the design and what this does and does not prove.
#
#   bench/cluster/run.sh [--dir DIR] [--shards N] [--base-port P] [--server BIN]
#
# DIR (default ./canopy-cluster) gets nats-K/ (node K's JetStream store), shard-I/ (shard
# I's sled store), partner-secret (the partner secret every shard is given, made once),
# NAME.log, NAME.pid and NAME.cmd for each process (NAME.cmd restarts it
# exactly as started: `bash DIR/shard-1.cmd &` after a SIGKILL), and `ready` once every
# shard serves. Ports: NATS clients P..P+2, NATS routes P+10..P+12, shard I's game
# socket P+100+2I and its ops HTTP P+101+2I. BIN defaults to the release canopy-server,
# built if missing. Extra canopy-server flags for every shard: CANOPY_SHARD_ARGS.
set -euo pipefail
cd "$(dirname "$0")/../.."

dir=./canopy-cluster
shards=3
base=14222
server=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --shards) shards="$2"; shift 2 ;;
    --base-port) base="$2"; shift 2 ;;
    --server) server="$2"; shift 2 ;;
    *) echo "unknown argument: $1 (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
done
if [ -z "$server" ]; then
  server=target/release/canopy-server
  [ -x "$server" ] || cargo build --release --quiet -p canopy-server
fi
server="$(realpath "$server")"
nats="$(bench/cluster/install-nats.sh)"
mkdir -p "$dir"
dir="$(realpath "$dir")"
rm -f "$dir/ready"

# Every process's pid file, in start order; stopped in reverse.
started=()

# Writes NAME.cmd (exec'ing the process with its log) and starts it in the background.
launch() {
  local name="$1"; shift
  {
    echo "#!/usr/bin/env bash"
    echo "echo \$\$ > $(printf %q "$dir/$name.pid")"
    printf 'exec'; printf ' %q' "$@"; printf ' >>%q 2>&1\n' "$dir/$name.log"
  } > "$dir/$name.cmd"
  bash "$dir/$name.cmd" &
  started+=("$dir/$name.pid")
}

# Whether a process runs (an exited one that its parent has not reaped yet does not: a
# process restarted from its NAME.cmd is not this script's child).
running() {
  local state
  state="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
  [[ $state != Z* ]]
}

stop_all() {
  trap - INT TERM
  local index pid
  for ((index = ${#started[@]} - 1; index >= 0; index--)); do
    pid="$(cat "${started[$index]}" 2>/dev/null || true)"
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
    # Shards first, each waited for, so no shard outlives the NATS it flushes to.
    while [ -n "$pid" ] && running "$pid"; do sleep 0.1; done
  done
  echo "cluster stopped; logs and data in $dir" >&2
}
trap 'stop_all; exit 0' INT TERM

routes=""
for node in 1 2 3; do
  routes+="nats-route://127.0.0.1:$((base + 9 + node)),"
done
for node in 1 2 3; do
  cat > "$dir/nats-$node.conf" <<CONF
server_name: n$node
listen: 127.0.0.1:$((base + node - 1))
jetstream {
  store_dir: "$dir/nats-$node"
  # fsync every write before it is acknowledged: an acked message survives power loss.
  sync_interval: always
}
cluster {
  name: canopy
  listen: 127.0.0.1:$((base + 9 + node))
  routes: [${routes%,}]
}
CONF
  launch "nats-$node" "$nats" --config "$dir/nats-$node.conf"
done

# Every shard must seal partner keys under the same secret (docs/SCALE-OUT.md, "The
# partner secret"): 32 random bytes, made once, mode 0600, given to each shard by path.
secret="$dir/partner-secret"
[ -e "$secret" ] || (umask 077 && head -c 32 /dev/urandom > "$secret")

nats_urls="[\"nats://127.0.0.1:$base\",\"nats://127.0.0.1:$((base + 1))\",\"nats://127.0.0.1:$((base + 2))\"]"
for ((shard = 0; shard < shards; shard++)); do
  game=$((base + 100 + 2 * shard))
  ops=$((base + 101 + 2 * shard))
  # shellcheck disable=SC2086 # CANOPY_SHARD_ARGS is a list of flags.
  launch "shard-$shard" env \
    CANOPY_CLUSTER__ENABLED=true \
    CANOPY_CLUSTER__SHARD="$shard" \
    CANOPY_CLUSTER__SHARDS="$shards" \
    CANOPY_CLUSTER__NATS_URLS="$nats_urls" \
    CANOPY_CLUSTER__ADVERTISE_URL="ws://127.0.0.1:$game/ws" \
    CANOPY_STORE__PARTNER_SECRET_FILE="$secret" \
    "$server" --listen "127.0.0.1:$game" --ops-listen "127.0.0.1:$ops" \
    --data-dir "$dir/shard-$shard" ${CANOPY_SHARD_ARGS:-}
done

# Ready when every shard's ops HTTP answers /healthz (a shard serves only after joining).
healthy() {
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3
  head -c 12 <&3 | grep -q ' 200'
  local answer=$?
  exec 3>&-
  return $answer
}
for ((shard = 0; shard < shards; shard++)); do
  until healthy $((base + 101 + 2 * shard)); do
    pid="$(cat "$dir/shard-$shard.pid" 2>/dev/null || true)"
    if [ -n "$pid" ] && ! running "$pid"; then
      echo "shard $shard exited; see $dir/shard-$shard.log" >&2
      stop_all
      exit 1
    fi
    sleep 0.2
  done
done
touch "$dir/ready"
echo "cluster ready: shards at ws://127.0.0.1:$((base + 100))/ws (+2 per shard), NATS at $nats_urls; $dir" >&2
# Waits for the signal (a bare `wait` returns when any child exits, e.g. a test's SIGKILL).
while true; do sleep 1; done
