#!/usr/bin/python3
"""rawclient.py - an HTTP/1.1 client over CPython's ssl (the system libssl the shim hooks) that
writes exactly the bytes a case asks for, in the writes it asks for: what SDKs rarely do but
the wire allows (pipelining, a GET and a POST in one write, odd bodies). It prints, per case,
the statuses of the responses it read ("statuses: 200 200") on stdout.
Usage: rawclient.py CASE KEY   (cases: see WRITES)"""
import json
import socket
import ssl
import sys

HOST = "api.openai.com"
TIMEOUT_S = 15


def post(path, body, key, extra=""):
    return ("POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\n%sContent-Length: %d\r\n\r\n"
            % (path, HOST, key, extra, len(body))).encode() + body


def chat(tag, stream=True):
    return json.dumps({"model": "gpt-4o-mini", "stream": stream, "max_tokens": 12,
                       "messages": [{"role": "user", "content": "Say hi. TAG=%s" % tag}]}).encode()


def writes(case, key):
    """[bytes, ...] written one after the other; and how many responses to read."""
    if case == "lone-surrogate":        # what json.dumps writes for a lone surrogate
        body = json.dumps({"model": "gpt-4o-mini", "max_tokens": 12, "messages": [
            {"role": "user", "content": "Say hi \ud800. TAG=sur1"}]}).encode()
        return [post("/v1/chat/completions", body, key)], 1
    if case == "unknown-encoding":
        return [post("/v1/chat/completions", chat("enc1", False), key,
                     "Content-Encoding: x-snappy\r\n")], 1
    if case == "long-target":
        return [post("/v1/chat/completions?pad=" + "p" * 1500, chat("lng1", False), key)], 1
    if case == "pipelined-rewrite":     # a rewritten stream request and another behind it
        return [post("/v1/chat/completions", chat("pip1"), key) +
                post("/v1/chat/completions", chat("pip2", False), key)], 2
    if case == "get-then-post":         # a GET and the start of a POST, then the POST's end
        p = post("/v1/chat/completions", chat("gp1", False), key)
        get = ("GET /v1/models HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n"
               % (HOST, key)).encode()
        return [get + p[:40], p[40:]], 2
    raise SystemExit("unknown case %s" % case)


def read_response(f):
    line = f.readline()
    if not line:
        return None
    status = int(line.split()[1])
    length, chunked = None, False
    while True:
        h = f.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        if k.strip().lower() == "content-length":
            length = int(v)
        if k.strip().lower() == "transfer-encoding" and "chunked" in v.lower():
            chunked = True
    if chunked:
        while True:
            n = int(f.readline().split(b";")[0], 16)
            f.read(n + 2)
            if n == 0:
                break
    elif length is not None:
        f.read(length)
    return status


def main():
    case, key = sys.argv[1], sys.argv[2]
    ws, n = writes(case, key)
    ctx = ssl.create_default_context()
    ctx.set_alpn_protocols(["http/1.1"])
    s = ctx.wrap_socket(socket.create_connection((HOST, 443), timeout=TIMEOUT_S),
                        server_hostname=HOST)
    for w in ws:
        s.sendall(w)
    f = s.makefile("rb")
    statuses = []
    try:
        for _ in range(n):
            st = read_response(f)
            if st is None:
                break
            statuses.append(str(st))
    except (socket.timeout, OSError) as e:
        statuses.append("error:%s" % type(e).__name__)
    print("statuses: " + " ".join(statuses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
