# t_transport.sh - gzip replies, Content-Length streams, slow streams, a non-LLM TLS host
# (no event), and a config `hosts` entry (llm.internal:8443 metered as openai).
ak_check_py transport
ak_finish
