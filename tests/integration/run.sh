#!/bin/sh
# run.sh - the integration test runner (make integration).
#
# Prepares the cache (setup.sh), then runs every tests/integration/t_*.sh (or those whose name
# contains one of the PATTERNs) one after another, each in a fresh shell that has sourced
# lib.sh, under a per-test timeout so that nothing can hang the suite. Tests print one line per
# check, "ok - ..." or "not ok - ..."; the runner echoes them, counts them, and ends with the
# line "N passed, N failed". Exit status: 0 when nothing failed, 1 otherwise, 2 on bad setup.
# A test that exits non-zero without a "not ok" line (crash, timeout) counts as one failure.
#
# Usage: run.sh [--rig-only] [PATTERN...]
#   --rig-only   no LD_PRELOAD anywhere: validates the rig itself (also AK_RIG_ONLY=1)
# Environment: AK_BUILD (default build/), AK_TEST_TIMEOUT (s, default 300; a test may raise its
#   own with a line "# timeout: SECONDS"), AK_KEEP_TMP=1,
#   AK_TEST_NOW (the instant the run's clock starts at, ISO 8601 or ms; tests/akclock.py).
# Exports for the tests: AK_ROOT, AK_BUILD, AK_TMP (a fresh directory, removed at the end) and
# the pinned clock AGENTKAVACH_FAKE_NOW_MS="N@M": one timeline for every process of the run,
# starting at AK_TEST_NOW and advancing with CLOCK_MONOTONIC (read past libfaketime, so a run
# under faketime shares it too), so that no test depends on the machine's date.
set -u

AK_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
AK_BUILD=${AK_BUILD:-$AK_ROOT/build}
AK_IT=$AK_ROOT/tests/integration
TEST_TIMEOUT=${AK_TEST_TIMEOUT:-300}
KILL_GRACE=5

if [ "${1:-}" = "--rig-only" ]; then
    AK_RIG_ONLY=1
    shift
fi
AK_RIG_ONLY=${AK_RIG_ONLY:-0}

if [ "$(id -u)" != 0 ]; then
    echo "run.sh: the integration tests need root (network namespaces, apt-get)" >&2
    exit 2
fi
AK_TMP=$(mktemp -d /tmp/ak-integration.XXXXXX) || exit 2
export AK_ROOT AK_BUILD AK_TMP AK_RIG_ONLY
AGENTKAVACH_FAKE_NOW_MS=$(/usr/bin/python3 "$AK_ROOT/tests/akclock.py" pin "${AK_TEST_NOW:-}") || {
    echo "run.sh: cannot pin the clock (AK_TEST_NOW=${AK_TEST_NOW:-})" >&2; exit 2; }
export AGENTKAVACH_FAKE_NOW_MS
trap '[ "${AK_KEEP_TMP:-0}" = 1 ] || rm -rf "$AK_TMP"' EXIT

sh "$AK_IT/setup.sh" || { echo "run.sh: setup failed" >&2; exit 2; }
echo "# clock: AGENTKAVACH_FAKE_NOW_MS=$AGENTKAVACH_FAKE_NOW_MS (starts at ${AK_TEST_NOW:-the default instant}); machine date $(date -u +%FT%TZ)"
if [ "$AK_RIG_ONLY" = 1 ]; then
    echo "# rig only: no shim is loaded"
elif [ ! -f "$AK_BUILD/libakshim.so" ]; then
    echo "# $AK_BUILD/libakshim.so is not built: every shim check will fail (try --rig-only)"
fi

selected() {
    [ $# -eq 1 ] && return 0
    _name=$1; shift
    for _p in "$@"; do
        case $_name in *"$_p"*) return 0 ;; esac
    done
    return 1
}

passed=0
failed=0
for t in "$AK_IT"/t_*.sh; do
    [ -f "$t" ] || continue
    name=$(basename "$t" .sh)
    selected "$name" "$@" || continue
    echo "# $name"
    out=$AK_TMP/$name.out
    started=$(date +%s)
    # a test whose work is long by nature says so with a line "# timeout: SECONDS"
    limit=$(sed -n 's/^# timeout: *\([0-9][0-9]*\)$/\1/p' "$t" | head -n 1)
    [ -n "$limit" ] && [ "$limit" -gt "$TEST_TIMEOUT" ] || limit=$TEST_TIMEOUT
    { timeout -k "$KILL_GRACE" "$limit" \
        bash -c '. "$1/lib.sh" && . "$2"' "$name" "$AK_IT" "$t" 2>&1
      echo "$?" > "$AK_TMP/$name.rc"; } | tee "$out"
    rc=$(cat "$AK_TMP/$name.rc")
    p=$(grep -c '^ok - ' "$out")
    f=$(grep -c '^not ok - ' "$out")
    if [ "$rc" != 0 ] && [ "$f" -eq 0 ]; then
        [ "$rc" = 124 ] && why="timed out after ${limit}s" || why="exited $rc"
        echo "not ok - $name $why"
        f=1
    fi
    if [ $((p + f)) -eq 0 ]; then
        echo "not ok - $name printed no check"
        f=1
    fi
    echo "# $name: $p passed, $f failed, $(( $(date +%s) - started ))s"
    passed=$((passed + p))
    failed=$((failed + f))
done
# the last check: no API key in anything the tests left behind (state, JSONL, logs, outputs)
if [ "$AK_RIG_ONLY" != 1 ]; then
    if /usr/bin/python3 "$AK_IT/secrets_scan.py" "$AK_TMP" | tee "$AK_TMP/secrets.scan"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
