#!/usr/bin/env bash
# The Redis peer benchmark: Canopy against Redis 7 running the same rules as Lua scripts
# behind the peer's WebSocket gateway (the same clients, protocol and watches as
# Canopy's), with equal durability (appendfsync always) and appendfsync everysec; bare
# Redis (the load generator speaking RESP to it) for information.
#
#   bench/peer-redis/run.sh
#
# Settings (environment): ROUNDS (2), CLIENTS (the closed-loop steps, "8 16 32 64 128"),
# WARMUP (2 s), DURATION (8 s measured per step), PLAYERS (10000), DEGREE (20),
# BALLS (20 per player), CANOPY_TICK_HZ (Canopy's tick rates to run, "20": its default;
# every rate is a setup of its own, `canopy-<hz>hz`), ONLINE (players online and acting,
# default all: every online player holds a WebSocket, or on bare Redis its events are
# read), WATCH_FRIENDS (10) and WATCH_FOREST (10): percent of the online players whose
# session watches its friends list / one friend's forest, BARE (1: also run bare Redis),
# GATEWAY_THREADS (2: the gateway's runtime threads; 1 for a single-thread runtime),
# WORK (a scratch dir; default a new one under /tmp). Each step starts from a fresh copy
# of the same generated world; within a round the setups alternate at every step.
# The summary is printed and written to $WORK/summary.md and summary.json.
set -euo pipefail
# The whole script is one compound command, read before it runs: editing this file
# during a run cannot change what the run does.
{
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
ROUNDS=${ROUNDS:-2}
CLIENTS=${CLIENTS:-"8 16 32 64 128"}
WARMUP=${WARMUP:-2}
DURATION=${DURATION:-8}
PLAYERS=${PLAYERS:-10000}
DEGREE=${DEGREE:-20}
BALLS=${BALLS:-20}
CANOPY_TICK_HZ=${CANOPY_TICK_HZ:-"20"}
ONLINE=${ONLINE:-$PLAYERS}
WATCH_FRIENDS=${WATCH_FRIENDS:-10}
WATCH_FOREST=${WATCH_FOREST:-10}
BARE=${BARE:-1}
GATEWAY_THREADS=${GATEWAY_THREADS:-2}
WORK=${WORK:-$(mktemp -d /tmp/peer-redis.XXXXXX)}
# Ports of our own, loopback only, so a developer's server on the defaults is untouched.
GAME=127.0.0.1:17878
OPS=127.0.0.1:17879
REDIS_PORT=16390
GATEWAY=127.0.0.1:17880

# Private copies: the shared target dir may be rebuilt by others while this runs.
server=$WORK/canopy-server
bench=$WORK/peer-redis
results=$WORK/results.jsonl
mkdir -p "$WORK"
: >"$results"

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

# --- what the benchmark needs --------------------------------------------------------
if ! command -v redis-server >/dev/null; then
    log "installing redis-server from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
log "$(redis-server --version)"
log "building canopy-server and the load generator (release)"
(cd "$root" && cargo build --release -q -p canopy-server)
(cd "$here" && cargo build --release -q)
cp "$root/target/release/canopy-server" "$server"
cp "$here/target/release/peer-redis" "$bench"
log "canopy at $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- server shared || echo ' plus uncommitted server changes'); load average $(cut -d' ' -f1-3 /proc/loadavg)"

# --- servers: started and stopped by pid, only ours ----------------------------------
canopy_pid=""
redis_pid=""
gateway_pid=""
stop_canopy() {
    if [[ -n $canopy_pid ]]; then
        kill "$canopy_pid" 2>/dev/null || true
        wait "$canopy_pid" 2>/dev/null || true
        canopy_pid=""
    fi
}
stop_redis() {
    if [[ -n $redis_pid ]]; then
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
        redis_pid=""
    fi
}
stop_gateway() {
    if [[ -n $gateway_pid ]]; then
        kill "$gateway_pid" 2>/dev/null || true
        wait "$gateway_pid" 2>/dev/null || true
        gateway_pid=""
    fi
}
trap 'stop_canopy; stop_gateway; stop_redis' EXIT

wait_for() { # a command that succeeds once the server is up
    for _ in $(seq 300); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    log "the server did not come up: $*"
    return 1
}

start_canopy() { # $1: tick rate; a fresh copy of the generated world
    rm -rf "$WORK/canopy-data"
    cp -a "$WORK/template" "$WORK/canopy-data"
    CANOPY_SERVER__RATE_LIMIT_PER_SECOND=1000000 CANOPY_SERVER__RATE_LIMIT_BURST=1000000 \
        CANOPY_SERVER__TICK_RATE_HZ=$1 CANOPY_LOG=warn \
        "$server" --data-dir "$WORK/canopy-data" --clock manual --listen "$GAME" \
        --ops-listen "$OPS" 2>>"$WORK/canopy.log" &
    canopy_pid=$!
    wait_for curl -sf "http://$OPS/healthz"
}

start_redis() { # $1: always | everysec; an empty store seeded with the world
    rm -rf "$WORK/redis-data"
    mkdir -p "$WORK/redis-data"
    # Seeded without fsync (the seed is not what is measured), then the policy under test.
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK/redis-data" \
        --save '' --appendonly yes --appendfsync no --logfile "$WORK/redis.log" &
    redis_pid=$!
    wait_for redis-cli -p "$REDIS_PORT" ping
    "$bench" seed --redis "redis://127.0.0.1:$REDIS_PORT/" --world "$WORK/world.json"
    redis-cli -p "$REDIS_PORT" config set appendfsync "$1" >/dev/null
}

start_gateway() { # in front of the Redis started last
    "$bench" gateway --listen "$GATEWAY" --redis "redis://127.0.0.1:$REDIS_PORT/" \
        --threads "$GATEWAY_THREADS" 2>>"$WORK/gateway.log" &
    gateway_pid=$!
    wait_for bash -c "exec 3<>/dev/tcp/${GATEWAY%:*}/${GATEWAY#*:}"
}

run_step() { # $1 target, $2 label, $3 pids (comma-separated), $4 round, $5 clients, $6 url
    "$bench" run --target "$1" --label "$2" --server-pid "$3" --round "$4" --clients "$5" \
        --warmup "$WARMUP" --duration "$DURATION" --seed "$4$5" --world "$WORK/world.json" \
        --online "$ONLINE" --watch-friends "$WATCH_FRIENDS" --watch-forest "$WATCH_FOREST" \
        --url "$6" --ops "http://$OPS" --redis "redis://127.0.0.1:$REDIS_PORT/" \
        --out "$results"
}

# --- the world -----------------------------------------------------------------------
log "generating $PLAYERS players x $DEGREE friends, $BALLS ripe balls each (seed 7)"
rm -rf "$WORK/template"
"$server" --data-dir "$WORK/template" generate --players "$PLAYERS" --degree "$DEGREE" \
    --balls-per-player "$BALLS" --seed 7 --ripen now \
    --time "$(($(date +%s) * 1000))" >"$WORK/generate.json"
log "$(cat "$WORK/generate.json")"
start_canopy 20
"$bench" export --url "ws://$GAME/ws" --ops "http://$OPS" --players "$PLAYERS" \
    --out "$WORK/world.json"
stop_canopy

# --- the runs ------------------------------------------------------------------------
for round in $(seq "$ROUNDS"); do
    for clients in $CLIENTS; do
        for hz in $CANOPY_TICK_HZ; do
            start_canopy "$hz"
            run_step canopy "canopy-${hz}hz" "$canopy_pid" "$round" "$clients" "ws://$GAME/ws"
            stop_canopy
        done
        for fsync in always everysec; do
            start_redis "$fsync"
            start_gateway
            run_step gateway "redis-$fsync-gateway" "$gateway_pid,$redis_pid" "$round" \
                "$clients" "ws://$GATEWAY/ws"
            stop_gateway
            stop_redis
        done
        if [[ $BARE == 1 ]]; then
            for fsync in always everysec; do
                start_redis "$fsync"
                run_step redis "redis-$fsync" "$redis_pid" "$round" "$clients" "ws://$GAME/ws"
                stop_redis
            done
        fi
    done
done

"$bench" summarize "$results" --json "$WORK/summary.json" | tee "$WORK/summary.md"
log "load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
log "results in $WORK (results.jsonl: every step in full)"
exit
}
