#!/usr/bin/python3
"""agents.py - akrun covers every program (tests/integration/t_egress_akrun.sh, t_egress_agents.sh).

  agents.py akrun     akrun with a running akproxy: Python on the system libssl stays on the
                      in-process plane and is counted once (the proxy relays what the shim
                      meters); a static Go client (CGO_ENABLED=0) is metered on the egress
                      plane; with no akproxy answering, akrun runs a private one and stops it
  agents.py agents    the real coding agents from the npm registry, run headless through akrun
                      against the mock at the real host names: Codex (static musl Rust) and
                      Gemini CLI (official Node build): exact events and budget refusals

The agents and the Go client come from tests/.cache (setup.sh); a missing one is reported as
a failed check, not skipped silently.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pkit  # noqa: E402
from pkit import R, LOG  # noqa: E402

CACHE = os.path.join(pkit.akcheck.AK_ROOT, "tests", ".cache")
GOCLIENT = os.path.join(CACHE, "go", "goclient")
NM = os.path.join(CACHE, "agents", "node_modules")
NODE = os.path.join(NM, "node", "bin", "node")
CODEX = os.path.join(NM, "@openai", "codex-linux-x64", "vendor", "x86_64-unknown-linux-musl", "bin", "codex")
GEMINI = os.path.join(NM, "@google", "gemini-cli", "bundle", "gemini.js")
AGENT_TIMEOUT_S = 90
REFUSAL_SLACK_S = 5
YAML = """defaults:
  budget: { type: total, limit: 1000 }
agents:
  broke:
    budget: { type: total, limit: 0.000001 }
"""


def akrun_env(px, extra=None):
    """What a user's shell would have: no proxy, no trust variables (akrun sets them)."""
    env = pkit.akcheck.base_env()
    for k in ("SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
              "HTTPS_PROXY", "https_proxy"):
        env.pop(k, None)
    env.update(AGENTKAVACH_CONFIG=px.config, AGENTKAVACH_STATE_DIR=px.state,
               AGENTKAVACH_FAKE_NOW_MS=pkit.FAKE_NOW_MS, AGENTKAVACH_LOG="warn")
    env.update(extra or {})
    return env


def akrun(px, agent, cmd, env, proxy=None, timeout=pkit.RUN_TIMEOUT_S, cwd=None):
    argv = [pkit.AKRUN, "--agent", agent, "--proxy", proxy or px.addr, "--"] + cmd
    t0 = time.time()
    p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=cwd)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.terminate()
        out, err = p.communicate()
        return "timeout", out, err, time.time() - t0
    return p.returncode, out, err, time.time() - t0


PY_CALL = """import requests, os, sys
r = requests.post("https://api.openai.com/v1/chat/completions", timeout=20,
                  headers={"authorization": "Bearer %s", "content-type": "application/json"},
                  data='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"once only TAG=egonce"}],"max_tokens":4}')
sys.stderr.write("pid: %%d\\nstatus: %%d\\n" %% (os.getpid(), r.status_code))
""" % pkit.KEY


def pid_in(err):
    for line in err.decode(errors="replace").splitlines():
        if line.startswith("pid: "):
            return int(line[5:])
    return None


def check_no_double_count(px):
    mark, n0 = LOG.mark(), len(px.events())
    rc, out, err, _ = akrun(px, "pyonce", ["python3", "-c", PY_CALL], akrun_env(px))
    recs = [r for r in LOG.since(mark) if r.get("kind") == "request"]
    new = px.events()[n0:]
    pid = pid_in(err)
    R.check(rc == 0 and len(recs) == 1, "akrun: Python (system libssl, shim preloaded) through akproxy answers",
            err.decode(errors="replace")[-300:])
    R.check(len(new) == 1 and new[0].get("plane") == "inproc" and new[0].get("agent") == "pyonce"
            and new[0].get("pid") == pid and recs and
            new[0].get("input_tokens") == (recs[0].get("usage") or {}).get("input"),
            "a shim-metered call through akproxy is counted once, on the in-process plane",
            json.dumps(new)[:500])


def check_go(px):
    if not R.check(os.access(GOCLIENT, os.X_OK), "the CGO_ENABLED=0 Go client is built (setup.sh)"):
        return
    body = pkit.chat_body("from Go TAG=eggo", max_tokens=8)
    mark, n0 = LOG.mark(), len(px.events())
    rc, out, err, _ = akrun(px, "gobot", [GOCLIENT, "https://api.openai.com/v1/chat/completions", body,
                                          "Authorization: Bearer " + pkit.KEY], akrun_env(px))
    recs = [r for r in LOG.since(mark) if r.get("kind") == "request"]
    new = px.events()[n0:]
    pid = pid_in(err)
    ok = rc == 0 and len(recs) == 1 and len(new) == 1
    diag = ok and pkit.event_matches(new[0], recs[0], "openai", "gobot", pid)
    R.check(ok and not diag, "akrun: a static Go binary is metered exactly on the egress plane (agent, pid)",
            diag or err.decode(errors="replace")[-300:] + json.dumps(new)[:300])
    n1 = len(px.events())
    mark = LOG.mark()
    rc, out, err, secs = akrun(px, "broke", [GOCLIENT, "https://api.openai.com/v1/chat/completions", body,
                                             "Authorization: Bearer " + pkit.KEY], akrun_env(px))
    recs = [r for r in LOG.since(mark) if "eggo" in json.dumps(r)]
    new = px.events()[n1:]
    R.check(b"status: 429" in err and b"budget_exceeded" in out and not recs and secs < 5,
            "akrun: the Go client's call over budget gets the 429 at once, nothing reaches the mock",
            err.decode(errors="replace")[-200:])
    R.check(len(new) == 1 and new[0].get("decision") == "blocked_budget" and new[0].get("plane") == "egress",
            "its refusal is recorded on the egress plane", json.dumps(new)[:300])


def port_open(addr):
    host, port = addr.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        return True
    except OSError:
        return False


def check_private_proxy(px):
    """No akproxy at the address asked for: akrun starts a private one and stops it after."""
    script = ("import os,sys;print(os.environ.get('HTTPS_PROXY'));"
              "print(open(os.environ['SSL_CERT_FILE']).read().count('BEGIN CERTIFICATE'))")
    rc, out, err, _ = akrun(px, "priv", ["python3", "-c", script], akrun_env(px), proxy="127.0.0.1:1")
    lines = out.decode(errors="replace").split()
    url = lines[0] if lines else ""
    addr = url.rsplit("@", 1)[-1]
    R.check(rc == 0 and url.startswith("http://priv:@127.0.0.1:") and not url.endswith(":1"),
            "akrun with no akproxy answering runs a private one (HTTPS_PROXY %s)" % url,
            err.decode(errors="replace")[-300:])
    system_n = open(pkit.SYSTEM_BUNDLE).read().count("BEGIN CERTIFICATE")
    R.check(len(lines) > 1 and lines[1] == str(system_n + 1),
            "SSL_CERT_FILE is the system store plus the host CA (%s certificates)" % (lines[1:2] or "?"))
    R.check(addr and not port_open(addr), "the private akproxy is stopped when the command ends")
    env = akrun_env(px, {"NODE_EXTRA_CA_CERTS": os.path.join(CACHE, "ca", "ca.pem")})
    script = "import os;print(open(os.environ['NODE_EXTRA_CA_CERTS']).read().count('BEGIN CERTIFICATE'))"
    rc, out, err, _ = akrun(px, "priv", ["python3", "-c", script], env)
    R.check(out.strip() == b"2", "a trust variable already set is kept and the host CA added to it",
            (out + err).decode(errors="replace")[-200:])


def akrun_section():
    px = pkit.Proxy(YAML)
    if not R.check(px.addr is not None, "akproxy starts", px.log_text()[-300:]):
        return
    check_no_double_count(px)
    check_go(px)
    check_private_proxy(px)
    R.check(px.alive(), "akproxy still runs")
    px.stop()


# ---------------------------------------------------------------------------- the agents

def agent_run(px, agent, name, cmd, env_extra, timeout=AGENT_TIMEOUT_S):
    home = tempfile.mkdtemp(prefix="akhome.", dir=pkit.akcheck.AK_TMP)
    env = akrun_env(px, dict(env_extra, HOME=home))
    mark, n0 = LOG.mark(), len(px.events())
    rc, out, err, secs = akrun(px, agent, cmd, env, timeout=timeout, cwd=home)
    recs = [r for r in LOG.since(mark) if r.get("kind") == "request" and r.get("usage")]
    return rc, out, err, secs, recs, px.events()[n0:]


def check_agent(px, name, cmd, env_extra, provider, refusal_words):
    """The agent's own start-up (Codex waits ~10 s for plugin and model syncs that have no
    network here) counts against neither run: the refusal must end no later than the
    successful run plus REFUSAL_SLACK_S."""
    if not R.check(os.path.exists(cmd[0]) and (len(cmd) < 2 or not cmd[1].endswith(".js") or os.path.exists(cmd[1])),
                   "%s is installed from the npm registry (setup.sh)" % name):
        return
    agent = name.lower().replace(" ", "-") + "-bot"
    rc, out, err, secs, recs, new = agent_run(px, agent, name, cmd, env_extra)
    ok_secs = secs
    metered = [e for e in new if e.get("decision") == "allowed"]
    R.check(rc == 0 and recs and b"tok0" in out, "%s through akrun answers from the mock (%.1f s)" % (name, secs),
            (out[-200:] + err[-400:]).decode(errors="replace"))
    bad = [pkit.event_matches(e, r, provider, agent, e.get("pid")) for e, r in zip(metered, recs)]
    R.check(len(metered) == len(recs) and recs and not any(bad)
            and all(e.get("exe", "").endswith(("/codex", "/node")) for e in metered),
            "%s: one exact event per call (tokens, cost, plane egress, agent %s, its pid)" % (name, agent),
            json.dumps(bad)[:300] + json.dumps(new)[:400])
    rc, out, err, secs, recs, new = agent_run(px, "broke", name, cmd, env_extra)
    text = (out + err).decode(errors="replace")
    blocked = [e for e in new if e.get("decision") == "blocked_budget"]
    R.check(not recs and blocked and all(e.get("plane") == "egress" for e in blocked),
            "%s over budget: refused on the egress plane, no call reaches the mock (%d refusals)"
            % (name, len(blocked)), json.dumps(new)[:300])
    R.check(secs < ok_secs + REFUSAL_SLACK_S and any(w in text for w in refusal_words),
            "%s ends in %.1f s (its successful run: %.1f s) and says why in its own terms"
            % (name, secs, ok_secs), text[-400:])
    return new


def agents_section():
    px = pkit.Proxy(YAML)
    if not R.check(px.addr is not None, "akproxy starts", px.log_text()[-300:]):
        return
    new = check_agent(px, "Codex", [CODEX, "exec", "--skip-git-repo-check", "-m", "gpt-4o-mini",
                                    "Say hi TAG=egcodex"],
                      {"OPENAI_API_KEY": pkit.KEY, "CODEX_API_KEY": pkit.KEY}, "openai",
                      ["Quota exceeded", "budget", "429"])
    check_agent(px, "Gemini CLI", [NODE, GEMINI, "--skip-trust", "-p", "Say hi TAG=eggemini", "-m",
                                   "gemini-2.5-flash"],
                {"GEMINI_API_KEY": pkit.KEY}, "gemini", ["budget of agent 'broke'"])
    evs = px.events()
    ws = [e for e in evs if "WebSocket" in (e.get("reason") or "")]
    R.check(ws and all(e.get("decision") == "unmetered" and e.get("agent") in ("codex-bot", "broke")
                       and e.get("status") == 426 for e in ws),
            "Codex's WebSocket attempt is refused (426), recorded unmetered, and it falls back to HTTPS",
            json.dumps(ws)[:300])
    R.check(px.alive(), "akproxy still runs")
    px.stop()


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "akrun"
    if what == "akrun":
        akrun_section()
    else:
        agents_section()
    return 1 if R.failed else 0


if __name__ == "__main__":
    sys.exit(main())
