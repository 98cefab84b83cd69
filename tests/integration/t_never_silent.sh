# t_never_silent.sh - requests that used to pass with no event and no log, or lose bytes
# (issue 13): tests/integration/silent/silent.py with the raw client silent/rawclient.py.
in_sandbox "$AK_PY" "$AK_IT/silent/silent.py" || AK_FAILED=$((AK_FAILED + 1))
ak_finish
