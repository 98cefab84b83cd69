#!/bin/sh
# Runs every cmocka unit-test binary given on the command line, one after the other, and
# closes with one line "unit: N passed, N failed". Exits non-zero when anything failed.
# Every binary (and every process it starts) gets the run's pinned clock,
# AGENTKAVACH_FAKE_NOW_MS="N@M" from tests/akclock.py (AK_TEST_NOW moves its start), so that
# no test depends on the machine's date; a test that needs a fixed instant sets its own.
AGENTKAVACH_FAKE_NOW_MS=$(/usr/bin/python3 "$(dirname "$0")/akclock.py" pin "${AK_TEST_NOW:-}") || {
    echo "run-unit.sh: cannot pin the clock (AK_TEST_NOW=${AK_TEST_NOW:-})" >&2; exit 2; }
export AGENTKAVACH_FAKE_NOW_MS
passed=0
failed=0
broken=""
for t in "$@"; do
    out=$("$t" 2>&1)
    rc=$?
    printf '%s\n' "$out" | grep -E '^\[  (FAILED|ERROR) *\]|FAIL' || true
    # a binary may run several cmocka groups: add up every group's closing lines
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' | awk '{s+=$1} END {print s+0}')
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' | awk '{s+=$1} END {print s+0}')
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if [ $rc -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
        failed=$((failed + 1))
        broken="$broken $t"
        printf '%s\n' "$out" | tail -20
    fi
    echo "$(basename "$t"): ${p:-0} passed, ${f:-0} failed"
done
[ -n "$broken" ] && echo "crashed or exited non-zero:$broken"
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
