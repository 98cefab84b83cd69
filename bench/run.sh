#!/bin/sh
# bench/run.sh - `make bench` (after `make deps all`): measures what agentkavach costs against
# baselines taken in the same run, alternating A/B/A/B so machine noise hits both alike, and
# prints one table of medians and ratios with the machine it ran on.
#
# It owns the bench's whole life: installs the baselines' Debian packages (nginx, redis), builds
# the bench programs into build/bench/, makes a throw-away certificate and config in a temp dir,
# starts the local servers (C mock provider, nginx, redis) on free loopback ports, and stops them
# and removes the temp dir on any exit. Raw result lines are kept in build/bench/results.txt.
#
# Knobs (environment): BENCH_ROUNDS (A/B rounds, default 5), BENCH_QUICK=1 (a smoke run with
# small counts), BENCH_ONLY="load tls call stream ledger instructions" (a subset; instructions
# is bench/instr.sh: callgrind over curl and Python urllib).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/build
BB=$B/bench
PY=/usr/bin/python3
ROUNDS=${BENCH_ROUNDS:-5}
ONLY=${BENCH_ONLY:-load tls call stream ledger instructions}
BENCH_PKGS="nginx redis-server redis-tools openssl valgrind curl"
SHIM=$B/libakshim.so
TMP=$(mktemp -d /tmp/ak-bench.XXXXXX)
RES=$TMP/results.txt
SERVER_PIDS=""
READY_TRIES=100                   # x 0.05 s

# Sizes: the brief's full sizes, or a smoke run.
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    ROUNDS=2; SPAWN_TRUE=100; SPAWN_PY=10; TLS_MIB=64; TLS_SMALL=20000
    CALLS=300; STREAMS=2; CHUNKS=2000; LEDGER_SECONDS=0.3
else
    SPAWN_TRUE=1000; SPAWN_PY=100; TLS_MIB=1024; TLS_SMALL=200000
    CALLS=3000; STREAMS=5; CHUNKS=10000; LEDGER_SECONDS=1
fi

say() { echo "bench: $*" >&2; }

. "$ROOT/bench/instr.sh"

cleanup() {
    for p in $SERVER_PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $SERVER_PIDS; do wait "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

install_pkgs() {
    missing=""
    for p in $BENCH_PKGS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    [ "$(id -u)" = 0 ] || { say "missing packages; run: sudo apt-get install -y$missing"; exit 1; }
    say "installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
    # the packages' own services are not the bench's: keep only our private instances
    systemctl disable --now nginx redis-server >/dev/null 2>&1 || true
}

build_progs() {
    mkdir -p "$BB"
    cflags="-std=gnu11 -O2 -g -Wall -Wextra -D_GNU_SOURCE -I$ROOT $(pkg-config --cflags libcjson)"
    for p in spawn tlspair llmsrv llmcli; do
        cc $cflags -o "$BB/$p" "$ROOT/bench/$p.c" "$ROOT/bench/benchlib.c" -lssl -lcrypto -lpthread
    done
    cc $cflags -o "$BB/ledgerb" "$ROOT/bench/ledgerb.c" "$ROOT/bench/benchlib.c" "$B/libakcore.a" \
        $(pkg-config --libs yaml-0.1 lmdb libcjson zlib libcrypto) -lssl -lpthread -lm
    cc -shared -fPIC -O2 -Wl,-z,noexecstack -o "$BB/libempty.so" "$ROOT/bench/empty.c"
}

# A free loopback port (the kernel's pick; closed again at once).
free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for DESCRIPTION CMD... : poll CMD until it succeeds.
wait_for() {
    _what=$1; shift
    _i=0
    until "$@" >/dev/null 2>&1; do
        _i=$((_i + 1))
        [ "$_i" -le "$READY_TRIES" ] || { say "$_what did not start"; exit 1; }
        sleep 0.05
    done
}

setup_files() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=agentkavach-bench -addext "subjectAltName=DNS:llm.bench,DNS:bulk.bench.test" \
        -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
    # An OpenAI-compatible host named by the config (no port: the stub classifies by name)
    cat > "$TMP/agentkavach.yaml" <<EOF
version: 1
mode: enforce
hosts:
  - { host: llm.bench, provider: openai }
defaults:
  budget: { type: daily, limit: 1000000000 }
EOF
    mkdir -p "$TMP/state"
}

start_mock() {
    "$BB/llmsrv" -c "$TMP/cert.pem" -k "$TMP/key.pem" -f "$TMP/mock.port" -n "$CHUNKS" &
    SERVER_PIDS="$SERVER_PIDS $!"
    wait_for "the mock provider" test -s "$TMP/mock.port"
    MOCK_PORT=$(cat "$TMP/mock.port")
}

start_nginx() {
    NGINX_PORT=$(free_port)
    mkdir -p "$TMP/nginx"
    cat > "$TMP/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    upstream mock {
        server 127.0.0.1:$MOCK_PORT;
        keepalive 16;
        keepalive_requests 10000000;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT ssl;
        ssl_certificate $TMP/cert.pem;
        ssl_certificate_key $TMP/key.pem;
        keepalive_requests 10000000;
        location / {
            proxy_pass https://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_ssl_session_reuse on;
            proxy_ssl_server_name on;
            proxy_ssl_name llm.bench;
        }
    }
}
EOF
    nginx -p "$TMP/nginx" -c "$TMP/nginx.conf" -e "$TMP/nginx/error.log" &
    NGINX_PID=$!
    SERVER_PIDS="$SERVER_PIDS $NGINX_PID"
    wait_for "nginx" "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $NGINX_PORT))"
}

start_redis() {
    REDIS_PORT=$(free_port)
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
        --dir "$TMP" --daemonize no --loglevel warning > "$TMP/redis.log" 2>&1 &
    SERVER_PIDS="$SERVER_PIDS $!"
    wait_for "redis" redis-cli -p "$REDIS_PORT" ping
}

# Clock ticks (utime + stime) of the nginx worker: its CPU per proxied call.
nginx_ticks() {
    w=$(pgrep -P "$NGINX_PID" | head -1)
    awk '{print $14 + $15}' "/proc/$w/stat"
}

shim_env() {
    env AGENTKAVACH_CONFIG="$TMP/agentkavach.yaml" AGENTKAVACH_STATE_DIR="$TMP/state" \
        AGENTKAVACH_AGENT=bench LD_PRELOAD="$SHIM" "$@"
}

bench_load() {
    say "1/6 load cost: /bin/true and python3 -c pass (none / empty .so / shim, alternating)"
    for r in $(seq "$ROUNDS"); do
        for c in true python3; do
            if [ "$c" = true ]; then n=$SPAWN_TRUE; set -- /bin/true; else n=$SPAWN_PY; set -- "$PY" -c pass; fi
            "$BB/spawn" -n "$n" -r "$r" -l "$c" -m none=- -m empty="$BB/libempty.so" \
                -m shim="$SHIM" -- "$@" >> "$RES"
        done
    done
}

bench_tls() {
    say "2/6 non-LLM TLS: ${TLS_MIB} MiB bulk and $TLS_SMALL x 64 B, without / with the shim"
    for r in $(seq "$ROUNDS"); do
        "$BB/tlspair" -c "$TMP/cert.pem" -k "$TMP/key.pem" -m plain -r "$r" -b "$TLS_MIB" \
            -s "$TLS_SMALL" >> "$RES"
        shim_env "$BB/tlspair" -c "$TMP/cert.pem" -k "$TMP/key.pem" -m shim -r "$r" \
            -b "$TLS_MIB" -s "$TLS_SMALL" >> "$RES"
    done
}

bench_call() {
    say "3/6 metered calls: $CALLS keep-alive chat calls direct, with the shim, through nginx"
    for r in $(seq "$ROUNDS"); do
        "$BB/llmcli" -p "$MOCK_PORT" -S llm.bench -n "$CALLS" -m direct -r "$r" >> "$RES"
        shim_env "$BB/llmcli" -p "$MOCK_PORT" -S llm.bench -n "$CALLS" -m shim -r "$r" >> "$RES"
        t0=$(nginx_ticks)
        "$BB/llmcli" -p "$NGINX_PORT" -S llm.bench -n "$CALLS" -m nginx -r "$r" > "$TMP/ng.out"
        t1=$(nginx_ticks)
        hz=$(getconf CLK_TCK)
        echo "$(cat "$TMP/ng.out") nginx_cpu_us=$(echo "$t0 $t1 $hz $CALLS" | \
            awk '{printf "%.1f", ($2 - $1) * 1e6 / $3 / $4}')" >> "$RES"
    done
}

bench_stream() {
    say "4/6 streaming: $STREAMS streams of $CHUNKS SSE chunks, without / with the shim"
    for r in $(seq "$ROUNDS"); do
        "$BB/llmcli" -p "$MOCK_PORT" -S llm.bench -s -n "$STREAMS" -w 1 -m direct -r "$r" >> "$RES"
        shim_env "$BB/llmcli" -p "$MOCK_PORT" -S llm.bench -s -n "$STREAMS" -w 1 -m shim \
            -r "$r" >> "$RES"
    done
}

redis_run() {
    # $1 clients, $2 round: one INCRBYFLOAT per call, as a budget counter would do
    n=$((20000 * $1))
    [ "${BENCH_QUICK:-0}" = 1 ] && n=$((4000 * $1))
    redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c "$1" -n "$n" --csv \
        INCRBYFLOAT bench:spend 0.000150 | awk -F'"' -v c="$1" -v r="$2" '
        NR == 2 { printf "RESULT bench=redis mode=p%s round=%s calls_s=%s p50_us=%.1f\n",
                  c, r, $4, $10 * 1000 }'
}

bench_ledger() {
    say "5/6 budget check + commit: ledger vs Redis INCRBYFLOAT from 1, 2, 8 processes"
    for r in $(seq "$ROUNDS"); do
        for p in 1 2 8; do
            d=$(mktemp -d "$TMP/ledger.XXXXXX")
            "$BB/ledgerb" -d "$d" -P "$p" -t "$LEDGER_SECONDS" -r "$r" >> "$RES"
            rm -rf "$d"
            redis_run "$p" "$r" >> "$RES"
        done
    done
}

# Every shim run above metered its calls: the ledger must have counted them all.
check_metered() {
    want=$(awk '/bench=(call|stream) mode=shim/ { sub(/.*total=/, ""); n += $1 } END { print n + 0 }' "$RES")
    [ "$want" -gt 0 ] || return 0
    calls=$(AGENTKAVACH_CONFIG="$TMP/agentkavach.yaml" AGENTKAVACH_STATE_DIR="$TMP/state" \
        "$B/akctl" status --json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
print(sum(a["calls"] for a in d["agents"] if a["agent"] == "bench"))')
    echo "RESULT bench=metered mode=shim round=0 calls=$calls expected=$want" >> "$RES"
}

# The instructions runs metered every call too (else a broken shim would look cheap).
check_metered_instr() {
    case " $ONLY " in *" instructions "*) ;; *) return 0 ;; esac
    want=$(awk '/bench=instr .*mode=shim/ { sub(/.*n=/, ""); n += $1 } END { print n + 0 }' "$RES")
    calls=$(AGENTKAVACH_CONFIG="$TMP/agentkavach.yaml" AGENTKAVACH_STATE_DIR="$TMP/istate" \
        "$B/akctl" status --json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
print(sum(a["calls"] for a in d["agents"] if a["agent"] == "bench-instr"))')
    echo "RESULT bench=metered mode=instr round=0 calls=$calls expected=$want" >> "$RES"
}

machine() {
    echo "MACHINE nproc=$(nproc)"
    echo "MACHINE cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "MACHINE kernel=$(uname -sr)"
    echo "MACHINE os=$(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "MACHINE openssl=$(openssl version | cut -d' ' -f2)"
    echo "MACHINE nginx=$(nginx -v 2>&1 | sed 's|.*/||')"
    echo "MACHINE redis=$(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')"
    echo "MACHINE rounds=$ROUNDS"
}

main() {
    [ -f "$SHIM" ] && [ -f "$B/libakengine.so" ] && [ -f "$B/libakcore.a" ] || \
        { say "build first: make all"; exit 1; }
    install_pkgs
    build_progs
    setup_files
    : > "$RES"
    machine >> "$RES"
    case " $ONLY " in *" call "*|*" stream "*) start_mock ;; esac
    case " $ONLY " in *" call "*) start_nginx ;; esac
    case " $ONLY " in *" ledger "*) start_redis ;; esac
    for part in $ONLY; do "bench_$part"; done
    check_metered
    check_metered_instr
    cp "$RES" "$BB/results.txt"
    "$PY" "$ROOT/bench/report.py" "$RES"
}

main "$@"
