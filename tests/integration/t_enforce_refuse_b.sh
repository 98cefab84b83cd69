# t_enforce_refuse_b.sh - budget refusals through Ruby, PHP (curl_exec and curl_multi) and
# node 18 (https and the openai SDK): every provider each speaks, stream and not, kept-alive
# (call 2 of 3) and fresh connections, within 2 s, never reaching the mock.
# The checks are in tests/integration/enforce/refuse.py.
in_sandbox "$AK_PY" "$AK_IT/enforce/refuse.py" ruby php php-multi node-https node-openai \
    || AK_FAILED=$((AK_FAILED + 1))
ak_finish
