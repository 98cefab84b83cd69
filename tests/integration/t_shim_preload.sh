# t_shim_preload.sh - the host-wide install: the shim listed in /etc/ld.so.preload (bind-mounted
# inside the sandbox, so the real file is never touched) meters a program started without any
# environment, and does nothing in secure-execution mode (a setuid program run by another user).
in_sandbox sh "$AK_IT/shim/preload_checks.sh" || AK_FAILED=$((AK_FAILED + 1))
ak_finish
