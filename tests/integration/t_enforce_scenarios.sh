# t_enforce_scenarios.sh - the refusal's HTTP head, suspend/resume across processes (and
# --now cutting a stream), every guardrail, monitor and off modes, daily period turnover and
# reset, on_kill through akcollector --once, Expect: 100-continue with a 2 MB body.
# The checks are in tests/integration/enforce/scenarios.py.
in_sandbox "$AK_PY" "$AK_IT/enforce/scenarios.py" policy headers suspend guardrails modes period \
    onkill expect || AK_FAILED=$((AK_FAILED + 1))
ak_finish
