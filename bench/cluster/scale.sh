#!/usr/bin/env bash
# Measures a local Canopy cluster at several shard counts: for each count it starts
# bench/cluster/run.sh (3 NATS nodes, manual clocks), runs `canopy bots` against every
# shard, samples the CPU of the shards, the NATS nodes and the bots, checks each
# shard's audit, stops the cluster, and finally writes one JSON report.
# docs/PERFORMANCE.md ("Shards on one machine") says what the numbers do and do not prove.
#
#   bench/cluster/scale.sh [--shards "1 2 4"] [--players N] [--friends K]
#       [--duration 30s] [--rate R] [--bot-max-rate B] [--seed S] [--out FILE] [--dir DIR]
#       [--base-port P]
#
# --rate R runs the bots open loop at R requests a second (default: closed loop, each
# bot sends its next request when its reply is in: that measures capacity). Each bot's
# own cap (--bot-max-rate, `canopy bots`' 19/s by default) is off (0) by default here,
# and the shards run without the per-connection rate limit, so the bots are not what
# bounds a closed loop (a load, as docs/LOAD-TESTING.md describes). The report
# (default ./cluster-scale.json) has one entry a shard count: ops/s, p50/p99 over all
# ops and for steals, the CPU seconds each group of processes used during the bots' run
# and per op, violations and unexpected errors, whether every shard's audit balanced,
# and the load average before and after. Uses the release binaries (built if missing).
# A documented command, not a CI step: it takes about a minute a shard count.
set -euo pipefail
cd "$(dirname "$0")/../.."

shard_counts="1 2 4"
players=300
friends=10
duration=30s
rate=""
bot_max_rate=0
seed=1
out=./cluster-scale.json
dir=""
base=17222
while [ $# -gt 0 ]; do
  case "$1" in
    --shards) shard_counts="$2"; shift 2 ;;
    --players) players="$2"; shift 2 ;;
    --friends) friends="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --bot-max-rate) bot_max_rate="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --base-port) base="$2"; shift 2 ;;
    *) echo "unknown argument: $1 (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
done
[ -x target/release/canopy-server ] && [ -x target/release/canopy ] ||
  cargo build --release --quiet -p canopy-server -p canopy-cli
[ -n "$dir" ] || dir="$(mktemp -d)"
mkdir -p "$dir"
dir="$(realpath "$dir")"
ticks_per_second="$(getconf CLK_TCK)"

# The CPU ticks (user + system) the processes whose pid files are given have used.
cpu_ticks() {
  local total=0 pid_file stat
  for pid_file in "$@"; do
    stat="$(cat "/proc/$(cat "$pid_file")/stat" 2>/dev/null)" || continue
    stat="${stat##*) }"
    read -r -a fields <<<"$stat"
    total=$((total + fields[11] + fields[12]))
  done
  echo "$total"
}

# Samples "unix-ms shard-ticks nats-ticks bots-ticks" every 200 ms into $1 until killed.
sample_cpu() {
  local samples="$1" shards="$2" bots_pid_file="$3"
  local shard_pids=() nats_pids=()
  for ((shard = 0; shard < shards; shard++)); do shard_pids+=("$run/shard-$shard.pid"); done
  for node in 1 2 3; do nats_pids+=("$run/nats-$node.pid"); done
  while true; do
    echo "$(date +%s%3N) $(cpu_ticks "${shard_pids[@]}") $(cpu_ticks "${nats_pids[@]}") $(cpu_ticks "$bots_pid_file")" >>"$samples"
    sleep 0.2
  done
}

results=()
for shards in $shard_counts; do
  run="$dir/shards-$shards"
  rm -rf "$run"
  mkdir -p "$run"
  echo "== $shards shard(s): starting the cluster in $run" >&2
  # run.sh's readiness check would take another cluster's shards for its own.
  for port in "$base" $((base + 100)) $((base + 101)); do
    if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
      exec 3>&-
      echo "port $port is taken (another cluster?); choose another --base-port" >&2
      exit 1
    fi
  done
  CANOPY_SHARD_ARGS="--clock manual" CANOPY_ACCOUNTS__REGISTER_LIMITS=false \
    CANOPY_SERVER__RATE_LIMIT_PER_SECOND=1000000 CANOPY_SERVER__RATE_LIMIT_BURST=1000000 \
    bench/cluster/run.sh --dir "$run" --shards "$shards" --base-port "$base" \
    --server target/release/canopy-server 2>"$run/run.log" &
  cluster_pid=$!
  until [ -e "$run/ready" ]; do
    kill -0 "$cluster_pid" 2>/dev/null || { echo "the cluster did not start; see $run" >&2; exit 1; }
    sleep 0.2
  done
  shard_ops=()
  for ((shard = 1; shard < shards; shard++)); do
    shard_ops+=(--shard-ops "http://127.0.0.1:$((base + 101 + 2 * shard))")
  done
  load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
  rate_args=()
  [ -z "$rate" ] || rate_args=(--rate "$rate")
  target/release/canopy bots --quiet --server "ws://127.0.0.1:$((base + 100))/ws" \
    --ops "http://127.0.0.1:$((base + 101))" "${shard_ops[@]}" \
    --players "$players" --friends-per-player "$friends" --duration "$duration" \
    --seed "$seed" --bot-max-rate "$bot_max_rate" "${rate_args[@]}" --report "$run/bots.json" >"$run/bots.txt" 2>&1 &
  bots_pid=$!
  echo "$bots_pid" >"$run/bots.pid"
  sample_cpu "$run/cpu.txt" "$shards" "$run/bots.pid" &
  sampler_pid=$!
  bots_status=0
  wait "$bots_pid" || bots_status=$?
  ended_ms="$(date +%s%3N)"
  kill "$sampler_pid"
  wait "$sampler_pid" 2>/dev/null || true
  load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
  audits="$run/audits.jsonl"
  for ((shard = 0; shard < shards; shard++)); do
    curl -sf -H "Authorization: Bearer canopy-admin" \
      "http://127.0.0.1:$((base + 101 + 2 * shard))/admin/audit" >>"$audits" || echo '{}' >>"$audits"
    echo >>"$audits"
  done
  kill -TERM "$cluster_pid"
  wait "$cluster_pid" || true
  [ -s "$run/bots.json" ] || { echo "canopy bots wrote no report; see $run/bots.txt" >&2; exit 1; }
  results+=("$(python3 bench/cluster/scale_entry.py "$run" "$shards" "$ended_ms" \
    "$ticks_per_second" "$bots_status" "$load_before" "$load_after")")
  echo "   $(jq -r '"\(.ops_per_s | floor) ops/s, p50 \(.p50_ms) ms, p99 \(.p99_ms) ms, shard CPU \(.cpu_ms_per_op.shards) ms/op, audits balanced: \(.audits_balanced)"' <<<"${results[-1]}")" >&2
done

jq -n --arg commit "$(git rev-parse --short HEAD)" --arg when "$(date -u +%FT%TZ)" \
  --argjson cores "$(nproc)" --arg players "$players" --arg friends "$friends" \
  --arg duration "$duration" --arg rate "$rate" --arg seed "$seed" \
  --arg bot_max_rate "$bot_max_rate" \
  '{commit: $commit, measured_at: $when, cores: $cores,
    bots: {players: ($players | tonumber), friends_per_player: ($friends | tonumber),
           duration: $duration, rate: (if $rate == "" then "closed loop" else ($rate | tonumber) end),
           bot_max_rate: ($bot_max_rate | tonumber), seed: ($seed | tonumber)},
    runs: $ARGS.positional}' --jsonargs "${results[@]}" >"$out"
echo "report written to $out (runs kept in $dir)" >&2
