#!/usr/bin/env bash
# Idle connections: how much resident memory open, idle WebSockets add to canopy-server.
#
#   bench/idle-connections.sh [CONNECTIONS]        (default 20000)
#
# Builds the release binaries, then measures two cases, each on a server started for it:
#   anonymous  - connections that never log in;
#   logged-in  - connections logged in as players registered beforehand (the server is
#                restarted on that data so its baseline already holds the players, and
#                the difference is the sessions', not the world's).
# For each: the server's VmRSS before, the peak while `canopy bots idle` holds every
# connection through at least one ping interval, and the difference per connection.
#
# Environment: HOLD (default 30s; keep it over the 15 s ping interval), NO_BUILD=1 to
# skip the build, KEEP=1 to keep the work directory (logs, reports, tokens).
#
# The server and each client need an open file per connection. Both raise their soft
# limit to the hard limit (`ulimit -Hn`); where the hard limit is too low for the server
# the run is measured at what fits and the per-connection figure is projected to the
# asked count. Clients split over several processes when one cannot hold them all.
set -euo pipefail
cd "$(dirname "$0")/.."

connections=${1:-20000}
hold=${HOLD:-30s}
work=$(mktemp -d /tmp/canopy-idle.XXXXXX)
server_pid=""

cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [[ ${KEEP:-0} == 1 ]]; then
        echo "work directory kept: $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

for tool in jq curl; do
    command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install $tool)" >&2; exit 1; }
done
if [[ ${NO_BUILD:-0} != 1 ]]; then
    cargo build --release --quiet -p canopy-server -p canopy-cli
fi
server_bin=target/release/canopy-server
canopy_bin=target/release/canopy

ulimit -n "$(ulimit -Hn)"
files=$(ulimit -n)
# The server keeps ~14 files of its own (listeners, sled, epoll); leave it 64.
if ((connections + 64 > files)); then
    measured=$((files - 64))
    echo "note: the open-files hard limit is $files, so the server can hold $measured" \
        "connections here; measuring at $measured and projecting to $connections" >&2
else
    measured=$connections
fi
# One client process per (limit - 100) connections.
per_process=$((files - 100))
processes=$(((measured + per_process - 1) / per_process))
# Source addresses 127.0.0.1..N: Linux gives connect() the even half of the ephemeral
# range first, so past ~half the range on one address every connect scans it all. The
# client picks this itself, but here the processes share the addresses.
read -r port_low port_high </proc/sys/net/ipv4/ip_local_port_range
per_source=$(((port_high - port_low + 1) / 2 * 9 / 10))
sources=$(((measured + per_source - 1) / per_source))

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# start_server DATA_DIR: starts a server with a manual clock, sets server_pid and addrs.
start_server() {
    local log=$work/server-$RANDOM.log
    CANOPY_LOG=info CANOPY_ACCOUNTS__REGISTER_LIMITS=false "$server_bin" --clock manual --data-dir "$1" \
        --listen 127.0.0.1:0 --ops-listen 127.0.0.1:0 2>"$log" >/dev/null &
    server_pid=$!
    for _ in $(seq 1 300); do
        if grep -q "canopy-server running" "$log"; then
            game_addr=$(grep -o 'game_addr=[^ ]*' "$log" | head -1 | cut -d= -f2)
            ops_addr=$(grep -o 'ops_addr=[^ ]*' "$log" | head -1 | cut -d= -f2)
            sleep 1
            return
        fi
        sleep 0.1
    done
    echo "the server did not start:" >&2
    cat "$log" >&2
    exit 1
}

stop_server() {
    kill -TERM "$server_pid"
    wait "$server_pid" || true
    server_pid=""
}

sessions_gauge() {
    curl -s "http://$ops_addr/metrics" | awk '$1 == "canopy_sessions" {print $2}'
}

# run_clients NAME EXTRA_ARGS...: runs the idle clients over `measured` connections
# (split over `processes`), and samples the server's RSS while all of them hold.
# Sets peak_kib and the clients' totals.
run_clients() {
    local name=$1
    shift
    local pids=() i count
    for ((i = 0; i < processes; i++)); do
        : >"$work/$name-$i.err"
        count=$((measured / processes + (i < measured % processes ? 1 : 0)))
        "$canopy_bin" bots idle --server "ws://$game_addr/ws" --connections "$count" \
            --source-addrs "$sources" --report "$work/$name-$i.json" "${@//PROCESS/$i}" \
            >"$work/$name-$i.out" 2>"$work/$name-$i.err" &
        pids+=($!)
    done
    # Wait until every client says it holds its connections (or one ends early).
    local holding=0
    while ((holding < processes)); do
        holding=0
        for ((i = 0; i < processes; i++)); do
            if grep -q "^hold: .* open; holding" "$work/$name-$i.err"; then
                holding=$((holding + 1))
            elif ! kill -0 "${pids[$i]}" 2>/dev/null; then
                holding=$((holding + 1))
            fi
        done
        sleep 0.2
    done
    peak_kib=0 sessions=0 client_kib=0
    local rss gauge clients pid
    while kill -0 "${pids[0]}" 2>/dev/null; do
        rss=$(rss_kib "$server_pid")
        ((rss > peak_kib)) && peak_kib=$rss
        gauge=$(sessions_gauge)
        ((${gauge:-0} > sessions)) && sessions=$gauge
        clients=0
        for pid in "${pids[@]}"; do
            clients=$((clients + $(rss_kib "$pid" 2>/dev/null || echo 0)))
        done
        ((clients > client_kib)) && client_kib=$clients
        sleep 1
    done
    for pid in "${pids[@]}"; do wait "$pid" || true; done
    opened=0 failed=0 dropped=0 pings=0 open_s=0
    for ((i = 0; i < processes; i++)); do
        local report=$work/$name-$i.json
        if [[ ! -s $report ]]; then
            echo "client $name-$i wrote no report:" >&2
            cat "$work/$name-$i.err" >&2
            exit 1
        fi
        opened=$((opened + $(jq .opened "$report")))
        failed=$((failed + $(jq .failed "$report")))
        dropped=$((dropped + $(jq .dropped "$report")))
        pings=$((pings + $(jq .pings "$report")))
        open_s=$(jq -n --argjson a "$open_s" --argjson b "$(jq .open_s "$report")" '[$a, $b] | max')
        if [[ $(jq .failed "$report") != 0 || $(jq .dropped "$report") != 0 ]]; then
            jq -c '{failures, drops}' "$report" >&2
        fi
    done
}

# report NAME BASE_KIB PEAK_KIB: prints one case's result.
report() {
    awk -v name="$1" -v base="$2" -v peak="$3" -v n="$opened" -v asked="$connections" \
        -v sessions="$sessions" -v clients="$client_kib" -v failed="$failed" \
        -v dropped="$dropped" -v pings="$pings" -v open_s="$open_s" 'BEGIN {
        per = n ? (peak - base) * 1024 / n : 0
        projected = per * asked / 1048576
        printf "%s: %d connections open (server sessions %d) in %.1f s, %d failed, %d dropped, %d pings answered\n",
            name, n, sessions, open_s, failed, dropped, pings
        printf "  server RSS %.1f MiB before, %.1f MiB holding: +%.1f MiB, %.0f bytes (%.1f KiB) a connection\n",
            base / 1024, peak / 1024, (peak - base) / 1024, per, per / 1024
        printf "  %d connections: %.0f MiB (target <= 400 MiB: %s); the clients held %.0f MiB\n",
            asked, projected, projected <= 400 ? "met" : "MISSED", clients / 1024
    }'
}

echo "idle connections: $measured over $processes client process(es) from $sources" \
    "source address(es), hold $hold; open files $files, ephemeral ports" \
    "$port_low-$port_high; $(nproc) cores" >&2

# Anonymous: a fresh server, connections that never log in.
start_server "$work/data"
base=$(rss_kib "$server_pid")
run_clients anonymous --hold "$hold"
anon_line=$(report anonymous "$base" "$peak_kib")

# Register the players (one per connection), then restart on that data so the baseline
# includes them.
run_clients register --hold 0s --login --save-tokens "$work/tokens-PROCESS"
stop_server
start_server "$work/data"
base=$(rss_kib "$server_pid")
run_clients logged-in --hold "$hold" --tokens "$work/tokens-PROCESS"
login_line=$(report logged-in "$base" "$peak_kib")
stop_server

echo "$anon_line"
echo "$login_line"
