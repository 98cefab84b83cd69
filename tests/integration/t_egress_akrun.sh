# t_egress_akrun.sh - akrun covers every program: the shim's calls counted once, a static Go
# client on the egress plane, a private akproxy for the run. See egress/agents.py (akrun).
in_sandbox "$AK_PY" "$AK_IT/egress/agents.py" akrun || AK_FAILED=$((AK_FAILED + 1))
ak_finish
