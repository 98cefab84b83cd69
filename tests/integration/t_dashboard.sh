# t_dashboard.sh - the dashboard akcollector serves (collector/dashboard*.c, web/): the API's
# authentication, refusals and actions with curl-like requests, /api/status equal to akctl's,
# the SSE stream, and the page in headless chromium (figures, paging, live events, Stop).
# The checks are in tests/integration/dashboard/dash.py.
in_sandbox "$AK_PY" "$AK_IT/dashboard/dash.py" api browser || AK_FAILED=$((AK_FAILED + 1))
ak_finish
