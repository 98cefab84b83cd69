# t_metering_ruby.sh - every provider x operation x stream through ruby, without and with the
# shim: identical bytes, one request at the mock, one correct event per call (akcheck.py).
ak_check_py matrix ruby
ak_finish
