#!/usr/bin/python3
"""curl_client.py - replays a request spec (see akclient.py) with the real curl CLI.

It only turns the spec into one curl command line and exec()s it, so the process that talks
TLS is curl itself (libcurl on the system libssl). Several calls become one curl invocation
joined by --next, which reuses the connection (keep-alive). Bodies go to stdout as curl
receives them (-N), and -w writes "status: N" per call to stderr.
Usage: curl_client.py SPEC.json
"""
import json
import os
import sys

CURL = "/usr/bin/curl"
WRITE_OUT = "%{stderr}status: %{http_code}\\n"


def call_args(call, opts, body_path):
    args = ["-sS", "-N", "--max-time", str(opts.get("timeout", 20)), "-X", call["method"]]
    if opts.get("http2_prior"):
        args.append("--http2-prior-knowledge")
    elif opts.get("http2"):
        args.append("--http2")
    if opts.get("gzip"):
        args.append("--compressed")
    for k, v in call["headers"]:
        args += ["-H", "%s: %s" % (k, v)]
    if call["body"]:
        args += ["--data-binary", "@" + body_path]
    return args + ["-w", WRITE_OUT.replace("\\n", "\n"), call["url"]]


def main():
    spec_path = sys.argv[1]
    with open(spec_path) as f:
        spec = json.load(f)
    argv = [CURL]
    for i, call in enumerate(spec["calls"]):
        body_path = "%s.body%d" % (spec_path, i)
        with open(body_path, "w") as f:
            f.write(call["body"])
        if i:
            argv.append("--next")
        argv += call_args(call, spec.get("options", {}), body_path)
    os.execv(CURL, argv)


if __name__ == "__main__":
    main()
