# t_h2_native.sh - HTTP/2 parsed natively (http2: native): curl --http2 and
# --http2-prior-knowledge, and one connection with many streams, some refused (h2check.py).
export MOCK_ALPN=h2,http/1.1 MOCK_H2=prior
in_sandbox "$AK_PY" "$AK_IT/h2check.py" all || AK_FAILED=$((AK_FAILED + 1))
ak_finish
