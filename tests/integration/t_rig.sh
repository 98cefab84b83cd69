# t_rig.sh - the namespace rig itself: host names, trust, isolation, the mock's transports.
# (Runs without the shim; every other test relies on what this one checks.)
# It re-runs itself inside one sandbox, so that every check below sees the same namespace.
if [ "${AK_SANDBOX:-0}" != 1 ]; then
    in_sandbox bash -c '. "$1/lib.sh" && . "$2"' t_rig "$AK_IT" "$AK_IT/t_rig.sh"
    return $?
fi

ak_check "sandbox: the provider host names resolve to the mock" \
    sh -c 'for h in api.openai.com api.anthropic.com generativelanguage.googleapis.com \
             api.mistral.ai llm.internal example.test; do
               getent hosts "$h" | grep -q "^127\.0\.0\.1 " || exit 1; done'
ak_check "sandbox: only loopback, no route off the machine" \
    sh -c '[ -z "$(ip route show)" ] && [ "$(ip -o link show | wc -l)" -eq 1 ]'
ak_check "sandbox: the system CA bundle trusts the test CA" \
    sh -c 'openssl verify -CAfile /etc/ssl/certs/ca-certificates.crt \
               "$AK_CACHE/ca/server.pem" >/dev/null'
ak_check "sandbox: curl verifies the mock on api.openai.com:443 and llm.internal:8443" \
    sh -c 'curl -sS -o /dev/null https://api.openai.com/ &&
           curl -sS -o /dev/null https://llm.internal:8443/'
ak_check "mock: GET / on example.test is logged with its SNI and ALPN offer" \
    sh -c 'curl -sS -o /dev/null https://example.test/ &&
           tail -1 "$MOCK_LOG" | grep -q "\"sni\": \"example.test\"" &&
           tail -1 "$MOCK_LOG" | grep -q "\"alpn_offered\": \[\"h2\", \"http/1.1\"\]"'
"$AK_PY" "$AK_IT/mock/selftest.py" || AK_FAILED=$((AK_FAILED + 1))
ak_finish
