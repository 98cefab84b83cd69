# t_h2.sh - HTTP/2 offers. The mock here prefers h2 as the real front ends do; the shim must
# take h2 out of the ALPN offer to LLM hosts (it parses HTTP/1.1) and leave other hosts alone.
export MOCK_ALPN=h2,http/1.1
ak_check_py h2
ak_finish
