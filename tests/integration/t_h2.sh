# t_h2.sh - HTTP/2 offers under `http2: downgrade`. The mock here prefers h2 as the real front
# ends do; the shim must take h2 out of the ALPN offer to LLM hosts and leave other hosts alone.
# (`http2: native`, opt-in, is t_h2_native.sh.)
export MOCK_ALPN=h2,http/1.1
ak_check_py h2
ak_finish
