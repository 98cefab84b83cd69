# t_egress_hostile.sh - hostile input to akproxy: each case fails one connection clearly and
# the daemon keeps serving. See tests/integration/egress/egress.py (hostile).
in_sandbox "$AK_PY" "$AK_IT/egress/egress.py" hostile || AK_FAILED=$((AK_FAILED + 1))
ak_finish
