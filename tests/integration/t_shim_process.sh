# t_shim_process.sh - the shim inside real processes: threads, fork, exec, identity rules,
# customers, prompt privacy, abandoned streams, AGENTKAVACH_DISABLE (shim/proc_checks.py).
in_sandbox "$AK_PY" "$AK_IT/shim/proc_checks.py" || AK_FAILED=$((AK_FAILED + 1))
ak_finish
