# t_hostile.sh - a provider that misbehaves: truncated bodies, broken JSON, 100 KiB of headers,
# a 9.5 MiB body, HTTP 500. The client must get exactly the mock's bytes with the shim too,
# nothing may crash or hang, and an event is either true or unmetered with a reason.
ak_check_py hostile
ak_finish
