#!/bin/sh
# fleet.sh - the fleet budget benchmark (issue 14), separate from run.sh: it needs a
# redis-server and the built akcollector.
#  1. the shim's side: instructions per reserve + commit (callgrind, deterministic) against a
#     host-scoped shared budget and a fleet-scoped one with its lease granted; the ratio;
#  2. across hosts: 3 simulated hosts x 4 processes, reserve + commit in a loop for SECONDS,
#     fleet-scoped through one Redis vs host-scoped, calls/s per host (same run, alternated);
#     the fleet runs twice: lease.chunk_usd 5 (a top-up every ~33k calls) and 0.05 (every
#     ~330 calls: Redis on the path about 50 times a second per host).
# Usage: sh bench/fleet.sh [SECONDS]   (after make all)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/build
BB=$B/bench
SECONDS_RUN=${1:-3}
CALLS=2000
mkdir -p "$BB"
cc -std=gnu11 -O2 -g -Wall -Wextra -D_GNU_SOURCE -I"$ROOT" $(pkg-config --cflags libcjson) \
    -o "$BB/fleetb" "$ROOT/bench/fleetb.c" "$ROOT/bench/benchlib.c" "$B/libakcore.a" \
    $(pkg-config --libs yaml-0.1 lmdb libcjson zlib libcrypto) -lssl -lpthread -lm
TMP=$(mktemp -d /tmp/ak-fleetb.XXXXXX)
REDIS_PID=
cleanup() { [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

echo "# 1. shim side: instructions per reserve + commit (callgrind), $CALLS calls"
for m in host fleet; do
    mkdir -p "$TMP/cost-$m"
    valgrind --tool=callgrind --callgrind-out-file="$TMP/cg-$m.out" \
        --toggle-collect=ak_ledger_reserve --toggle-collect=ak_ledger_commit \
        "$BB/fleetb" cost -d "$TMP/cost-$m" -m "$m" -n "$CALLS" > "$TMP/cost-$m.txt" 2>/dev/null
    ir=$(sed -n 's/^summary: //p' "$TMP/cg-$m.out")
    echo "$m $((ir / CALLS))" >> "$TMP/ir.txt"
    echo "$m: $((ir / CALLS)) instructions per call"
done
awk '{v[$1]=$2} END {printf "fleet / host = %.3f\n", v["fleet"] / v["host"]}' "$TMP/ir.txt"

echo "# 2. 3 hosts x 4 processes, ${SECONDS_RUN} s each run, one redis-server"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP" > "$TMP/redis.log" 2>&1 &
REDIS_PID=$!
sleep 0.5
for round in 1 2; do
    for m in host:5 fleet:5 fleet:0.05; do
        d="$TMP/hosts-$round-$m"
        mkdir -p "$d"
        echo "# $m"
        "$BB/fleetb" hosts -d "$d" -m "${m%%:*}" -k "${m#*:}" -r "$PORT" -c "$B/akcollector" \
            -t "$SECONDS_RUN"
    done
done
