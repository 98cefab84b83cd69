#!/usr/bin/python3
"""dash.py - the dashboard served by akcollector (collector/dashboard*.c, web/), checked as an
operator would: through its HTTP API and in a real browser (Debian's chromium, headless,
driven over the DevTools protocol with python3-websocket).

  api      401 without or with a wrong token; a cross-origin POST without the header refused
           (and with it, from a foreign Origin); /api/status equal to `akctl status --json`;
           bad JSON, an unknown key, an unknown agent, an oversized body get 4xx; suspend via
           the API refuses the agent's next call within a second, recorded as a control event
           with who and why; resume lifts it; /api/events filters by agent; the SSE stream
           delivers a new call's event
  browser  the page (token asked once) shows every agent's spent, limit, percent and calls as
           akctl status has them, pages and searches 300+ agents, the live event list gets a
           new call's event, Stop (with confirmation) refuses the agent's next call within a
           second; no Content-Security-Policy violation; a screenshot (AK_DASH_SCREENSHOT)

Every process started gets AGENTKAVACH_FAKE_NOW_MS (the calls at different hours of one day).
Usage: dash.py api browser   (inside the sandbox; lib.sh in_sandbox)
"""
import base64
import calendar
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import http.server
import threading
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "enforce"))
import ekit  # noqa: E402

R = ekit.R
COLLECTOR = os.path.join(ekit.AK_BUILD, "akcollector")
WEB_DIR = os.path.join(ekit.AK_ROOT, "web")
DAY0_MS = calendar.timegm((2026, 12, 1, 0, 0, 0)) * 1000   # the pinned day (UTC)
HOUR_MS = 3600 * 1000
NOW_MS = DAY0_MS + 20 * HOUR_MS     # the collector's and akctl's "now"
SUSPEND_MAX_S = 3.0                 # a new client process, start-up included, on a loaded machine
STOP_MAX_S = 3.0
READY_TIMEOUT_S = 10
STREAM_WAIT_S = 5
PAGE_WAIT_S = 15
FLEET_AGENTS = 320                  # "hundreds of agents": budget-only agents for paging
BODY_MAX = 4096
PLAIN = "Write one line about budgets."

# (agent, provider, op, fake hour) for the calls that make the known spend
CALLS = [("dash-a", "openai", "chat", 9), ("dash-a", "openai", "chat", 11),
         ("dash-b", "anthropic", "messages", 10), ("dash-c", "gemini", "generate_content", 14),
         ("dash-d", "mistral", "chat", 16)]

YAML = """channels:
  hook: { type: webhook, url: "http://127.0.0.1:%d/hook" }
agents:
  dash-a: { budget: { type: daily, limit: 5 } }
  dash-b:
    budget: { type: daily, limit: 0.002 }
    alerts: [ { threshold: 0.1, channels: [hook] } ]
  dash-c: { budget: { type: monthly, limit: 100 } }
  dash-d: { budget: { type: total, limit: 1000 } }
shared_budgets:
  dash-team: { budget: { type: daily, limit: 50 }, agents: [dash-a, dash-b] }
exporters:
  otlp: { endpoint: "http://127.0.0.1:9/", interval: 1 }   # nobody listens: failing
dashboard:
  listen: 127.0.0.1:%d
  token_file: %s
  web_dir: %s
"""


class Hook(http.server.BaseHTTPRequestHandler):
    """The webhook channel's receiver: takes every alert."""
    got = []

    def do_POST(self):
        Hook.got.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pinned(ms=NOW_MS):
    return {"AGENTKAVACH_FAKE_NOW_MS": str(ms)}


class Dash:
    """A scene with known spend and a running akcollector serving the dashboard."""

    def __init__(self):
        self.port = free_port()
        self.hook = http.server.HTTPServer(("127.0.0.1", 0), Hook)
        threading.Thread(target=self.hook.serve_forever, daemon=True).start()
        work = tempfile.mkdtemp(prefix="akdash.", dir=ekit.akcheck.AK_TMP)
        self.token_file = os.path.join(work, "dashboard.token")
        self.sc = ekit.Scene("dashboard", YAML % (self.hook.server_address[1], self.port,
                                                  self.token_file, WEB_DIR))
        self.base = "http://127.0.0.1:%d" % self.port
        self.proc = None
        self.token = None
        self.spent = {}                 # agent -> micro-USD the mock's answers cost

    def call(self, agent, provider="openai", op="chat", hour=None, client="curl"):
        """One call in a new process: the TimedRun and the mock records of its tag."""
        tag = ekit.uniq_tag("d")
        spec, _ = self.sc.spec([(provider, op, False, "%s TAG=%s" % (PLAIN, tag), {})])
        mark = ekit.LOG.mark()
        ms = DAY0_MS + hour * HOUR_MS if hour is not None else NOW_MS
        run = ekit.run_timed(client, spec, self.sc.env(agent, pinned(ms)))
        recs = ekit.requests_with_tag(ekit.LOG.since(mark), tag)
        for rec in recs:
            self.spent[agent] = self.spent.get(agent, 0) + ekit.mock_cost_micros(provider, rec)
        return run, recs

    def akctl(self, *args):
        return self.sc.akctl(*args, env_extra=pinned())

    def start(self):
        env = ekit.akcheck.base_env()
        env.update(pinned(), AGENTKAVACH_CONFIG=self.sc.config, AGENTKAVACH_LOG="info")
        self.log = open(os.path.join(self.sc.work, "collector.log"), "wb")
        self.proc = subprocess.Popen([COLLECTOR, "--config", self.sc.config], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        end = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < end and self.proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        with open(self.token_file) as f:
            self.token = f.read().strip()
        return os.stat(self.token_file).st_mode & 0o777

    def open_stream(self):
        """An SSE connection left open (the collector must still stop promptly)."""
        import http.client
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=STREAM_WAIT_S)
            conn.request("GET", "/api/stream", headers={"Authorization": "Bearer " + self.token})
            resp = conn.getresponse()
            resp.read1(64)
            return conn if resp.status == 200 else None
        except (OSError, TypeError):
            return None

    def stop(self):
        self.hook.shutdown()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def http(self, method, path, body=None, token=True, headers=None):
        """(status, parsed JSON or text)."""
        h = dict(headers or {})
        if token is True:
            h["Authorization"] = "Bearer " + self.token
        elif token:
            h["Authorization"] = "Bearer " + token
        data = body.encode() if isinstance(body, str) else body
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                code, text = resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            code, text = e.code, e.read().decode()
        try:
            return code, json.loads(text)
        except ValueError:
            return code, text


def known_spend(d):
    for agent, provider, op, hour in CALLS:
        run, recs = d.call(agent, provider, op, hour)
        if run.statuses != ["200"] or len(recs) != 1:
            R.check(False, "dashboard: setup call for %s answered" % agent, str(run.statuses))
            return False
    return True


def fleet_agents(d):
    """Hundreds of agents the ledger knows (budget overrides): paging and search."""
    for i in range(FLEET_AGENTS):
        rc, _, err = d.akctl("budget", "set", "fleet-%03d" % i, "--daily", "%d" % (1 + i % 9))
        if rc != 0:
            R.check(False, "dashboard: akctl budget set fleet-%03d" % i, err)
            return


def status_row(status, agent):
    return next((a for a in status.get("agents", []) if a.get("agent") == agent), {})


# ---------------------------------------------------------------------------- the API

def t_api(d):
    code, _ = d.http("GET", "/api/status", token=False)
    code2, _ = d.http("GET", "/api/status", token="0" * 64)
    code3, _ = d.http("GET", "/api/status", headers={"Cookie": "token=" + d.token}, token=False)
    R.check(code == 401 and code2 == 401 and code3 == 401,
            "dashboard api: /api/status without the token, with a wrong one, or with it in a "
            "cookie is refused with 401", "%s %s %s" % (code, code2, code3))
    body = json.dumps({"reason": "csrf"})
    c1, _ = d.http("POST", "/api/agents/dash-a/suspend", body, token=False,
                   headers={"Origin": "http://evil.example", "Content-Type": "text/plain"})
    c2, _ = d.http("POST", "/api/agents/dash-a/suspend", body,
                   headers={"Origin": "http://evil.example"})
    st = status_row(d.akctl_status(), "dash-a")
    R.check(c1 == 401 and c2 == 403 and st.get("suspended") is False,
            "dashboard api: a cross-origin POST (a form: no Authorization header) gets 401, one "
            "with the token from a foreign Origin 403; the agent stays active",
            "%s %s %s" % (c1, c2, st))

    code, api_status = d.http("GET", "/api/status")
    rc, out, err = d.akctl("status", "--json")
    ctl = json.loads(out) if rc == 0 else None
    R.check(code == 200 and ctl is not None and api_status == ctl,
            "dashboard api: /api/status is exactly `akctl status --json`",
            "api %s %s\nakctl %s %s" % (code, json.dumps(api_status)[:600], rc, out[:600]))
    rows_ok = all(round(status_row(api_status, a).get("spent_usd", -1) * 1e6) == m
                  for a, m in d.spent.items())
    R.check(code == 200 and rows_ok and len(d.spent) == 4,
            "dashboard api: each agent's spent_usd is what the mock's answers cost",
            "%s vs %s" % (d.spent, [(a["agent"], a["spent_usd"]) for a in
                                    api_status.get("agents", [])[:6]] if code == 200 else ""))

    checks = [("bad JSON", "/api/agents/dash-a/suspend", '{"reason": "x"', 400),
              ("a JSON array", "/api/agents/dash-a/suspend", "[1]", 400),
              ("an unknown key", "/api/agents/dash-a/suspend", '{"reasn": "x"}', 400),
              ("a wrong type", "/api/agents/dash-a/suspend", '{"now": "yes"}', 400),
              ("a bad budget", "/api/agents/dash-a/budget", '{"type": "weekly", "limit_usd": 1}', 400),
              ("a negative budget", "/api/agents/dash-a/budget", '{"type": "daily", "limit_usd": -1}', 400),
              ("an unknown agent", "/api/agents/no-such-agent/suspend", "{}", 404),
              ("an unknown shared budget", "/api/shared/no-such/budget",
               '{"type": "daily", "limit_usd": 1}', 404),
              ("an unknown action", "/api/agents/dash-a/explode", "{}", 404),
              ("an oversized body", "/api/agents/dash-a/suspend",
               '{"reason": "%s"}' % ("x" * (BODY_MAX + 10)), 413)]
    got = []
    for what, path, body, want in checks:
        code, resp = d.http("POST", path, body)
        got.append((what, code, resp.get("error") if isinstance(resp, dict) else resp))
        R.check(code == want and isinstance(resp, dict) and resp.get("error"),
                "dashboard api: %s gets %d with a message" % (what, want), str(got[-1]))
    st = status_row(d.akctl_status(), "dash-a")
    R.check(st.get("suspended") is False and st.get("limit_usd") == 5,
            "dashboard api: none of the refused requests changed anything", str(st))

    # suspend through the API: the next call is refused within a second
    code, resp = d.http("POST", "/api/agents/dash-a/suspend",
                        json.dumps({"reason": "api-test stop", "now": True}))
    t0 = time.monotonic()
    run, recs = d.call("dash-a")
    dt = time.monotonic() - t0
    evs, _ = d.sc.events()
    ctl_ev = [e for e in evs if e.get("decision") == "control" and e.get("operation") == "suspend"]
    refused = [e for e in evs if e.get("decision") == "blocked_suspended" and e.get("agent") == "dash-a"]
    R.check(code == 200 and run.statuses == ["429"] and not recs and dt < SUSPEND_MAX_S
            and refused and "api-test stop" in (refused[-1].get("reason") or ""),
            "dashboard api: after POST suspend, dash-a's next call is refused (429, "
            "blocked_suspended, never reaching the mock) within %.0f s (%.3f s)" % (SUSPEND_MAX_S, dt),
            "%s %s; statuses %s; mock %d; %s" % (code, resp, run.statuses, len(recs),
                                                 ekit.ev_brief(refused[-1:])))
    ev = ctl_ev[-1] if ctl_ev else {}
    R.check(ev.get("agent") == "dash-a" and (ev.get("actor") or "").startswith("dashboard 127.0.0.1:")
            and "api-test stop" in (ev.get("reason") or "") and ev.get("cost_usd") == 0,
            "dashboard api: the suspension is recorded as a control event: who (dashboard and "
            "the peer) and why", json.dumps(ev))
    code, resp = d.http("POST", "/api/agents/dash-a/resume", "{}")
    run, recs = d.call("dash-a")
    R.check(code == 200 and run.statuses == ["200"] and len(recs) == 1,
            "dashboard api: POST resume lifts it (next call answered)",
            "%s %s %s" % (code, resp, run.statuses))

    code, resp = d.http("POST", "/api/agents/dash-c/budget",
                        json.dumps({"type": "daily", "limit_usd": 7.25, "reason": "ops"}))
    code2, resp2 = d.http("POST", "/api/shared/dash-team/budget",
                          json.dumps({"type": "monthly", "limit_usd": 80}))
    st = d.akctl_status()
    sh = next((s for s in st.get("shared_budgets", []) if s.get("name") == "dash-team"), {})
    R.check(code == 200 and code2 == 200 and status_row(st, "dash-c").get("limit_usd") == 7.25
            and status_row(st, "dash-c").get("budget_type") == "daily"
            and sh.get("limit_usd") == 80 and sh.get("budget_type") == "monthly",
            "dashboard api: POST budget changes an agent's and a shared budget (akctl status "
            "shows both)", "%s %s %s %s %s" % (code, resp, code2, resp2, sh))

    code, resp = d.http("POST", "/api/all/suspend", json.dumps({"reason": "host stop"}))
    run, recs = d.call("dash-c", "gemini", "generate_content")
    st = d.akctl_status()
    code2, resp2 = d.http("POST", "/api/all/resume", "{}")
    run2, recs2 = d.call("dash-c", "gemini", "generate_content")
    R.check(code == 200 and st.get("all_suspended") is True and run.statuses == ["429"]
            and not recs and code2 == 200 and run2.statuses == ["200"] and len(recs2) == 1,
            "dashboard api: POST /api/all/suspend stops every agent (akctl status says so), "
            "/api/all/resume lifts it", "%s %s %s %s; %s %s" % (code, resp, code2, resp2,
                                                               run.statuses, run2.statuses))

    code, evs = d.http("GET", "/api/events?agent=dash-b&limit=50")
    R.check(code == 200 and isinstance(evs, list) and evs
            and all(e.get("agent") == "dash-b" for e in evs),
            "dashboard api: /api/events?agent= returns only that agent's records",
            "%s %s" % (code, str(evs)[:300]))
    code, rep = d.http("GET", "/api/report?by=model,hour")
    reps = rep.get("reports", {}) if code == 200 else {}
    models = {g["key"]: g for g in reps.get("model", {}).get("groups", [])}
    hours = [g["key"] for g in reps.get("hour", {}).get("groups", [])]
    total = sum(g["cost_usd"] for g in models.values())
    R.check(code == 200 and len(models) >= 4 and abs(total * 1e6 - sum(d.spent.values())) < 2
            and hours[:4] == ["2026-12-01T09", "2026-12-01T10", "2026-12-01T11", "2026-12-01T14"],
            "dashboard api: /api/report?by=model,hour sums to the known spend, in the hours the "
            "calls were made", str(rep)[:400])
    t_stream(d)
    t_health(d)


def t_health(d):
    """Alerts sent and the exporters' health, as the collector knows them."""
    key = "alert:agent:dash-b:0.1:2026-12-01"
    end = time.monotonic() + STREAM_WAIT_S
    code, h = d.http("GET", "/api/health")
    while time.monotonic() < end and not any(a.get("key") == key for a in h.get("alerts", [])):
        time.sleep(0.2)
        code, h = d.http("GET", "/api/health")
    alert = next((a for a in h.get("alerts", []) if a.get("key") == key), {})
    R.check(code == 200 and alert.get("channels") == ["hook"] and alert.get("sent_at")
            and len(Hook.got) == 1,
            "dashboard api: /api/health lists the alert sent (dash-b past 10 %%, channel hook)",
            "%s %s; webhook got %d" % (code, json.dumps(h)[:500], len(Hook.got)))
    ex = {e.get("name"): e for e in h.get("exporters", [])}
    otlp = ex.get("otlp", {})
    R.check("jsonl" in ex and ex["jsonl"].get("state") in ("delivered", "behind")
            and ex["jsonl"].get("failures") == 0 and otlp.get("state") == "failing"
            and otlp.get("failures", 0) >= 1 and otlp.get("behind", 0) > 0,
            "dashboard api: /api/health says the JSONL exporter delivers and the OTLP one (no "
            "receiver) is failing, with its backlog", json.dumps(h.get("exporters"))[:400])


def t_stream(d):
    """A new call shows on /api/stream (SSE) within STREAM_WAIT_S."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=STREAM_WAIT_S)
    conn.request("GET", "/api/stream?agent=dash-d", headers={"Authorization": "Bearer " + d.token})
    resp = conn.getresponse()
    ctype = resp.getheader("Content-Type", "")
    d.call("dash-d")
    t0 = time.monotonic()
    buf, got = b"", None
    while time.monotonic() - t0 < STREAM_WAIT_S and got is None:
        try:
            chunk = resp.read1(65536)
        except (socket.timeout, OSError):
            break
        if not chunk:
            break
        buf += chunk
        for block in buf.split(b"\n\n"):
            for line in block.split(b"\n"):
                if line.startswith(b"data: "):
                    ev = json.loads(line[6:])
                    if ev.get("agent") == "dash-d" and ev.get("decision") == "allowed":
                        got = ev
    conn.close()
    R.check(resp.status == 200 and ctype.startswith("text/event-stream") and got is not None,
            "dashboard api: /api/stream delivers a new call's event as Server-Sent Events "
            "(%.2f s after the call ended)" % (time.monotonic() - t0),
            "%s %s %s" % (resp.status, ctype, buf[:300]))


def _akctl_status(self):
    rc, out, _ = self.akctl("status", "--json")
    try:
        return json.loads(out) if rc == 0 else {}
    except ValueError:
        return {}


Dash.akctl_status = _akctl_status


# ---------------------------------------------------------------------------- the browser

class Cdp:
    """A minimal DevTools protocol client on one page target."""

    def __init__(self, ws_url):
        import websocket
        self.ws = websocket.create_connection(ws_url, timeout=PAGE_WAIT_S)
        self.n = 0
        self.events = []

    def send(self, method, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.n:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            self.events.append(msg)

    def eval(self, expr):
        r = self.send("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError("%s: %s" % (expr[:60], r["exceptionDetails"]))
        return r.get("result", {}).get("value")

    def wait(self, expr, timeout=PAGE_WAIT_S):
        end = time.monotonic() + timeout
        guarded = "(() => { try { return %s; } catch (e) { return null; } })()" % expr
        while time.monotonic() < end:
            v = self.eval(guarded)
            if v:
                return v
            time.sleep(0.1)
        return None

    def close(self):
        self.ws.close()


def chromium_start(profile):
    argv = ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--user-data-dir=" + profile, "--remote-debugging-port=0",
            "--window-size=1440,2200", "about:blank"]
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file = os.path.join(profile, "DevToolsActivePort")
    end = time.monotonic() + PAGE_WAIT_S
    while time.monotonic() < end and not os.path.exists(port_file):
        time.sleep(0.05)
    time.sleep(0.1)
    with open(port_file) as f:
        port = int(f.readline())
    with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=5) as r:
        pages = [t for t in json.load(r) if t.get("type") == "page"]
    return p, pages[0]["webSocketDebuggerUrl"]


ROWS_JS = """Array.from(document.querySelectorAll('#agents tbody tr')).map(tr => ({
  agent: tr.dataset.agent, spent: tr.querySelector('.spent').textContent,
  limit: tr.querySelector('.limit').textContent, percent: tr.querySelector('.percent').textContent,
  calls: tr.querySelector('.calls').textContent, state: tr.querySelector('.state').textContent,
  reason: tr.querySelector('.reason').textContent}))"""


def usd_text(v):
    """The page's money format (app.js usd()), from the API's number."""
    if v is None:
        return "none"
    if v != 0 and abs(v) < 0.01:
        return "$" + ("%.6f" % v).rstrip("0")
    return "$%.2f" % v


def t_browser(d):
    if not shutil.which("chromium"):
        R.check(False, "dashboard browser: chromium is installed (mk/deps.sh)", "")
        return
    profile = tempfile.mkdtemp(prefix="akchrome.", dir=ekit.akcheck.AK_TMP)
    proc, ws = chromium_start(profile)
    cdp = None
    try:
        cdp = Cdp(ws)
        browser_checks(d, cdp)
    except Exception as e:  # noqa: BLE001 - one failed check, not a crashed test
        R.check(False, "dashboard browser: the page could be driven", repr(e))
    finally:
        if cdp:
            cdp.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def browser_checks(d, cdp):
    cdp.send("Runtime.enable")
    cdp.send("Log.enable")
    cdp.send("Page.enable")
    cdp.send("Emulation.setDeviceMetricsOverride", width=1440, height=2200, deviceScaleFactor=1,
             mobile=False)
    cdp.send("Page.navigate", url=d.base + "/")
    asked = cdp.wait("!document.getElementById('login').hidden")
    cdp.eval("document.getElementById('token').value = %s; "
             "document.getElementById('login-form').requestSubmit(); true" % json.dumps(d.token))
    n = cdp.wait("document.querySelectorAll('#agents tbody tr').length")
    total = len(d.akctl_status().get("agents", []))
    info = cdp.eval("document.getElementById('page-info').textContent")
    R.check(asked and n == 50 and info == "page 1 of %d" % ((total + 49) // 50),
            "dashboard browser: the page asks for the token once, then shows %d agents 50 to a "
            "page" % total, "asked %s rows %s info %r" % (asked, n, info))

    cdp.eval("var s = document.getElementById('search'); s.value = 'dash-'; "
             "s.dispatchEvent(new Event('input')); true")
    cdp.wait("document.querySelectorAll('#agents tbody tr').length == 4")
    rows = {r["agent"]: r for r in cdp.eval(ROWS_JS)}
    st = d.akctl_status()
    bad = []
    for agent in ("dash-a", "dash-b", "dash-c", "dash-d"):
        a, r = status_row(st, agent), rows.get(agent, {})
        want = {"spent": usd_text(a.get("spent_usd")), "limit": usd_text(a.get("limit_usd")),
                "percent": "%.1f%%" % a["percent"] if a.get("percent") is not None else "-",
                "calls": str(a.get("calls")), "state": "suspended" if a.get("suspended") else "active"}
        mock = agent == "dash-c" or round(a.get("spent_usd", 0) * 1e6) == d.spent.get(agent)
        if {k: r.get(k) for k in want} != want or not mock:   # dash-c's budget is daily now
            bad.append((agent, want, r))
    R.check(len(rows) == 4 and not bad,
            "dashboard browser: searching 'dash-' leaves 4 rows whose spent, limit, percent, "
            "calls and state are akctl status's figures (and the mock's cost)", str(bad or rows))
    shared = cdp.eval("Array.from(document.querySelectorAll('#shared tbody tr')).map(tr => "
                      "[tr.dataset.shared, tr.querySelector('.spent').textContent])")
    sh = next((s for s in st.get("shared_budgets", []) if s.get("name") == "dash-team"), {})
    R.check(shared == [["dash-team", usd_text(sh.get("spent_usd"))]],
            "dashboard browser: the shared budget row shows its spend", str(shared))
    alerts = cdp.wait("Array.from(document.querySelectorAll('#alerts tbody tr')).map("
                      "tr => tr.textContent).filter(t => t.includes('dash-b')).length", 8)
    R.check(bool(alerts), "dashboard browser: the alert sent for dash-b is listed", "")

    # live events: a new call appears without a reload
    cdp.wait("document.getElementById('live').textContent == 'live'")
    before = cdp.eval("document.querySelectorAll('#events tbody tr.fresh').length")
    d.call("dash-b", "anthropic", "messages")
    t0 = time.monotonic()
    live = cdp.wait("Array.from(document.querySelectorAll('#events tbody tr.fresh')).filter("
                    "tr => tr.dataset.agent == 'dash-b').length > %d" % before, STREAM_WAIT_S)
    R.check(bool(live), "dashboard browser: the live event list shows a new call of dash-b "
            "(%.2f s after it ended)" % (time.monotonic() - t0), "fresh rows before %s" % before)

    # Stop, with confirmation, then the agent's next call is refused within a second
    cdp.eval("document.querySelector('#agents tr[data-agent=\"dash-d\"] button.stop').click(); true")
    opened = cdp.wait("document.getElementById('confirm').open")
    cdp.eval("document.getElementById('confirm-reason').value = 'browser stop'; "
             "document.getElementById('confirm-ok').click(); true")
    closed = cdp.wait("!document.getElementById('confirm').open")
    t0 = time.monotonic()
    run, recs = d.call("dash-d", "mistral", "chat")
    dt = time.monotonic() - t0
    shown = cdp.wait("(document.querySelector('#agents tr[data-agent=\"dash-d\"] .state') || "
                     "{}).textContent == 'suspended'")
    R.check(opened and closed and run.statuses == ["429"] and not recs and dt < SUSPEND_MAX_S
            and shown,
            "dashboard browser: Stop asks for confirmation, then dash-d's next call is refused "
            "within %.0f s (%.3f s) and the row says suspended" % (SUSPEND_MAX_S, dt),
            "opened %s closed %s statuses %s mock %d shown %s" % (opened, closed, run.statuses,
                                                                  len(recs), shown))
    evs, _ = d.sc.events()
    ctl = [e for e in evs if e.get("decision") == "control" and e.get("agent") == "dash-d"]
    R.check(ctl and "browser stop" in (ctl[-1].get("reason") or ""),
            "dashboard browser: the Stop is recorded with the reason typed in the dialog",
            ekit.ev_brief(ctl[-1:]))

    cdp.eval("var s = document.getElementById('search'); s.value = ''; "
             "s.dispatchEvent(new Event('input')); var o = document.getElementById('sort'); "
             "o.value = 'spent'; o.dispatchEvent(new Event('change')); true")
    cdp.wait("typeof Chart !== 'undefined' && document.querySelector('#events tbody tr')")
    time.sleep(0.5)
    csp = [m for m in cdp.events if "Content Security Policy" in json.dumps(m)]
    R.check(not csp, "dashboard browser: no Content-Security-Policy violation (no inline script "
            "or style) and Chart.js loaded", json.dumps(csp)[:500])
    shot = os.environ.get("AK_DASH_SCREENSHOT") or os.path.join(d.sc.work, "dashboard.png")
    cdp.eval("var p = document.getElementById('page-size'); p.value = '25'; "
             "p.dispatchEvent(new Event('change')); true")
    time.sleep(0.3)
    height = cdp.eval("document.documentElement.scrollHeight")
    cdp.send("Emulation.setDeviceMetricsOverride", width=1440, height=int(height),
             deviceScaleFactor=1, mobile=False)
    time.sleep(0.5)
    png = cdp.send("Page.captureScreenshot", format="png")["data"]
    with open(shot, "wb") as f:
        f.write(base64.b64decode(png))
    print("# screenshot: %s" % shot)


def main(argv):
    d = Dash()
    try:
        if not known_spend(d):
            return 1
        fleet_agents(d)
        mode = d.start()
        R.check(d.token and len(d.token) == 64 and mode == 0o600,
                "dashboard: akcollector creates the token file 0600 with a 64-hex token",
                "mode %o" % (mode or 0))
        if "api" in argv:
            t_api(d)
        if "browser" in argv:
            t_browser(d)
    finally:
        stream = d.open_stream()
        t0 = time.monotonic()
        rc = d.stop()
        dt = time.monotonic() - t0
        R.check(rc == 0 and stream is not None and dt < STOP_MAX_S,
                "dashboard: akcollector stops cleanly on TERM with a stream open (%.2f s)" % dt,
                "rc %s stream %s" % (rc, stream))
    return 1 if R.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
