# t_metering_curl.sh - every provider x operation x stream through curl, without and with the
# shim: identical bytes, one request at the mock, one correct event per call (akcheck.py).
ak_check_py matrix curl
ak_finish
