#!/usr/bin/python3
"""pyclient.py - the bench's Python agent: N chat completions with urllib.request, as a
Python program that uses no SDK would make them (urllib opens one connection per call).

usage: pyclient.py HOST PORT CAFILE N [stream]
HOST is resolved to 127.0.0.1 here (the bench's host names are not in /etc/hosts), so the
TLS SNI and the Host header are the real name the shim classifies.
"""
import socket
import ssl
import sys
import urllib.request

CHAT = (b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello."}],'
        b'"max_tokens":16}')
STREAM = (b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Count."}],'
          b'"max_tokens":16000,"stream":true,"stream_options":{"include_usage":true}}')


def main():
    host, port, cafile, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    stream = len(sys.argv) > 5 and sys.argv[5] == "stream"
    real_gai = socket.getaddrinfo

    def gai(h, *a, **k):
        return real_gai("127.0.0.1" if h == host else h, *a, **k)

    socket.getaddrinfo = gai
    ctx = ssl.create_default_context(cafile=cafile)
    url = "https://%s:%d/v1/chat/completions" % (host, port)
    hdrs = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench-dummy-key"}
    got = 0
    for _ in range(n):
        req = urllib.request.Request(url, data=STREAM if stream else CHAT, headers=hdrs)
        with urllib.request.urlopen(req, context=ctx) as r:
            got += len(r.read())
    if got == 0:
        sys.exit("pyclient: empty replies")


main()
