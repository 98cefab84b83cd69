#!/usr/bin/python3
"""agent.py - a small long-lived Python "agent" for the enforcement tests.

Unlike the rig's clients it can do things between two calls of ONE process: change its own
environment (AGENTKAVACH_FAKE_NOW_MS moves the shim's clock: the engine reads it at every
call), and, after its calls, stay alive waiting for a signal (on_kill). It replays a spec file
of akclient.py's format with http.client (CPython's ssl, i.e. the system libssl the shim
hooks), one connection per call, and writes "status: N" per call to stderr and the bodies to
stdout, like the rig's clients.
Spec extras: call["fake_now_ms"] (set before the call), options["linger"] (after the calls,
write "ready" to stderr and wait up to that many seconds for a signal; on SIGTERM write
"got SIGTERM" to options["signal_file"] and exit 143).
Usage: agent.py SPEC.json
"""
import http.client
import json
import os
import signal
import sys
import time
import urllib.parse

SIGTERM_EXIT = 143
FAILED = 3
POLL_S = 0.05


def do_call(call, timeout):
    u = urllib.parse.urlsplit(call["url"])
    conn = http.client.HTTPSConnection(u.hostname, u.port or 443, timeout=timeout)
    try:
        path = u.path + ("?" + u.query if u.query else "")
        conn.request(call["method"], path, body=call["body"].encode() if call["body"] else None,
                     headers=dict(call["headers"]))
        resp = conn.getresponse()
        sys.stdout.buffer.write(resp.read())
        sys.stdout.buffer.flush()
        sys.stderr.write("status: %d\n" % resp.status)
    finally:
        conn.close()


def linger(opts):
    path = opts.get("signal_file", "")

    def on_term(signum, frame):
        if path:
            with open(path, "w") as f:
                f.write("got SIGTERM\n")
        os._exit(SIGTERM_EXIT)
    signal.signal(signal.SIGTERM, on_term)
    sys.stderr.write("ready %d\n" % os.getpid())
    sys.stderr.flush()
    end = time.monotonic() + float(opts["linger"])
    while time.monotonic() < end:
        time.sleep(POLL_S)


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    opts = spec.get("options", {})
    rc = 0
    for call in spec["calls"]:
        if call.get("fake_now_ms"):
            os.environ["AGENTKAVACH_FAKE_NOW_MS"] = str(call["fake_now_ms"])
        try:
            do_call(call, opts.get("timeout", 20))
        except Exception as e:  # noqa: BLE001 - the driver compares whatever happened
            sys.stderr.write("error: %s: %s\n" % (type(e).__name__, e))
            rc = FAILED
        sys.stderr.flush()
    if opts.get("linger"):
        linger(opts)
    return rc


if __name__ == "__main__":
    sys.exit(main())
