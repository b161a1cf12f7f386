#!/usr/bin/env bash
# The risk engine's overhead on the mixed load: the same closed-loop `canopy bots` run
# against a fresh release server with the risk engine on (its default) and off
# (CANOPY_RISK__ENABLED=false), alternating ROUNDS times in one run so both see the
# same machine, and one JSON line per run plus the on/off ratio of the mean ops/s.
#
#   bench/risk-overhead.sh
#   ROUNDS=3 PLAYERS=1000 DURATION=30 bench/risk-overhead.sh
#
# Environment (defaults): ROUNDS=2 PLAYERS=500 FRIENDS=20 DURATION=20 (seconds), SEED=1,
# SERVER_BIN and CANOPY_BIN (target/release/...), NO_BUILD=1 to skip the release build.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${ROUNDS:-2}
players=${PLAYERS:-500}
friends=${FRIENDS:-20}
duration=${DURATION:-20}
seed=${SEED:-1}
server_bin=${SERVER_BIN:-target/release/canopy-server}
canopy_bin=${CANOPY_BIN:-target/release/canopy}
work=$(mktemp -d /tmp/canopy-risk-overhead.XXXXXX)
server_pid=""

cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

command -v jq >/dev/null || { echo "jq is needed (apt-get install jq)" >&2; exit 1; }
if [[ ${NO_BUILD:-0} != 1 ]]; then
    cargo build --release --quiet -p canopy-server -p canopy-cli
fi
ulimit -n "$(ulimit -Hn)"

# One run: a fresh server with CANOPY_RISK__ENABLED=$1, the bots, one JSON line.
run() {
    local risk=$1 dir="$work/run-$2"
    mkdir -p "$dir"
    CANOPY_LOG=info CANOPY_RISK__ENABLED=$risk CANOPY_SERVER__RATE_LIMIT_PER_SECOND=1000 \
        CANOPY_ACCOUNTS__REGISTER_LIMITS=false \
        "$server_bin" --clock manual --data-dir "$dir/data" \
        --listen 127.0.0.1:0 --ops-listen 127.0.0.1:0 2>"$dir/server.log" >/dev/null &
    server_pid=$!
    for _ in $(seq 1 600); do
        grep -q "canopy-server running" "$dir/server.log" && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$dir/server.log" >&2; exit 1; }
        sleep 0.1
    done
    local game_addr ops_addr
    game_addr=$(grep -o 'game_addr=[^ ]*' "$dir/server.log" | head -1 | cut -d= -f2)
    ops_addr=$(grep -o 'ops_addr=[^ ]*' "$dir/server.log" | head -1 | cut -d= -f2)
    "$canopy_bin" bots --server "ws://$game_addr/ws" --ops "http://$ops_addr" \
        --players "$players" --friends-per-player "$friends" --duration "${duration}s" \
        --bot-max-rate 0 --seed "$seed" --report "$dir/report.json" >/dev/null 2>"$dir/bots.err"
    local flags
    flags=$(curl -s "http://$ops_addr/metrics" | awk '$1 ~ /^canopy_risk_flags_total/ { n += $2 } END { print n + 0 }')
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
    jq -c --arg risk "$risk" --argjson flags "$flags" \
        '{risk: ($risk == "true"), ops_per_s, ops, p99_ms: .overall.p99_ms, risk_trips: $flags,
          unexpected_errors}' "$dir/report.json"
}

results=()
for round in $(seq 1 "$rounds"); do
    for risk in true false; do
        line=$(run "$risk" "$round-$risk")
        echo "$line"
        results+=("$line")
    done
done
printf '%s\n' "${results[@]}" | jq -s -c '
    (map(select(.risk)) | map(.ops_per_s) | add / length) as $on
    | (map(select(.risk | not)) | map(.ops_per_s) | add / length) as $off
    | {mean_ops_per_s_on: $on, mean_ops_per_s_off: $off, on_over_off: ($on / $off)}'
