#!/usr/bin/python3
"""h2_client.py - one HTTP/2 connection with many streams in flight (hyper-h2 over the system
OpenSSL, so the preloaded shim sees it), for tests/integration/h2check.py.

Usage: h2_client.py SPEC.json  ->  JSON on stdout: one entry per call, in order, with the
status, the response headers and the body (latin-1 text, byte-exact).
SPEC: {"host": H, "alpn": true (offer h2) | false (prior knowledge), "rounds": N,
       "calls": [{"path": P, "headers": {..}, "body": TEXT}, ...]}
Every round opens all its streams first (HEADERS without END_STREAM), then sends each body in
two DATA frames, interleaved across streams, then reads until every stream has ended. The
encoder's dynamic table (hyper-h2 indexes headers) carries across streams and rounds.
"""
import json
import socket
import ssl
import sys

import h2.config
import h2.connection
import h2.events

PORT = 443
TIMEOUT_S = 30
READ_BYTES = 65536


def round_trip(conn, sock, calls, host):
    ids = []
    for c in calls:
        sid = conn.get_next_available_stream_id()
        hdrs = [(":method", "POST"), (":scheme", "https"), (":authority", host),
                (":path", c["path"])] + sorted(c["headers"].items())
        conn.send_headers(sid, hdrs)
        ids.append(sid)
    sock.sendall(conn.data_to_send())
    for part in (0, 1):
        for sid, c in zip(ids, calls):
            body = c["body"].encode()
            half = len(body) // 2
            piece = body[:half] if part == 0 else body[half:]
            conn.send_data(sid, piece, end_stream=part == 1)
        sock.sendall(conn.data_to_send())
    res = {sid: {"status": None, "headers": [], "body": b"", "ended": False} for sid in ids}
    while not all(r["ended"] for r in res.values()):
        data = sock.recv(READ_BYTES)
        if not data:
            break
        for ev in conn.receive_data(data):
            r = res.get(getattr(ev, "stream_id", None))
            if isinstance(ev, h2.events.ResponseReceived) and r:
                r["headers"] = [[k, v] for k, v in ev.headers]
                r["status"] = dict(ev.headers).get(":status")
            elif isinstance(ev, h2.events.DataReceived) and r:
                r["body"] += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)) and r:
                r["ended"] = True
                r["reset"] = isinstance(ev, h2.events.StreamReset)
        out = conn.data_to_send()
        if out:
            sock.sendall(out)
    return [dict(res[sid], body=res[sid]["body"].decode("latin-1")) for sid in ids]


def main(argv):
    with open(argv[1]) as f:
        spec = json.load(f)
    ctx = ssl.create_default_context()
    if spec.get("alpn", True):
        ctx.set_alpn_protocols(["h2"])
    raw = socket.create_connection((spec["host"], PORT), timeout=TIMEOUT_S)
    sock = ctx.wrap_socket(raw, server_hostname=spec["host"])
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                              header_encoding="utf-8"))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    out = []
    for _ in range(spec.get("rounds", 1)):
        out += round_trip(conn, sock, spec["calls"], spec["host"])
    alpn = sock.selected_alpn_protocol()
    conn.close_connection()
    sock.sendall(conn.data_to_send())
    sock.close()
    json.dump({"alpn": alpn, "calls": out}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
