# t_metering_php.sh - every provider x operation x stream through php php-multi, without and with the
# shim: identical bytes, one request at the mock, one correct event per call (akcheck.py).
ak_check_py matrix php php-multi
ak_finish
