#!/usr/bin/env bash
# Open-loop latency and server CPU per request on a generated world; with RATE=0, the
# saturation run (closed loop, server and bots each pinned to a core).
#
#   bench/open-loop.sh
#   RATE=0 CONNECTIONS=2000 bench/open-loop.sh
#
# Generates a world (`canopy-server generate`, balls ripe at once), starts a release
# server on it with a manual clock, and runs `canopy bots --generated-world` in open loop:
# CONNECTIONS bots logged in as a sample of the world's players, RATE requests a second
# over all of them, the default mix. It reads the server's and the bots' CPU time
# (utime + stime, /proc/<pid>/stat fields 14 and 15) when the run starts (the bots'
# `run:` line on stderr) and one second before its DURATION has passed (so both are still
# running), and prints one JSON line: the latency percentiles over every op, the share of
# writes that succeeded, CPU per reply for the server and for the bots (CPU over the
# window divided by the replies the run's rate gives in it), the server's CPU per
# successful write, durable syncs and committed batches a second (from /metrics), and
# the load average (1 min) at both ends of the window. The full report stays in the
# work directory with KEEP=1.
#
# RATE=0 measures saturation instead: every bot sends its next request as soon as its
# last reply is in (`--bot-max-rate 0`, the server's per-connection rate limit lifted),
# and the server runs on core 0 and the bots on core 1 (`taskset`); CPU per reply and
# per successful write are CPU time over what was answered, so the server's figure is
# honest whichever side is the limit.
#
# Environment (defaults): PLAYERS=20000 BALLS=100 (balls per player, 50 g each)
# CONNECTIONS=500 RATE=2000 DURATION=60 (seconds) SEED=1, SERVER_BIN and CANOPY_BIN
# (target/release/...), NO_BUILD=1 to skip the release build, KEEP=1 to keep the work
# directory, LABEL (copied into the output).
set -euo pipefail
cd "$(dirname "$0")/.."

players=${PLAYERS:-20000}
balls=${BALLS:-100}
connections=${CONNECTIONS:-500}
rate=${RATE:-2000}
duration=${DURATION:-60}
seed=${SEED:-1}
server_bin=${SERVER_BIN:-target/release/canopy-server}
canopy_bin=${CANOPY_BIN:-target/release/canopy}
work=$(mktemp -d /tmp/canopy-open-loop.XXXXXX)
server_pid=""
bots_pid=""

cleanup() {
    for pid in "$bots_pid" "$server_pid"; do
        if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    if [[ ${KEEP:-0} == 1 ]]; then
        echo "work directory kept: $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

command -v jq >/dev/null || { echo "jq is needed (apt-get install jq)" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is needed (apt-get install curl)" >&2; exit 1; }
if [[ ${NO_BUILD:-0} != 1 ]]; then
    cargo build --release --quiet -p canopy-server -p canopy-cli
fi

# A counter or histogram count from the server's /metrics (0 before its first sample).
metric() {
    curl -s "http://$ops_addr/metrics" | awk -v name="$1" '$1 == name { v = $2 } END { print v + 0 }'
}

# CPU seconds (user + system) of a process so far.
cpu_s() {
    awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"
}

"$server_bin" --data-dir "$work/data" generate --players "$players" \
    --balls-per-player "$balls" --ripen now >"$work/generate.json"
echo "generated: $(cat "$work/generate.json")" >&2

server_pin=()
bots_pin=()
rate_args=(--rate "$rate")
if [[ $rate == 0 ]]; then
    server_pin=(taskset -c 0)
    bots_pin=(taskset -c 1)
    rate_args=(--bot-max-rate 0)
    export CANOPY_SERVER__RATE_LIMIT_PER_SECOND=1000000 CANOPY_SERVER__RATE_LIMIT_BURST=1000000
fi

ulimit -n "$(ulimit -Hn)"
CANOPY_LOG=info "${server_pin[@]}" "$server_bin" --clock manual --data-dir "$work/data" \
    --listen 127.0.0.1:0 --ops-listen 127.0.0.1:0 2>"$work/server.log" >/dev/null &
server_pid=$!
for _ in $(seq 1 600); do
    grep -q "canopy-server running" "$work/server.log" && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.1
done
game_addr=$(grep -o 'game_addr=[^ ]*' "$work/server.log" | head -1 | cut -d= -f2)
ops_addr=$(grep -o 'ops_addr=[^ ]*' "$work/server.log" | head -1 | cut -d= -f2)

: >"$work/bots.err"
"${bots_pin[@]}" "$canopy_bin" bots --server "ws://$game_addr/ws" --ops "http://$ops_addr" \
    --generated-world "$players" --players "$connections" "${rate_args[@]}" \
    --duration "${duration}s" --seed "$seed" --report "$work/report.json" \
    >"$work/bots.out" 2>"$work/bots.err" &
bots_pid=$!
until grep -q "^run: " "$work/bots.err"; do
    kill -0 "$bots_pid" 2>/dev/null || { cat "$work/bots.err" >&2; exit 1; }
    sleep 0.05
done
load_start=$(cut -d' ' -f1 /proc/loadavg)
syncs_start=$(metric canopy_store_flush_seconds_count)
batches_start=$(metric canopy_store_batch_records_count)
server_start=$(cpu_s "$server_pid")
bots_start=$(cpu_s "$bots_pid")
window=$((duration - 1))
sleep "$window"
server_end=$(cpu_s "$server_pid")
bots_end=$(cpu_s "$bots_pid")
load_end=$(cut -d' ' -f1 /proc/loadavg)
syncs=$(($(metric canopy_store_flush_seconds_count) - syncs_start))
batches=$(($(metric canopy_store_batch_records_count) - batches_start))
status=0
wait "$bots_pid" || status=$?
bots_pid=""
cat "$work/bots.out" >&2
server_rss_kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status")

jq -c --arg run_label "${LABEL:-}" --argjson status "$status" \
    --argjson server_cpu "$(echo "$server_end - $server_start" | bc -l)" \
    --argjson bots_cpu "$(echo "$bots_end - $bots_start" | bc -l)" \
    --argjson rss "$server_rss_kib" --argjson players "$players" --argjson balls "$balls" \
    --argjson window "$window" --argjson load_start "$load_start" \
    --argjson load_end "$load_end" --argjson syncs "$syncs" --argjson batches "$batches" \
    '(.ops_per_s * $window) as $replies
    | (.writes.succeeded_per_s * $window) as $ok_writes | {
    label: $run_label, exit_status: $status, players: $players, balls_per_player: $balls,
    connections: .config.players, rate: .config.rate, duration_s, ops, ops_per_s,
    p50_ms: .overall.p50_ms, p90_ms: .overall.p90_ms, p99_ms: .overall.p99_ms,
    p999_ms: .overall.p999_ms, max_ms: .overall.max_ms,
    writes_share: .writes.share, writes_succeeded_per_s: .writes.succeeded_per_s,
    violations: .violation_count, unexpected_errors, transport_errors,
    cpu_window_s: $window,
    server_cpu_s: $server_cpu, server_cores: ($server_cpu / $window),
    server_cpu_us_per_reply: ($server_cpu * 1e6 / $replies),
    server_cpu_us_per_ok_write: ($server_cpu * 1e6 / $ok_writes),
    bots_cpu_s: $bots_cpu, bots_cpu_us_per_reply: ($bots_cpu * 1e6 / $replies),
    syncs_per_s: ($syncs / $window), batches_per_s: ($batches / $window),
    server_rss_mib: ($rss / 1024), load_average: [$load_start, $load_end]
}' "$work/report.json"
