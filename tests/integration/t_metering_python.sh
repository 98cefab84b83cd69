# t_metering_python.sh - every provider x operation x stream through urllib requests httpx httpx-async aiohttp, without and with the
# shim: identical bytes, one request at the mock, one correct event per call (akcheck.py).
ak_check_py matrix urllib requests httpx httpx-async aiohttp
ak_finish
