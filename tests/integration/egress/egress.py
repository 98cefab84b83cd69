#!/usr/bin/python3
"""egress.py - the egress plane with real clients and no shim: curl and Python (requests)
through HTTPS_PROXY to akproxy, against the mock at the real host names (tests/integration/
t_egress.sh), and hostile input to the proxy (t_egress_hostile.sh).

  egress.py clients    exact events (tokens, cost, plane, agent, pid), byte-exact replies,
                       a budget refusal that never reaches the mock, non-LLM hosts relayed
                       with their real certificate, WebSocket upgrades refused, who may be
                       which agent, HUP reload, TERM
  egress.py hostile    bad CONNECT lines, no SNI, an upstream certificate that fails
                       verification, an upstream that refuses or stalls, a client that stops
                       reading, fd exhaustion: one connection fails clearly, the daemon lives
"""
import hashlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pkit  # noqa: E402
from pkit import R, LOG  # noqa: E402

CERT_DIR = os.path.join(pkit.akcheck.AK_ROOT, "tests", ".cache", "ca")
TEST_CA = os.path.join(CERT_DIR, "ca.pem")
REFUSAL_MAX_S = 3
ANTHROPIC_MODEL = "claude-sonnet-4-5-20250929"


def requests_script(url, body, headers):
    return ("import requests,sys,json\n"
            "r=requests.post(%r,data=%r,headers=%r,timeout=20)\n"
            "sys.stdout.write(r.text)\nsys.stderr.write('status: %%d\\n'%%r.status_code)\n"
            % (url, body, headers))


def one_event(px, n_before):
    evs = px.events()
    return evs[n_before:], evs


def check_curl_chat(px):
    tag = "TAG=egcurl1"
    body = pkit.chat_body("Say hello %s" % tag, max_tokens=7)
    mark, n0 = LOG.mark(), len(px.events())
    pid, rc, out, err, _ = pkit.run(pkit.curl_argv("https://api.openai.com/v1/chat/completions", body,
                                                   ["authorization: Bearer " + pkit.KEY]),
                                    px.client_env("egbot"))
    recs = [r for r in LOG.since(mark) if r.get("kind") == "request"]
    new, _ = one_event(px, n0)
    R.check(rc == 0 and b"HTTP/1.1 200" in out, "curl through HTTPS_PROXY: api.openai.com answers 200",
            err.decode(errors="replace") + out[:300].decode(errors="replace"))
    ok = len(recs) == 1 and len(new) == 1
    diag = json.dumps(new)[:600] if ok else "records %d events %s" % (len(recs), json.dumps(new)[:400])
    R.check(ok and not pkit.event_matches(new[0], recs[0], "openai", "egbot", pid),
            "curl: one event, exact tokens and cost, plane egress, agent egbot, curl's pid",
            ok and pkit.event_matches(new[0], recs[0], "openai", "egbot", pid) or diag)
    R.check(ok and new[0].get("exe") == "/usr/bin/curl" and new[0].get("host") == "api.openai.com",
            "curl: the event names curl's exe and the host", diag)


def check_python_anthropic(px):
    tag = "TAG=egpy1"
    body = json.dumps({"model": ANTHROPIC_MODEL, "max_tokens": 9,
                       "messages": [{"role": "user", "content": "Write a haiku %s" % tag}]})
    hdr = {"x-api-key": pkit.KEY, "anthropic-version": "2023-06-01",
           "content-type": "application/json"}
    mark, n0 = LOG.mark(), len(px.events())
    pid, rc, out, err, _ = pkit.run(["python3", "-c", requests_script(
        "https://api.anthropic.com/v1/messages", body, hdr)], px.client_env("pybot"))
    recs = [r for r in LOG.since(mark) if r.get("kind") == "request"]
    new, _ = one_event(px, n0)
    ok = rc == 0 and len(recs) == 1 and len(new) == 1
    R.check(ok and not pkit.event_matches(new[0], recs[0], "anthropic", "pybot", pid),
            "Python requests through HTTPS_PROXY (no shim): one exact anthropic event, plane egress, its pid",
            (ok and pkit.event_matches(new[0], recs[0], "anthropic", "pybot", pid)) or
            err.decode(errors="replace")[-400:] + json.dumps(new)[:300])


def check_stream_byte_exact(px):
    """An OpenAI stream without include_usage: the engine adds it upstream and strips the
    extra chunk, so the client sees what it would see directly."""
    body = pkit.chat_body("Stream me TAG=egstream", max_tokens=6, stream=True)
    hdr = ["authorization: Bearer " + pkit.KEY]
    argv = pkit.curl_argv("https://api.openai.com/v1/chat/completions", body, hdr, ["-N"])
    direct_env = pkit.akcheck.base_env()
    direct_env["CURL_CA_BUNDLE"] = pkit.SYSTEM_BUNDLE
    n0 = len(px.events())
    _, rc1, via, _, _ = pkit.run(argv, px.client_env("egbot"))
    _, rc2, direct, _, _ = pkit.run(argv, direct_env)
    new, _ = one_event(px, n0)
    R.check(rc1 == 0 and rc2 == 0 and pkit.body_of(via) == pkit.body_of(direct) and b"data:" in via,
            "a stream through akproxy is byte-identical to the direct one",
            "via %d bytes, direct %d bytes" % (len(via), len(direct)))
    R.check(len(new) == 1 and new[0].get("stream") is True and new[0].get("output_tokens") == 6
            and new[0].get("cost_source") == "usage",
            "the stream's event has the provider's usage (include_usage added upstream)", json.dumps(new)[:500])


def check_refusal(px):
    """agent 'tight' has a budget no call fits: 429 in OpenAI's shape, nothing reaches the mock."""
    tag = "TAG=egrefuse"
    body = pkit.chat_body("Refuse me %s" % tag, max_tokens=50)
    mark, n0 = LOG.mark(), len(px.events())
    pid, rc, out, err, secs = pkit.run(pkit.curl_argv(
        "https://api.openai.com/v1/chat/completions", body, ["authorization: Bearer " + pkit.KEY]),
        px.client_env("tight"))
    recs = [r for r in LOG.since(mark) if tag in json.dumps(r)]
    new, _ = one_event(px, n0)
    try:
        shape = json.loads(pkit.body_of(out))
    except ValueError:
        shape = None
    err_obj = (shape or {}).get("error") or {}
    R.check(b"HTTP/1.1 429" in out and err_obj.get("code") == "budget_exceeded"
            and err_obj.get("type") == "insufficient_quota" and b"x-should-retry: false" in out,
            "a refused call: 429 with OpenAI's error shape and x-should-retry: false", out[:400].decode(errors="replace"))
    R.check(not recs, "the refused request never reached the mock", json.dumps(recs)[:300])
    R.check(secs < REFUSAL_MAX_S, "curl ends at once (%.2f s)" % secs)
    R.check(len(new) == 1 and new[0].get("decision") == "blocked_budget" and new[0].get("plane") == "egress"
            and new[0].get("agent") == "tight" and new[0].get("pid") == pid
            and "tight" in (new[0].get("reason") or ""),
            "the refusal's event: blocked_budget, plane egress, agent and pid", json.dumps(new)[:500])


def cert_sha256_of_server(host, via=None):
    """SHA-256 of the leaf certificate a client sees for host (through a proxy or not)."""
    argv = ["openssl", "s_client", "-connect", "%s:443" % host, "-servername", host,
            "-CAfile", pkit.SYSTEM_BUNDLE]
    if via:
        argv += ["-proxy", via]
    p = subprocess.run(argv, input=b"", capture_output=True, timeout=20)
    pem = p.stdout.split(b"-----BEGIN CERTIFICATE-----")
    if len(pem) < 2:
        return None
    der = ssl.PEM_cert_to_DER_cert("-----BEGIN CERTIFICATE-----" +
                                   pem[1].split(b"-----END CERTIFICATE-----")[0].decode() +
                                   "-----END CERTIFICATE-----\n")
    return hashlib.sha256(der).hexdigest()


def check_non_llm(px):
    mark, n0 = LOG.mark(), len(px.events())
    argv = ["curl", "-sS", "--max-time", "10", "https://example.test/"]
    _, rc1, via, _, _ = pkit.run(argv, px.client_env("egbot", {"CURL_CA_BUNDLE": pkit.SYSTEM_BUNDLE}))
    direct_env = pkit.akcheck.base_env()
    direct_env["CURL_CA_BUNDLE"] = pkit.SYSTEM_BUNDLE
    _, rc2, direct, _, _ = pkit.run(argv, direct_env)
    R.check(rc1 == 0 and rc2 == 0 and via == direct and b"mock page" in via,
            "a non-LLM host through akproxy: the same bytes as directly", "%r / %r" % (via[:80], direct[:80]))
    want = cert_sha256_of_server("example.test")
    got = cert_sha256_of_server("example.test", via=px.addr)
    R.check(want and got == want, "a non-LLM host keeps its real certificate (never ours)",
            "direct %s via %s" % (want, got))
    llm = cert_sha256_of_server("api.openai.com", via=px.addr)
    R.check(llm and llm != cert_sha256_of_server("api.openai.com"),
            "an LLM host is terminated with a leaf from the host CA")
    R.check(len(px.events()) == n0, "relayed connections record no event")


def check_websocket(px):
    mark, n0 = LOG.mark(), len(px.events())
    argv = pkit.curl_argv("https://api.openai.com/v1/responses", None,
                          ["authorization: Bearer " + pkit.KEY, "Connection: Upgrade",
                           "Upgrade: websocket", "Sec-WebSocket-Version: 13",
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                           "OpenAI-Beta: responses_websockets=2026-02-06"])
    _, rc, out, _, _ = pkit.run(argv, px.client_env("wsbot"))
    recs = [r for r in LOG.since(mark) if r.get("kind") == "request"]
    new, _ = one_event(px, n0)
    R.check(b"HTTP/1.1 426" in out and not recs,
            "a WebSocket upgrade to an LLM host is answered 426 and never reaches the provider",
            out[:300].decode(errors="replace"))
    R.check(len(new) == 1 and new[0].get("decision") == "unmetered" and "WebSocket" in (new[0].get("reason") or "")
            and new[0].get("plane") == "egress", "the refused upgrade is recorded unmetered, saying why",
            json.dumps(new)[:400])


def check_identity(px):
    body = pkit.chat_body("who am I TAG=egwho", max_tokens=3)
    argv = pkit.curl_argv("https://api.openai.com/v1/chat/completions", body, ["authorization: Bearer " + pkit.KEY])
    n0 = len(px.events())
    _, rc, out, err, _ = pkit.run(argv, px.client_env("rootonly"), user="nobody")
    R.check(rc != 0 and b"407" in err + out and len(px.events()) == n0,
            "user nobody cannot spend as agent 'rootonly' (users: [root]): 407, no event",
            (err + out)[:300].decode(errors="replace"))
    pid, rc, out, err, _ = pkit.run(argv, px.client_env("openbot"), user="nobody")
    new, _ = one_event(px, n0)
    R.check(rc == 0 and len(new) == 1 and new[0].get("agent") == "openbot" and new[0].get("pid") == pid,
            "user nobody may spend as an agent without users: (event with its agent and pid)",
            (err[-200:] + out[:200]).decode(errors="replace") + json.dumps(new)[:300])
    n1 = len(px.events())
    pid, rc, out, err, _ = pkit.run(argv, px.client_env("", {"HTTPS_PROXY": "http://" + px.addr,
                                                             "https_proxy": "http://" + px.addr}))
    new, _ = one_event(px, n1)
    R.check(rc == 0 and len(new) == 1 and new[0].get("agent") == "curl",
            "no agent in the proxy URL: the identity rules name it from the process ({exe})",
            json.dumps(new)[:300])


def check_reload_and_term(px):
    px.write_config(CLIENT_YAML.replace("limit: 1000", "limit: 0.000001"))
    px.p.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    body = pkit.chat_body("after reload TAG=egreload", max_tokens=5)
    _, rc, out, _, _ = pkit.run(pkit.curl_argv("https://api.openai.com/v1/chat/completions", body,
                                               ["authorization: Bearer " + pkit.KEY]), px.client_env("egbot"))
    R.check(b"HTTP/1.1 429" in out, "HUP reloads the config: egbot's new budget refuses its next call",
            out[:200].decode(errors="replace"))
    t0 = time.time()
    rc = px.stop()
    R.check(rc == 0 and time.time() - t0 < 3, "TERM stops akproxy (exit %s)" % rc)


CLIENT_YAML = """defaults:
  budget: { type: total, limit: 1000 }
agents:
  tight:
    budget: { type: total, limit: 0.000001 }
  rootonly:
    users: [root]
  egbot:
    budget: { type: total, limit: 1000 }
"""


def clients():
    px = pkit.Proxy(CLIENT_YAML)
    if not R.check(px.addr is not None, "akproxy starts and listens", px.log_text()[-500:]):
        return
    ca = os.path.join(px.ca_dir, "ca.key")
    R.check(os.stat(ca).st_mode & 0o777 == 0o600, "the host CA key is created with mode 0600")
    names = subprocess.run(["openssl", "x509", "-noout", "-ext", "nameConstraints", "-in",
                            os.path.join(px.ca_dir, "ca.pem")], capture_output=True, text=True).stdout
    R.check("Permitted" in names and "DNS:api.openai.com" in names and "DNS:example.test" not in names,
            "the host CA is name-constrained to the LLM hosts", names[:300])
    for fn in (check_curl_chat, check_python_anthropic, check_stream_byte_exact, check_refusal,
               check_non_llm, check_websocket, check_identity):
        fn(px)
        R.check(px.alive(), "akproxy still runs after %s" % fn.__name__)
    check_reload_and_term(px)


# ------------------------------------------------------------------------------- hostile

def served_after(px, what):
    """The daemon survived: it still answers an ordinary metered call."""
    body = pkit.chat_body("still there TAG=egalive", max_tokens=2)
    _, rc, out, err, _ = pkit.run(pkit.curl_argv("https://api.openai.com/v1/chat/completions", body,
                                                 ["authorization: Bearer " + pkit.KEY]), px.client_env("egbot"))
    R.check(px.alive() and rc == 0 and b"HTTP/1.1 200" in out, "after %s, akproxy serves the next call" % what,
            (err + out[:200]).decode(errors="replace") + px.log_text()[-300:])


def check_bad_connect(px):
    out = pkit.raw_exchange(px, b"CONNECT nonsense\r\n\r\n")
    R.check(out.startswith(b"HTTP/1.1 400") and b"CONNECT host:port" in out,
            "a bad CONNECT line gets 400 and says what it must look like", out[:200].decode(errors="replace"))
    out = pkit.raw_exchange(px, b"GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\n\r\n")
    R.check(out.startswith(b"HTTP/1.1 405") and b"HTTPS_PROXY" in out, "a plain proxy GET gets 405", out[:200].decode(errors="replace"))
    out = pkit.raw_exchange(px, b"CONNECT a:1 HTTP/1.1\r\nX: " + b"y" * 9000 + b"\r\n\r\n")
    R.check(out.startswith(b"HTTP/1.1 431"), "an over-long CONNECT head gets 431", out[:100].decode(errors="replace"))
    s, status, _ = pkit.connect_raw(px, "api.openai.com:443", "egbot")
    s.sendall(b"\x00garbage that is not TLS\r\n\r\n")
    s.settimeout(5)
    try:
        got = s.recv(100)
    except OSError:
        got = b""
    s.close()
    R.check(got == b"", "bytes that are not TLS to an LLM host: the tunnel is closed (unmetered_tls: block)")
    served_after(px, "bad CONNECT input")


def check_no_sni(px):
    n0 = len(px.events())
    try:
        t = pkit.tls_through(px, "api.openai.com", "egbot", px.bundle, server_hostname=False)
        t.close()
        handshake = True
    except (OSError, ssl.SSLError):
        handshake = False
    new = px.events()[n0:]
    R.check(not handshake, "a ClientHello without SNI to an LLM host is refused, not relayed")
    R.check(len(new) == 1 and new[0].get("decision") == "unmetered" and "without SNI" in (new[0].get("reason") or ""),
            "it is recorded as unmetered, saying why", json.dumps(new)[:300])
    served_after(px, "a ClientHello without SNI")


def check_bad_upstream_cert(yaml):
    """akproxy trusts only a store without the mock's CA: the provider's certificate fails."""
    empty = os.path.join(pkit.akcheck.AK_TMP, "empty-bundle.pem")
    with open(empty, "w") as f:
        f.write("")
    px = pkit.Proxy(yaml, env_extra={"SSL_CERT_FILE": empty, "SSL_CERT_DIR": "/nonexistent"})
    mark = LOG.mark()
    body = pkit.chat_body("verify me TAG=egverify", max_tokens=2)
    _, rc, out, err, secs = pkit.run(pkit.curl_argv("https://api.openai.com/v1/chat/completions", body,
                                                    ["authorization: Bearer " + pkit.KEY]), px.client_env("egbot"))
    recs = [r for r in LOG.since(mark) if "egverify" in json.dumps(r)]
    R.check(b"HTTP/1.1 502" in out and b"failed verification" in out and not recs,
            "an upstream certificate that fails verification: 502 naming it, the request never sent",
            out[:400].decode(errors="replace"))
    R.check(px.alive(), "akproxy survives a failed upstream verification")
    px.stop()


def stall_server(port, stop):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    srv.settimeout(0.2)
    held = []
    while not stop.is_set():
        try:
            c, _ = srv.accept()
            held.append(c)
        except socket.timeout:
            pass
    for c in held:
        c.close()
    srv.close()


def check_upstream_down_and_stall(px):
    body = pkit.chat_body("nobody home TAG=egdown", max_tokens=2)
    _, rc, out, _, _ = pkit.run(pkit.curl_argv("https://llm.internal:9441/v1/chat/completions", body,
                                               ["authorization: Bearer " + pkit.KEY]), px.client_env("egbot"))
    R.check(b"HTTP/1.1 502" in out and b"refused" in out.lower(),
            "an upstream that refuses the connection: 502 naming it", out[:300].decode(errors="replace"))
    stop = threading.Event()
    th = threading.Thread(target=stall_server, args=(9442, stop), daemon=True)
    th.start()
    time.sleep(0.2)
    slow = subprocess.Popen(pkit.curl_argv("https://llm.internal:9442/v1/chat/completions", body,
                                           ["authorization: Bearer " + pkit.KEY], ["--max-time", "4"]),
                            env=px.client_env("egbot"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.5)
    t0 = time.time()
    served_after(px, "an upstream that stalls (while it stalls)")
    R.check(time.time() - t0 < 3, "a stalled upstream does not hold up other tunnels")
    slow.communicate(timeout=15)
    stop.set()
    th.join()


def check_slow_reader(px):
    """A client that stops reading a 9.5 MiB reply: akproxy's memory stays bounded, and the
    reply arrives whole once it reads again."""
    t = pkit.tls_through(px, "api.openai.com", "egbot", px.bundle, timeout=30)
    body = pkit.chat_body("big BIGBODY CLEN TAG=egslow", max_tokens=3).encode()
    t.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer "
              + pkit.KEY.encode() + b"\r\nContent-Type: application/json\r\nConnection: close\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body)
    rss0 = px.rss_kib()
    time.sleep(2.0)
    rss1 = px.rss_kib()
    got = 0
    while True:
        chunk = t.recv(1 << 20)
        if not chunk:
            break
        got += len(chunk)
    t.close()
    R.check(rss1 - rss0 < 6 * 1024,
            "a client that stops reading a 9.5 MiB reply costs akproxy %d KiB, not the reply" % (rss1 - rss0))
    R.check(got > 9 * 1024 * 1024, "the whole reply arrives once it reads again (%d bytes)" % got)
    served_after(px, "a client that stopped reading")


def check_fd_exhaustion(yaml):
    px = pkit.Proxy(yaml, prlimit_nofile=48)
    socks, refused = [], 0
    for _ in range(80):
        try:
            s = socket.create_connection((px.host, px.port), timeout=2)
            socks.append(s)
        except OSError:
            refused += 1
    answers = 0
    for s in socks:
        s.settimeout(0.05)
        try:
            if s.recv(100).startswith(b"HTTP/1.1 503"):
                answers += 1
        except OSError:
            pass
    R.check(answers > 0, "out of file descriptors: new connections get 503 (%d of %d)" % (answers, len(socks)),
            px.log_text()[-300:])
    for s in socks:
        s.close()
    time.sleep(0.5)
    R.check("out of file descriptors" in px.log_text(), "the exhaustion is logged once, with a hint")
    served_after(px, "fd exhaustion")
    px.stop()


HOSTILE_YAML = """defaults:
  budget: { type: total, limit: 1000 }
hosts:
  - { host: llm.internal, port: 9441, provider: openai }
  - { host: llm.internal, port: 9442, provider: openai }
"""


def hostile():
    px = pkit.Proxy(HOSTILE_YAML, egress_extra="  unmetered_tls: block\n")
    if not R.check(px.addr is not None, "akproxy starts", px.log_text()[-300:]):
        return
    check_bad_connect(px)
    check_no_sni(px)
    check_upstream_down_and_stall(px)
    check_slow_reader(px)
    px.stop()
    check_bad_upstream_cert(HOSTILE_YAML)
    check_fd_exhaustion(HOSTILE_YAML)


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "clients"
    if not os.path.exists(pkit.AKPROXY):
        R.check(False, "%s is built" % pkit.AKPROXY)
        return 1
    if what == "clients":
        clients()
    else:
        hostile()
    return 1 if R.failed else 0


if __name__ == "__main__":
    sys.exit(main())
