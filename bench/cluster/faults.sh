#!/usr/bin/env bash
# The long version of the faults test (tests/cluster.rs,
# bots_storm_through_nats_and_shard_faults_losing_nothing_acknowledged): a cross-shard
# `canopy bots --reconnect` storm on a local 3-shard cluster (manual clocks, no
# registration limits) during which the faults of issue 15 happen in turn, --rounds
# times:
#   1. one NATS node SIGKILLed for --hold seconds, then restarted (the quorum holds);
#   2. two NATS nodes SIGKILLed for --hold seconds (no quorum: cross-shard ops answer
#      SHARD_TIMEOUT and stay queued), then restarted;
#   3. a shard SIGSTOPped for --pause seconds (past the remote timeout, the sessions'
#      60 s idle timeout and the NATS client's pings), then resumed;
#   4. a shard SIGKILLed and restarted from its NAME.cmd (its bots log in again);
# each followed by --hold seconds of storm without faults. The shards and nodes taken
# turn about round by round. Then the bots stop (SIGINT), wait until no transfer is in
# flight and judge every bot's balance against its acknowledged changes; the script
# reads the cluster audit once more.
#
#   bench/cluster/faults.sh [--players N] [--friends K] [--rounds R] [--hold S]
#       [--pause S] [--remote-timeout MS] [--bin-dir DIR] [--dir DIR] [--base-port P]
#
# DIR (default: a new temporary folder) keeps the cluster's logs and data, the bots'
# report (bots.json, bots.txt), the fault timeline (timeline.txt) and the last cluster
# audit (audit.json). Binaries from --bin-dir (default target/release, built if
# missing). Exits 0 when the bots' report is clean (no violation, no unexpected error,
# every transfer arrived, every balance checked) and the audit balanced with nothing in
# flight. A documented command, not a CI step: docs/SCALE-OUT.md has a run's numbers.
set -euo pipefail
cd "$(dirname "$0")/../.."

players=300
friends=5
rounds=2
hold=20
pause=90
remote_timeout=5000
bin_dir=target/release
dir=""
base=18222
while [ $# -gt 0 ]; do
  case "$1" in
    --players) players="$2"; shift 2 ;;
    --friends) friends="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --hold) hold="$2"; shift 2 ;;
    --pause) pause="$2"; shift 2 ;;
    --remote-timeout) remote_timeout="$2"; shift 2 ;;
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --base-port) base="$2"; shift 2 ;;
    *) echo "unknown argument: $1 (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
done
if [ "$bin_dir" = target/release ]; then
  [ -x target/release/canopy-server ] && [ -x target/release/canopy ] ||
    cargo build --release --quiet -p canopy-server -p canopy-cli
fi
canopy="$(realpath "$bin_dir/canopy")"
[ -n "$dir" ] || dir="$(mktemp -d)"
mkdir -p "$dir"
dir="$(realpath "$dir")"
run="$dir/cluster"
started_s="$(date +%s.%N)"

say() {
  local line
  line="$(awk -v now="$(date +%s.%N)" -v start="$started_s" -v what="$*" 'BEGIN { printf "%7.1f s  %s", now - start, what }')"
  echo "$line" | tee -a "$dir/timeline.txt" >&2
}

# Whether something listens on a loopback port.
listening() {
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  exec 3>&-
}

# Whether shard I's ops HTTP answers /healthz.
healthy() {
  curl -sf "http://127.0.0.1:$((base + 101 + 2 * $1))/healthz" >/dev/null
}

wait_for() {
  local what="$1"; shift
  local waited=0
  until "$@"; do
    sleep 0.2
    waited=$((waited + 1))
    [ "$waited" -lt 1500 ] || { say "gave up waiting: $what"; exit 1; }
  done
  say "$what"
}

kill_process() {
  local pid
  pid="$(cat "$run/$1.pid")"
  kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null && [[ "$(ps -o stat= -p "$pid")" != Z* ]]; do sleep 0.1; done
  say "SIGKILL $1"
}

# Starts a process again from its NAME.cmd; run.sh stops it at the end by its pid file.
restart() {
  bash "$run/$1.cmd" &
  disown
  say "restart $1"
}

restart_nats() {
  restart "nats-$1"
  wait_for "nats-$1 takes clients" listening $((base + $1 - 1))
}

for port in "$base" $((base + 100)) $((base + 101)); do
  if listening "$port"; then
    echo "port $port is taken (another cluster?); choose another --base-port" >&2
    exit 1
  fi
done
CANOPY_SHARD_ARGS="--clock manual" CANOPY_ACCOUNTS__REGISTER_LIMITS=false \
  CANOPY_CLUSTER__REMOTE_TIMEOUT_MS="$remote_timeout" \
  bench/cluster/run.sh --dir "$run" --shards 3 --base-port "$base" \
  --server "$bin_dir/canopy-server" 2>"$dir/run.log" &
cluster_pid=$!
trap 'kill -TERM "$cluster_pid" 2>/dev/null; wait "$cluster_pid" 2>/dev/null || true' EXIT
until [ -e "$run/ready" ]; do
  kill -0 "$cluster_pid" 2>/dev/null || { echo "the cluster did not start; see $dir" >&2; exit 1; }
  sleep 0.2
done
say "cluster ready (3 shards, remote timeout $remote_timeout ms)"

"$canopy" bots --server "ws://127.0.0.1:$((base + 100))/ws" \
  --ops "http://127.0.0.1:$((base + 101))" \
  --shard-ops "http://127.0.0.1:$((base + 103))" --shard-ops "http://127.0.0.1:$((base + 105))" \
  --admin-token canopy-admin --players "$players" --friends-per-player "$friends" \
  --duration 24h --reconnect --report "$dir/bots.json" >"$dir/bots.txt" 2>"$dir/bots.log" &
bots_pid=$!
until grep -q '^run:' "$dir/bots.log"; do
  kill -0 "$bots_pid" 2>/dev/null || { echo "canopy bots ended in setup; see $dir/bots.log" >&2; exit 1; }
  sleep 0.2
done
say "storm: $players bots, $friends friends each"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
sleep "$hold"

for ((round = 0; round < rounds; round++)); do
  one=$(( round % 3 + 1 ))
  two=$(( (round + 1) % 3 + 1 ))
  paused=$(( round % 3 ))
  killed=$(( (round + 1) % 3 ))
  kill_process "nats-$one"
  sleep "$hold"
  restart_nats "$one"
  sleep "$hold"

  kill_process "nats-$one"
  kill_process "nats-$two"
  sleep "$hold"
  restart_nats "$one"
  restart_nats "$two"
  sleep "$hold"

  kill -STOP "$(cat "$run/shard-$paused.pid")"
  say "SIGSTOP shard-$paused"
  sleep "$pause"
  kill -CONT "$(cat "$run/shard-$paused.pid")"
  say "SIGCONT shard-$paused"
  sleep "$hold"

  kill_process "shard-$killed"
  restart "shard-$killed"
  wait_for "shard-$killed serves" healthy "$killed"
  sleep "$hold"
done

kill -INT "$bots_pid"
say "SIGINT canopy bots: settling"
bots_status=0
wait "$bots_pid" || bots_status=$?
say "canopy bots exited $bots_status"
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
"$canopy" --ops "http://127.0.0.1:$((base + 101))" --admin-token canopy-admin --json \
  admin audit --cluster >"$dir/audit.json"
audit_ok="$(jq '.balanced and .transfers_in_flight == 0 and .props_in_flight == 0' "$dir/audit.json")"
say "cluster audit: $(jq -c '{balanced, created, accounted, in_flight, transfers_in_flight}' "$dir/audit.json")"
jq -c --arg before "$load_before" --arg after "$load_after" \
  '{ops, ops_per_s, errors, faults, settled, violation_count, unexpected_errors,
    load_average: {before: $before, after: $after}}' "$dir/bots.json" | tee -a "$dir/timeline.txt"
echo "bots' report: $dir/bots.txt and bots.json; timeline: $dir/timeline.txt" >&2
[ "$bots_status" -eq 0 ] && [ "$audit_ok" = true ]
