# t_egress.sh - the egress plane (akproxy) with real clients and no shim: curl and Python
# through HTTPS_PROXY; exact events, refusals, byte-exact relays, identity, reload, TERM.
# See tests/integration/egress/egress.py.
in_sandbox "$AK_PY" "$AK_IT/egress/egress.py" clients || AK_FAILED=$((AK_FAILED + 1))
ak_finish
