# t_fleet.sh - fleet budgets: three simulated hosts (own state dir, config and akcollector
# each, four agent processes each) share one fleet budget through a real redis-server without
# persistence. Top-ups without false refusals, AK_FLEET_ROUNDS rounds of the hard limit
# (default 4; round 2 SIGKILLs and restarts Redis and a collector mid-round), a dead host's
# lease reclaimed after the TTL, hold and open with Redis gone. The checks are in
# tests/integration/fleet/fleet.py.
in_sandbox "$AK_PY" "$AK_IT/fleet/fleet.py" "${AK_FLEET_ROUNDS:-4}" \
    || AK_FAILED=$((AK_FAILED + 1))
ak_finish
