#!/usr/bin/python3
"""egress_conns.py - holds many keep-alive tunnels open through akproxy and prints its memory
per tunnel (bench/egress.sh): N TLS connections to an LLM host (terminated by akproxy: a TLS
session on each side) or to a non-LLM host (relayed bytes), each idle after its handshake.

usage: egress_conns.py PROXY_PORT TARGET_PORT SNI|- N AKPROXY_PID MODE ROUND [HOLD_CMD...]
  SNI "-": no SNI (relayed). With HOLD_CMD, it runs while the tunnels are open (llmcli), its
  output passed through. Prints: RESULT bench=egress_conns mode=MODE round=R conns=N kib_per_conn=K
"""
import socket
import ssl
import subprocess
import sys
import time


def rss_kib(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def tunnel(pport, tport, sni, ctx):
    s = socket.create_connection(("127.0.0.1", pport))
    s.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic YmVuY2g6\r\n\r\n" % tport)
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(1)
        if not b:
            raise OSError("proxy closed")
        head += b
    if not head.startswith(b"HTTP/1.1 200"):
        raise OSError(head[:40])
    return ctx.wrap_socket(s, server_hostname=None if sni == "-" else sni)


def main():
    pport, tport, sni, n, pid, mode, rnd = sys.argv[1:8]
    pport, tport, n, pid = int(pport), int(tport), int(n), int(pid)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    base = rss_kib(pid)
    conns = [tunnel(pport, tport, sni, ctx) for _ in range(n)]
    time.sleep(0.5)
    per = (rss_kib(pid) - base) / n
    print("RESULT bench=egress_conns mode=%s round=%s conns=%d kib_per_conn=%.1f" % (mode, rnd, n, per))
    sys.stdout.flush()
    if len(sys.argv) > 8:
        p = subprocess.run(sys.argv[8:], capture_output=True, text=True)
        sys.stdout.write(p.stdout)
    for c in conns:
        c.close()


if __name__ == "__main__":
    main()
