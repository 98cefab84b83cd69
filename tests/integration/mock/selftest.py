#!/usr/bin/python3
"""selftest.py - checks the mock provider's transport behaviour with raw TLS sockets.

The metering tests trust the mock to frame, compress and break its replies as asked; this
file verifies that, byte by byte, so that a passing metering test means something. It talks
HTTP/1.1 by hand (no client library in between) to the mock inside the sandbox ($MOCK_LOG).
Prints one "ok - ..." / "not ok - ..." line per check.
"""
import json
import os
import socket
import ssl
import sys
import zlib

CA = os.path.join(os.environ.get("AK_CACHE", "tests/.cache"), "ca", "ca.pem")
LOG = os.environ.get("MOCK_LOG", "")
HOST = "api.openai.com"
TIMEOUT_S = 10
BIG_HEADERS_MIN = 100 * 1024
BIG_BODY_MIN = 9 * 1024 * 1024
FAILED = []


def check(cond, desc):
    print(("ok - " if cond else "not ok - ") + "mock: " + desc)
    if not cond:
        FAILED.append(desc)


def connect(host=HOST, port=443, alpn=("http/1.1",)):
    ctx = ssl.create_default_context(cafile=CA)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
    return ctx.wrap_socket(raw, server_hostname=host)


def chat_request(prompt, stream=False, extra="", chunked_body=False):
    body = json.dumps({"model": "gpt-4o-mini", "stream": stream, "max_tokens": 8,
                       "messages": [{"role": "user", "content": prompt}]}).encode()
    head = "POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n" \
        "Authorization: Bearer akfake-selftest\r\n%s" % (HOST, extra)
    if chunked_body:
        half = len(body) // 2
        wire = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (half, body[:half], len(body) - half,
                                                       body[half:])
        return (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + wire
    return (head + "Content-Length: %d\r\n\r\n" % len(body)).encode() + body


def read_reply(sock):
    """(status, headers dict, body bytes, complete) for one HTTP/1.1 reply."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None, {}, b"", False
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    status = int(lines[0].split()[1])

    def more():
        try:
            return sock.recv(65536)
        except (ssl.SSLError, OSError):
            return b""

    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(rest) < n:
            c = more()
            if not c:
                return status, headers, rest, False
            rest += c
        return status, headers, rest[:n], True
    body = b""
    while True:
        while b"\r\n" not in rest:
            c = more()
            if not c:
                return status, headers, body, False
            rest += c
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        while len(rest) < size + 2:
            c = more()
            if not c:
                return status, headers, body + rest, False
            rest += c
        if size == 0:
            return status, headers, body, True
        body, rest = body + rest[:size], rest[size + 2:]


def last_log():
    with open(LOG) as f:
        return json.loads(f.read().splitlines()[-1])


def one(prompt, **kw):
    s = connect()
    s.sendall(chat_request(prompt, **kw))
    r = read_reply(s)
    s.close()
    return r


def main():
    st, h, body, done = one("hi CLEN")
    check(st == 200 and "content-length" in h and done and json.loads(body)["usage"],
          "CLEN gives a Content-Length reply")
    st, h, body, done = one("hi", stream=True)
    check(h.get("transfer-encoding") == "chunked" and done and body.endswith(b"data: [DONE]\n\n"),
          "a stream is chunked by default and ends with [DONE]")
    st, h, body, done = one("hi GZIP", stream=True, extra="Accept-Encoding: gzip\r\n")
    plain = zlib.decompress(body, 31) if h.get("content-encoding") == "gzip" else b""
    check(plain.endswith(b"data: [DONE]\n\n"), "GZIP with Accept-Encoding gives a gzip stream")
    _, h, _, _ = one("hi GZIP")
    check("content-encoding" not in h, "GZIP without Accept-Encoding stays identity")
    st, h, body, done = one("hi TRUNCATE CLEN")
    check(st == 200 and not done and 0 < len(body) < int(h["content-length"]),
          "TRUNCATE cuts a Content-Length body short")
    st, h, body, done = one("hi TRUNCATE", stream=True)
    check(st == 200 and not done and b"[DONE]" not in body, "TRUNCATE cuts a stream short")
    st, h, body, done = one("hi BADJSON")
    bad = False
    try:
        json.loads(body)
    except ValueError:
        bad = True
    check(st == 200 and done and bad, "BADJSON sends broken JSON with 200")
    st, h, body, done = one("hi BIGHEADERS")
    size = sum(len(k) + len(v) for k, v in h.items())
    check(st == 200 and done and size >= BIG_HEADERS_MIN, "BIGHEADERS sends 100 KiB of headers")
    st, h, body, done = one("hi BIGBODY")
    check(st == 200 and done and len(body) > BIG_BODY_MIN, "BIGBODY sends more than 9 MiB")
    st, h, body, done = one("hi ERROR500")
    check(st == 500 and done and "error" in json.loads(body), "ERROR500 answers 500 + error JSON")
    a = one("same TAG=aaaa", stream=True)[2]
    b = one("same TAG=bbbb", stream=True)[2]
    check(a == b and a, "replies do not depend on the TAG (byte-stable)")
    st, _, _, done = one("chunked request body TAG=chunkreq", chunked_body=True)
    check(st == 200 and done and last_log().get("tag") == "chunkreq",
          "a chunked request body is read and its TAG logged")
    s = connect()
    ids = []
    for i in range(3):
        s.sendall(chat_request("keep %d TAG=ka%d" % (i, i)))
        read_reply(s)
        ids.append(last_log()["conn_id"])
    s.close()
    check(len(set(ids)) == 1, "keep-alive: three requests on one connection share a conn_id")
    s = connect(alpn=("h2",))
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    s.recv(100)
    s.close()
    rec = last_log()
    check(rec.get("kind") == "h2_preface" and rec.get("alpn_offered") == ["h2"],
          "an h2-only offer is logged with its ALPN list and the h2 preface")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
