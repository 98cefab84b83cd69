# bench/instr.sh - the `instructions` part of `make bench` (sourced by bench/run.sh).
#
# What the shim adds, counted in instructions by valgrind's callgrind (user space, one
# process; deterministic here, where wall time is not) for the clients people use: curl
# (`--http1.1 -K`, one keep-alive connection) and Python's urllib (one connection per call).
# Every figure is "with the shim minus without", each pair run back to back:
#   first call  = the whole one-call process: engine dlopen, config, price table, first call;
#   later call  = (N-call process - 1-call process) / (N - 1);
#   SSE event   = (stream of STREAM_BIG events - stream of STREAM_SMALL) / the difference.
# It also times a one-call process with and without the shim (wall clock, alternating runs,
# median and spread over rounds): a short-lived agent pays the first call every time.
# Results are RESULT lines (bench=instr / bench=firstcall); report.py makes the table.
# Needs: $BB, $TMP, $RES, $SHIM, $PY, $ROOT, the cert and config of run.sh's setup_files.
# shellcheck shell=sh

INSTR_CALLS=21                    # calls of the "later call" process (1 + 20 later)
STREAM_BIG=1000
STREAM_SMALL=10
FIRSTCALL_RUNS=20                 # one-call processes per mode per round (wall time)
INSTR_KEY="sk-bench-dummy-key-0123456789"
INSTR_URL_PATH=/v1/chat/completions
INSTR_CHAT='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello."}],"max_tokens":16}'
INSTR_STREAM='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Count."}],"max_tokens":16000,"stream":true,"stream_options":{"include_usage":true}}'

start_mock_n() {   # $1 events per stream; sets INSTR_PORT
    rm -f "$TMP/mock$1.port"
    "$BB/llmsrv" -c "$TMP/cert.pem" -k "$TMP/key.pem" -f "$TMP/mock$1.port" -n "$1" &
    SERVER_PIDS="$SERVER_PIDS $!"
    wait_for "the mock provider ($1 events)" test -s "$TMP/mock$1.port"
    INSTR_PORT=$(cat "$TMP/mock$1.port")
}

# curl_cfg PORT N BODY FILE : a curl -K file of N POSTs chained with `next` (one connection).
curl_cfg() {
    : > "$4"
    _i=0
    while [ "$_i" -lt "$2" ]; do
        [ "$_i" -gt 0 ] && echo "next" >> "$4"
        cat >> "$4" <<EOC
url = "https://llm.bench:$1$INSTR_URL_PATH"
http1.1
silent
show-error
fail
output = "/dev/null"
cacert = "$TMP/cert.pem"
resolve = "llm.bench:$1:127.0.0.1"
header = "Content-Type: application/json"
header = "Authorization: Bearer $INSTR_KEY"
data-binary = "@$3"
EOC
        _i=$((_i + 1))
    done
}

instr_env() {   # $1 = none | shim, then the command
    _m=$1; shift
    if [ "$_m" = shim ]; then
        env AGENTKAVACH_CONFIG="$TMP/agentkavach.yaml" AGENTKAVACH_STATE_DIR="$TMP/istate" \
            AGENTKAVACH_AGENT=bench-instr PYTHONHASHSEED=0 LD_PRELOAD="$SHIM" "$@"
    else
        env PYTHONHASHSEED=0 "$@"
    fi
}

# instr_count MODE CLIENT PORT N KIND : instructions of one client process (callgrind total).
instr_count() {
    _out=$TMP/cg.out
    rm -f "$_out"
    case $2 in
        curl)
            _body=$TMP/chat.json
            [ "$5" = stream ] && _body=$TMP/stream.json
            curl_cfg "$3" "$4" "$_body" "$TMP/curl.cfg"
            set -- "$1" curl -K "$TMP/curl.cfg" ;;
        python)
            set -- "$1" "$PY" "$ROOT/bench/pyclient.py" llm.bench "$3" "$TMP/cert.pem" "$4" "$5" ;;
    esac
    _mode=$1; shift
    instr_env "$_mode" valgrind --tool=callgrind --callgrind-out-file="$_out" \
        --trace-children=no "$@" > /dev/null 2> "$TMP/cg.err" ||
        { say "callgrind run failed: $*"; cat "$TMP/cg.err" >&2; exit 1; }
    awk '/^(summary|totals):/ { print $2; exit }' "$_out"
}

# instr_point CLIENT WHAT PORT N KIND : one RESULT line per mode (none, shim).
instr_point() {
    for _m in none shim; do
        _ir=$(instr_count "$_m" "$1" "$3" "$4" "$5")
        echo "RESULT bench=instr client=$1 what=$2 mode=$_m round=0 n=$4 ir=$_ir" >> "$RES"
    done
}

bench_firstcall() {
    say "first call, wall time: one-call curl and Python processes, without / with the shim"
    _port=$1
    curl_cfg "$_port" 1 "$TMP/chat.json" "$TMP/curl1.cfg"
    for r in $(seq "$ROUNDS"); do
        for c in curl python; do
            if [ "$c" = curl ]; then set -- "$(command -v curl)" -K "$TMP/curl1.cfg"
            else set -- "$PY" "$ROOT/bench/pyclient.py" llm.bench "$_port" "$TMP/cert.pem" 1 chat; fi
            env AGENTKAVACH_CONFIG="$TMP/agentkavach.yaml" AGENTKAVACH_STATE_DIR="$TMP/istate" \
                AGENTKAVACH_AGENT=bench-first "$BB/spawn" -n "$FIRSTCALL_RUNS" -r "$r" -l "$c" \
                -m none=- -m shim="$SHIM" -- "$@" | sed 's/bench=load/bench=firstcall/' >> "$RES"
        done
    done
}

bench_instructions() {
    command -v valgrind > /dev/null || { say "valgrind missing (apt-get install valgrind)"; exit 1; }
    say "6/6 instructions: callgrind over curl and Python urllib (first call, later call, SSE event)"
    printf '%s' "$INSTR_CHAT" > "$TMP/chat.json"
    printf '%s' "$INSTR_STREAM" > "$TMP/stream.json"
    mkdir -p "$TMP/istate"
    start_mock_n "$STREAM_SMALL"; small=$INSTR_PORT
    start_mock_n "$STREAM_BIG"; big=$INSTR_PORT
    for c in curl python; do
        instr_point "$c" call1 "$small" 1 chat
        instr_point "$c" callN "$small" "$INSTR_CALLS" chat
        instr_point "$c" stream_small "$small" 1 stream
        instr_point "$c" stream_big "$big" 1 stream
    done
    bench_firstcall "$small"
}
