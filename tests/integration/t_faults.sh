# t_faults.sh - the fault matrix (issue 13): agentkavach's own parts failing under real
# clients. The checks are in tests/integration/faults/faults.py; ledger_hold.c (built here) is
# the hostile neighbour that holds the ledger's write lock.
AK_FAULT_HOLD=$AK_TMP/ledger_hold
# shellcheck disable=SC2046
if cc -std=gnu11 -Wall -Wextra -D_GNU_SOURCE -I"$AK_ROOT" -o "$AK_FAULT_HOLD" \
    "$AK_IT/faults/ledger_hold.c" $(pkg-config --libs lmdb); then
    ak_ok "ledger_hold.c builds"
else
    ak_not_ok "ledger_hold.c builds"
fi
export AK_FAULT_HOLD
in_sandbox "$AK_PY" "$AK_IT/faults/faults.py" || AK_FAILED=$((AK_FAILED + 1))
ak_finish
