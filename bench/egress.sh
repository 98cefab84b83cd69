#!/bin/sh
# bench/egress.sh - what the egress plane (akproxy) costs, against baselines measured in the
# same run (rounds alternate so machine noise hits all alike):
#   call    the latency a metered keep-alive chat call gains through akproxy (TLS terminated,
#           metered, TLS again to the provider), against a direct call and against an nginx
#           TLS reverse-proxy hop on the same workload; akproxy's CPU per call
#   relay   non-LLM bytes relayed through akproxy (CONNECT, never decrypted): curl download
#           throughput against the same download direct
#   conns   akproxy's memory per idle terminated tunnel and per relayed tunnel with BENCH_CONNS
#           of them open at once, the call latency while they are, and memory per stream with
#           BENCH_STREAMS streams in flight
# Prints one table (medians over rounds). Needs the bench programs of bench/run.sh (built
# here), nginx and curl. Knobs: BENCH_ROUNDS (default 3), BENCH_CALLS (2000),
# BENCH_CONNS (2000), BENCH_STREAMS (50), BENCH_BULK_MIB (256).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/build
BB=$B/bench
PY=/usr/bin/python3
ROUNDS=${BENCH_ROUNDS:-3}
CALLS=${BENCH_CALLS:-2000}
CONNS=${BENCH_CONNS:-2000}
STREAMS=${BENCH_STREAMS:-50}
BULK_MIB=${BENCH_BULK_MIB:-256}
TMP=$(mktemp -d /tmp/ak-bench-egress.XXXXXX)
RES=$TMP/results.txt
PIDS=""
CLK=$(getconf CLK_TCK)

say() { echo "bench-egress: $*" >&2; }
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_file() { i=0; until [ -s "$1" ]; do i=$((i+1)); [ $i -le 200 ] || { say "$1 never appeared"; exit 1; }; sleep 0.05; done; }
wait_port() { i=0; until "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $1))" 2>/dev/null; do i=$((i+1)); [ $i -le 200 ] || exit 1; sleep 0.05; done; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

build() {
    mkdir -p "$BB"
    cflags="-std=gnu11 -O2 -g -Wall -Wextra -D_GNU_SOURCE -I$ROOT"
    for p in llmsrv llmcli; do
        cc $cflags -o "$BB/$p" "$ROOT/bench/$p.c" "$ROOT/bench/benchlib.c" -lssl -lcrypto -lpthread
    done
}

setup() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=agentkavach-bench -addext "subjectAltName=DNS:llm.bench,IP:127.0.0.1" \
        -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
    mkdir -p "$TMP/state" "$TMP/www" "$TMP/nginx"
    chmod 755 "$TMP" "$TMP/www"            # nginx's worker (nobody) serves the bulk file
    cat > "$TMP/agentkavach.yaml" <<EOF2
version: 1
state_dir: $TMP/state
hosts:
  - { host: llm.bench, provider: openai }
defaults:
  budget: { type: daily, limit: 1000000000 }
egress:
  ca_dir: $TMP/ca
EOF2
    head -c $((BULK_MIB * 1024 * 1024)) /dev/urandom > "$TMP/www/bulk"
    "$BB/llmsrv" -c "$TMP/cert.pem" -k "$TMP/key.pem" -f "$TMP/mock.port" -n 2000 &
    PIDS="$PIDS $!"
    wait_file "$TMP/mock.port"
    MOCK=$(cat "$TMP/mock.port")
    NGINX=$(free_port)
    BULK=$(free_port)
    cat > "$TMP/nginx.conf" <<EOF2
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    upstream mock { server 127.0.0.1:$MOCK; keepalive 16; keepalive_requests 10000000; }
    server {
        listen 127.0.0.1:$NGINX ssl;
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
    server {
        listen 127.0.0.1:$BULK ssl;
        ssl_certificate $TMP/cert.pem;
        ssl_certificate_key $TMP/key.pem;
        root $TMP/www;
    }
}
EOF2
    nginx -p "$TMP/nginx" -c "$TMP/nginx.conf" -e "$TMP/nginx/error.log" &
    NGINX_PID=$!
    PIDS="$PIDS $NGINX_PID"
    wait_port "$NGINX"
    # akproxy trusts the bench's certificate as its "system store"
    (ulimit -n "$(ulimit -Hn)"; exec env SSL_CERT_FILE="$TMP/cert.pem" AGENTKAVACH_CONFIG="$TMP/agentkavach.yaml" \
        AGENTKAVACH_LOG=error "$B/akproxy" --listen 127.0.0.1:0 --ready-file "$TMP/px.ready") &
    PX_PID=$!
    PIDS="$PIDS $PX_PID"
    wait_file "$TMP/px.ready"
    PX=$(cat "$TMP/px.ready" | sed 's/.*://')
}

bench_call() {
    say "call: $CALLS keep-alive calls direct / through nginx / through akproxy"
    for r in $(seq "$ROUNDS"); do
        "$BB/llmcli" -p "$MOCK" -S llm.bench -n "$CALLS" -m direct -r "$r" >> "$RES"
        "$BB/llmcli" -p "$NGINX" -S llm.bench -n "$CALLS" -m nginx -r "$r" >> "$RES"
        t0=$(ticks "$PX_PID")
        "$BB/llmcli" -p "$MOCK" -x "$PX" -S llm.bench -n "$CALLS" -m egress -r "$r" >> "$RES"
        t1=$(ticks "$PX_PID")
        echo "RESULT bench=proxycpu mode=egress round=$r us_per_call=$(echo "($t1 - $t0) * 1000000 / $CLK / ($CALLS + 50)" | bc -l)" >> "$RES"
    done
}

bench_relay() {
    say "relay: ${BULK_MIB} MiB over TLS, direct / relayed by akproxy"
    for r in $(seq "$ROUNDS"); do
        d=$(curl -sfk -o /dev/null -w '%{speed_download}' "https://127.0.0.1:$BULK/bulk")
        v=$(curl -sfk -o /dev/null -w '%{speed_download}' --proxy "http://bench:@127.0.0.1:$PX" "https://127.0.0.1:$BULK/bulk")
        echo "RESULT bench=relay mode=direct round=$r mib_s=$(echo "$d / 1048576" | bc -l)" >> "$RES"
        echo "RESULT bench=relay mode=egress round=$r mib_s=$(echo "$v / 1048576" | bc -l)" >> "$RES"
    done
}

bench_conns() {
    say "conns: $CONNS idle tunnels (terminated, then relayed), a call under load, $STREAMS streams"
    for r in $(seq "$ROUNDS"); do
        "$PY" "$ROOT/bench/egress_conns.py" "$PX" "$MOCK" llm.bench "$CONNS" "$PX_PID" llm "$r" \
            "$BB/llmcli" -p "$MOCK" -x "$PX" -S llm.bench -n "$CALLS" -m egress_loaded -r "$r" >> "$RES"
        "$PY" "$ROOT/bench/egress_conns.py" "$PX" "$BULK" - "$CONNS" "$PX_PID" relay "$r" >> "$RES"
        base=$(awk '/VmRSS/ {print $2}' "/proc/$PX_PID/status")
        sp=""
        for i in $(seq "$STREAMS"); do
            "$BB/llmcli" -p "$MOCK" -x "$PX" -S llm.bench -n 2 -w 0 -s -m stream > /dev/null &
            sp="$sp $!"
        done
        sleep 1
        now=$(awk '/VmRSS/ {print $2}' "/proc/$PX_PID/status")
        for p in $sp; do wait "$p" || true; done
        echo "RESULT bench=egress_conns mode=stream round=$r conns=$STREAMS kib_per_conn=$(echo "($now - $base) / $STREAMS" | bc -l)" >> "$RES"
    done
}

report() {
    "$PY" - "$RES" <<'EOF2'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    if not line.startswith("RESULT "):
        continue
    kv = dict(x.split("=", 1) for x in line.split()[1:])
    rows.setdefault((kv["bench"], kv["mode"]), []).append(kv)
def med(b, m, k):
    v = [float(r[k]) for r in rows.get((b, m), [])]
    return statistics.median(v) if v else float("nan")
d, n, e = (med("call", m, "p50_us") for m in ("direct", "nginx", "egress"))
el = med("call", "egress_loaded", "p50_us")
print("| egress plane (bench/egress.sh) | value | baseline | ratio |")
print("| --- | --- | --- | --- |")
print("| keep-alive metered call, p50 | %.1f us through akproxy | %.1f us direct | %.2fx |" % (e, d, e / d))
print("| added latency per call: akproxy vs an nginx TLS hop | +%.1f us | +%.1f us (nginx) | %.2fx |" % (e - d, n - d, (e - d) / (n - d)))
print("| akproxy CPU per metered call | %.1f us | | |" % med("proxycpu", "egress", "us_per_call"))
rd, re_ = med("relay", "direct", "mib_s"), med("relay", "egress", "mib_s")
print("| non-LLM relay throughput (TLS download, curl) | %.0f MiB/s relayed | %.0f MiB/s direct | %.2fx |" % (re_, rd, re_ / rd))
c = rows.get(("egress_conns", "llm"), [{}])[0].get("conns", "?")
print("| memory per idle terminated tunnel (%s open) | %.1f KiB | | |" % (c, med("egress_conns", "llm", "kib_per_conn")))
print("| memory per idle relayed tunnel (%s open) | %.1f KiB | | |" % (c, med("egress_conns", "relay", "kib_per_conn")))
s = rows.get(("egress_conns", "stream"), [{}])[0].get("conns", "?")
print("| memory per streaming tunnel (%s streams) | %.1f KiB | | |" % (s, med("egress_conns", "stream", "kib_per_conn")))
print("| call p50 with %s idle tunnels open | %.1f us | %.1f us (none open) | %.2fx |" % (c, el, e, el / e))
EOF2
}

build
setup
bench_call
bench_relay
bench_conns
report
