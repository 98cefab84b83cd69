# t_enforce_refuse_a.sh - budget refusals through curl and the Python clients, every provider,
# stream and not, on a kept-alive connection (call 2 of 3) and a fresh one, within 2 s, never
# reaching the mock; then TLS 1.2 (mock capped with MOCK_TLS_MAX) for curl and aiohttp.
# The checks are in tests/integration/enforce/refuse.py.
in_sandbox "$AK_PY" "$AK_IT/enforce/refuse.py" curl urllib requests httpx httpx-async aiohttp \
    || AK_FAILED=$((AK_FAILED + 1))
echo "# TLS 1.2 (MOCK_TLS_MAX=1.2)"
MOCK_TLS_MAX=1.2 in_sandbox "$AK_PY" "$AK_IT/enforce/refuse.py" --tls12 --no-recover curl aiohttp \
    || AK_FAILED=$((AK_FAILED + 1))
ak_finish
