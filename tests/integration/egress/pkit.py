#!/usr/bin/python3
"""pkit.py - the kit of the egress-plane tests (tests/integration/t_egress*.sh): an akproxy
started for one scenario (its own config, state dir and host CA, a free port, the clock pinned),
trust bundles holding the host CA, raw CONNECT sockets, the proxy's memory, and the events.
Reuses akcheck.py (report, mock log, prices); must run inside the sandbox (lib.sh in_sandbox).
"""
import base64
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
IT = os.path.dirname(HERE)
sys.path.insert(0, IT)
sys.path.insert(0, os.path.join(IT, "clients"))
import akcheck  # noqa: E402

R = akcheck.R
LOG = akcheck.LOG
AK_BUILD = akcheck.AK_BUILD
AKPROXY = os.path.join(AK_BUILD, "akproxy")
AKRUN = os.path.join(AK_BUILD, "akrun")
AKCTL = akcheck.AKCTL
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
FAKE_NOW_MS = "1764000000000"          # 2025-11-24T16:00:00Z, as the other tests pin it
READY_TIMEOUT_S = 10
RUN_TIMEOUT_S = 60
KEY = "sk-egress-test-key-0123456789"


class Proxy:
    """One akproxy with its own config; .addr is host:port of its CONNECT listener."""

    def __init__(self, yaml_body="", env_extra=None, prlimit_nofile=None, egress_extra=""):
        self.egress_extra = egress_extra
        self.work = tempfile.mkdtemp(prefix="akeg.", dir=akcheck.AK_TMP)
        os.chmod(self.work, 0o755)        # other users' clients read the bundle
        self.state = os.path.join(self.work, "state")
        os.mkdir(self.state)
        os.chmod(self.state, 0o1777)
        self.ca_dir = os.path.join(self.work, "ca")
        self.config = os.path.join(self.work, "agentkavach.yaml")
        self.write_config(yaml_body)
        self.log = os.path.join(self.work, "akproxy.log")
        self.ready = os.path.join(self.work, "ready")
        env = self.env()
        env.update(env_extra or {})
        argv = [AKPROXY, "--config", self.config, "--listen", "127.0.0.1:0",
                "--ready-file", self.ready]
        if prlimit_nofile:
            argv = ["prlimit", "--nofile=%d:%d" % (prlimit_nofile, prlimit_nofile)] + argv
        self.p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                  stderr=open(self.log, "wb"))
        self.addr = None
        end = time.time() + READY_TIMEOUT_S
        while time.time() < end and self.p.poll() is None:
            if os.path.exists(self.ready):
                self.addr = open(self.ready).read().strip()
                break
            time.sleep(0.02)
        self.host, self.port = (self.addr.rsplit(":", 1) + ["0"])[:2] if self.addr else ("", "0")
        self.port = int(self.port)
        # readable by other users' clients (AK_TMP is root's alone)
        self.pub = tempfile.mkdtemp(prefix="akeg-pub.", dir="/tmp")
        os.chmod(self.pub, 0o755)
        self.bundle = os.path.join(self.pub, "bundle.pem")
        if self.addr:
            with open(self.bundle, "wb") as f:
                f.write(open(SYSTEM_BUNDLE, "rb").read())
                f.write(open(os.path.join(self.ca_dir, "ca.pem"), "rb").read())
            os.chmod(self.bundle, 0o644)

    def write_config(self, yaml_body):
        with open(self.config, "w") as f:
            f.write("# egress test config (tests/integration/egress)\n"
                    "version: 1\nstate_dir: %s\nmode: enforce\non_error: open\n"
                    "pricing:\n  file: %s\n  unknown_model: allow\n"
                    "egress:\n  ca_dir: %s\n%s%s" % (self.state, akcheck.PRICES, self.ca_dir,
                                                    self.egress_extra, yaml_body))

    def env(self):
        env = akcheck.base_env()
        env.update(AGENTKAVACH_CONFIG=self.config, AGENTKAVACH_STATE_DIR=self.state,
                   AGENTKAVACH_FAKE_NOW_MS=FAKE_NOW_MS, AGENTKAVACH_LOG=os.environ.get("PXLOG", "info"))
        return env

    def alive(self):
        return self.p.poll() is None

    def url(self, agent):
        return "http://%s:@%s" % (agent, self.addr)   # user, empty password: every client sends it

    def client_env(self, agent, extra=None):
        """A client that goes through this proxy (no shim), trusting the host CA."""
        env = akcheck.base_env()
        env.update(HTTPS_PROXY=self.url(agent), https_proxy=self.url(agent),
                   SSL_CERT_FILE=self.bundle, REQUESTS_CA_BUNDLE=self.bundle,
                   CURL_CA_BUNDLE=self.bundle, AGENTKAVACH_FAKE_NOW_MS=FAKE_NOW_MS)
        env.pop("NO_PROXY", None)
        env.pop("no_proxy", None)
        env.update(extra or {})
        return env

    def events(self):
        evs, err = akcheck.akctl_events(self.state, self.config)
        return evs

    def rss_kib(self):
        try:
            for line in open("/proc/%d/status" % self.p.pid):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return -1

    def log_text(self):
        try:
            return open(self.log, errors="replace").read()
        except OSError:
            return ""

    def stop(self):
        if os.path.exists(self.bundle):
            os.unlink(self.bundle)
        if os.path.isdir(self.pub):
            os.rmdir(self.pub)
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                return self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                return "killed"
        return self.p.returncode


def connect_raw(px, target, agent=None, timeout=5):
    """A socket to px, CONNECT target sent; returns (sock, status line, head)."""
    s = socket.create_connection((px.host, px.port), timeout=timeout)
    head = "CONNECT %s HTTP/1.1\r\nHost: %s\r\n" % (target, target)
    if agent:
        head += "Proxy-Authorization: Basic %s\r\n" % base64.b64encode(
            (agent + ":").encode()).decode()
    s.sendall((head + "\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return s, data.split(b"\r\n", 1)[0].decode(errors="replace"), data


def raw_exchange(px, payload, timeout=5):
    """Sends payload to the proxy as is; returns everything it answers until it closes."""
    s = socket.create_connection((px.host, px.port), timeout=timeout)
    s.sendall(payload)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except OSError:
        pass
    s.close()
    return out


def tls_through(px, host, agent, cafile, server_hostname=None, alpn=None, timeout=10):
    s, status, _ = connect_raw(px, "%s:443" % host, agent, timeout=timeout)
    if not status.startswith("HTTP/1.1 200"):
        s.close()
        raise OSError("CONNECT refused: %s" % status)
    ctx = ssl.create_default_context(cafile=cafile)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if server_hostname is False:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx.wrap_socket(s)
    return ctx.wrap_socket(s, server_hostname=server_hostname or host)


def chat_body(prompt, max_tokens=5, stream=False, model="gpt-4o-mini"):
    b = {"model": model, "messages": [{"role": "user", "content": prompt}],
         "max_tokens": max_tokens}
    if stream:
        b["stream"] = True
    return json.dumps(b)


def curl_argv(url, body=None, headers=(), extra=()):
    argv = ["curl", "-sS", "--max-time", "20", "-D", "-"]
    for h in headers:
        argv += ["-H", h]
    if body is not None:
        argv += ["-H", "content-type: application/json", "-d", body]
    return argv + list(extra) + [url]


def run(argv, env, timeout=RUN_TIMEOUT_S, user=None):
    """(pid, rc, stdout, stderr, seconds)."""
    if user:
        argv = ["setpriv", "--reuid=%s" % user, "--regid=nogroup", "--clear-groups"] + argv
    t0 = time.time()
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return p.pid, "timeout", out, err, time.time() - t0
    return p.pid, p.returncode, out, err, time.time() - t0


def body_of(out):
    """The body after the last response head (curl -D - prints heads first)."""
    parts = out.split(b"\r\n\r\n")
    return parts[-1] if len(parts) > 1 else out


def mock_cost(provider, rec):
    return akcheck.prices().cost_micros(provider, rec["model"], rec["usage"]) or 0


def usd_of(micros):
    s = "%d.%06d" % (micros // 1000000, micros % 1000000)
    return float(s)


def event_matches(ev, rec, provider, agent, pid, plane="egress"):
    """Diagnostics for an event that does not say exactly what the mock answered ("" = ok)."""
    u = rec.get("usage") or {}
    want = {"agent": agent, "pid": pid, "plane": plane, "provider": provider,
            "decision": "allowed", "status": rec.get("status"),
            "input_tokens": u.get("input"), "output_tokens": u.get("output"),
            "cost_source": "usage"}
    bad = {k: (ev.get(k), v) for k, v in want.items() if ev.get(k) != v}
    cost = mock_cost(provider, rec)
    if abs(float(ev.get("cost_usd", -1)) - usd_of(cost)) > 1e-9:
        bad["cost_usd"] = (ev.get("cost_usd"), usd_of(cost))
    return "" if not bad else json.dumps(bad)
