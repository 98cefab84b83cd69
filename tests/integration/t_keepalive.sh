# t_keepalive.sh - three calls on one kept-alive connection (curl --next, requests.Session,
# and every other client that reuses connections), mixed stream / non-stream.
ak_check_py keepalive
ak_finish
