#!/bin/sh
# run.sh SECONDS BIN... - runs each libFuzzer target for SECONDS, two at a time (the CI machine
# has 2 cores), from the seed corpus tests/fuzz/corpus/<target> (read only) plus a working corpus
# in build/fuzz/corpus/<target> that grows run to run. Crashes, leaks, timeouts and failed
# property checks are kept in build/fuzz/artifacts/<target>-*. Prints one line per target
# ("fuzz_x: N runs, cov C, ft F, corpus K: ok|FAILED") and exits 1 when any target failed.
# FUZZ_JOBS (default 2) sets how many run at once; FUZZ_NICE (default 0) their niceness.
set -u
secs=${1:?usage: run.sh SECONDS BIN...}
shift
here=$(cd "$(dirname "$0")" && pwd)
jobs=${FUZZ_JOBS:-2}
work=$(dirname "$1")
mkdir -p "$work/artifacts" "$work/logs"

one() {
    bin=$1
    t=$(basename "$bin")
    mkdir -p "$work/corpus/$t"
    log="$work/logs/$t.log"
    nice -n "${FUZZ_NICE:-0}" "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -max_len=16384 -print_final_stats=1 -artifact_prefix="$work/artifacts/$t-" \
        "$work/corpus/$t" "$here/corpus/$t" > "$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    n=$(ls "$work/corpus/$t" | wc -l)
    if [ $rc -eq 0 ]; then verdict=ok; else verdict="FAILED (rc $rc, see $log)"; fi
    echo "$t: ${runs:-0} runs, cov ${cov:-?}, ft ${ft:-?}, corpus $n: $verdict"
    [ $rc -eq 0 ]
}

failed=0
running=0
pids=""
for bin in "$@"; do
    one "$bin" > "$work/logs/$(basename "$bin").line" &
    pids="$pids $!"
    running=$((running + 1))
    if [ $running -ge "$jobs" ]; then
        for p in $pids; do wait "$p" || failed=1; done
        pids=""
        running=0
    fi
done
for p in $pids; do wait "$p" || failed=1; done
for bin in "$@"; do cat "$work/logs/$(basename "$bin").line"; done
if [ $failed -ne 0 ]; then
    echo "fuzz: a target failed; artifacts:"; ls "$work/artifacts"
    for bin in "$@"; do
        t=$(basename "$bin")
        grep -h -A12 -E 'ERROR: |fuzz property failed|runtime error' "$work/logs/$t.log" | head -30
    done
fi
exit $failed
