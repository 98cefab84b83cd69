# t_egress_agents.sh - the real coding agents (npm registry, cached by setup.sh) headless
# through akrun: Codex and Gemini CLI. See egress/agents.py (agents).
in_sandbox "$AK_PY" "$AK_IT/egress/agents.py" agents || AK_FAILED=$((AK_FAILED + 1))
ak_finish
