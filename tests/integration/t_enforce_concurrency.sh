# t_enforce_concurrency.sh - 8 processes x 25 calls on one shared budget, repeated 50 times (the
# issue's number): spend never exceeds the limit, event costs equal the mock's total, no
# reservation is left over. A round takes about 2.5 s on 2 cores (the Python mock serves 200
# TLS connections); AK_ENFORCE_ROUNDS=N runs fewer or more. The checks are in
# tests/integration/enforce/concurrency.py. On a loaded machine a round takes up to ~15 s:
# timeout: 1200
in_sandbox "$AK_PY" "$AK_IT/enforce/concurrency.py" "${AK_ENFORCE_ROUNDS:-50}" \
    || AK_FAILED=$((AK_FAILED + 1))
ak_finish
