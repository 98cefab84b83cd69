#!/usr/bin/python3
"""proc_checks.py - the shim inside real processes: threads, fork, exec, identity rules,
customers, prompt privacy, abandoned streams and AGENTKAVACH_DISABLE.

Runs inside the sandbox (lib.sh in_sandbox: the provider host names point at the mock, the
test CA is trusted). Each scenario runs a fresh Debian python3 (or curl) with the shim
preloaded, a fresh state directory and its own config, then reads what was recorded with
`akctl events --json`, as an operator would. Prints one "ok - ..." / "not ok - ..." line per
check and exits non-zero when one failed.
"""
import json
import os
import subprocess
import sys
import tempfile
import textwrap

AK_ROOT = os.environ["AK_ROOT"]
AK_BUILD = os.environ["AK_BUILD"]
SHIM = os.path.join(AK_BUILD, "libakshim.so")
AKCTL = os.path.join(AK_BUILD, "akctl")
PY = "/usr/bin/python3"
TIMEOUT_S = 60
failed = 0

CALL = textwrap.dedent('''
    import json, requests, sys
    def chat(session, tag, user=None, stream=False, extra=""):
        body = {"model": "gpt-4o-mini", "max_tokens": 12,
                "messages": [{"role": "user", "content": "hello TAG=" + tag + extra}]}
        if user:
            body["user"] = user
        if stream:
            body["stream"] = True
        r = session.post("https://api.openai.com/v1/chat/completions", json=body,
                         headers={"Authorization": "Bearer sk-proc-test-key"}, stream=stream)
        return r
''')


def check(cond, desc, diag=""):
    global failed
    print(("ok - " if cond else "not ok - ") + desc, flush=True)
    if not cond:
        failed += 1
        for line in str(diag).splitlines()[:12]:
            print("#   " + line)


def scenario(name, script, config_extra="", env_extra=None, agent="proc-test"):
    """Runs `script` (python source) with the shim; returns (proc, events)."""
    work = tempfile.mkdtemp(prefix="proc-", dir=os.environ.get("AK_TMP"))
    state = os.path.join(work, "state")
    config = os.path.join(work, "agentkavach.yaml")
    with open(config, "w") as f:
        f.write("version: 1\nstate_dir: %s\n%s" % (state, config_extra))
    env = dict(os.environ, LD_PRELOAD=SHIM, AGENTKAVACH_CONFIG=config, AGENTKAVACH_STATE_DIR=state)
    env.pop("AGENTKAVACH_AGENT", None)
    if agent:
        env["AGENTKAVACH_AGENT"] = agent
    env.update(env_extra or {})
    proc = subprocess.run([PY, "-c", CALL + textwrap.dedent(script)], env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    return proc, read_events(state, config), state


def read_events(state, config="/dev/null"):
    out = subprocess.run([AKCTL, "--config", config, "--state-dir", state, "events", "--json"],
                         capture_output=True, text=True, timeout=TIMEOUT_S)
    return [json.loads(l) for l in out.stdout.splitlines() if l.strip()]


def ok_calls(events):
    return [e for e in events if e["decision"] == "allowed" and e["status"] == 200
            and e["cost_source"] == "usage" and e["output_tokens"] == 12]


def test_threads():
    proc, events, _ = scenario("threads", '''
        import threading
        def worker(i):
            s = requests.Session()
            for j in range(5):
                assert chat(s, "t%d-%d" % (i, j)).status_code == 200
        ts = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        print("done")
    ''')
    check(proc.returncode == 0 and "done" in proc.stdout, "threads: 8 threads x 5 calls finish",
          proc.stderr)
    check(len(ok_calls(events)) == 40, "threads: 40 metered events, each with the provider's usage",
          "%d events" % len(events))


def test_fork():
    proc, events, _ = scenario("fork", '''
        import os
        s = requests.Session()
        assert chat(s, "parent1").status_code == 200
        pid = os.fork()
        if pid == 0:
            c = requests.Session()
            ok = chat(c, "child1").status_code == 200 and chat(c, "child2").status_code == 200
            os._exit(0 if ok else 3)
        assert chat(s, "parent2").status_code == 200
        _, st = os.waitpid(pid, 0)
        print("child", os.WEXITSTATUS(st), pid, os.getpid())
    ''')
    words = proc.stdout.split()
    check(proc.returncode == 0 and words[:2] == ["child", "0"], "fork: parent and child both call after fork",
          proc.stdout + proc.stderr)
    ok = ok_calls(events)
    pids = sorted(e["pid"] for e in ok)
    check(len(ok) == 4, "fork: 4 metered events (2 parent, 2 child)", json.dumps(events)[:600])
    if len(words) >= 4:
        child, parent = int(words[2]), int(words[3])
        check(pids.count(child) == 2 and pids.count(parent) == 2,
              "fork: each event carries the pid of the process that made the call", pids)


def test_exec():
    proc, events, _ = scenario("exec", '''
        import os
        assert chat(requests.Session(), "before-exec").status_code == 200
        os.execv("/usr/bin/curl", ["curl", "-sS", "-o", "/dev/null", "-H", "Authorization: Bearer sk-proc-test-key",
                 "-H", "Content-Type: application/json", "-d",
                 '{"model":"gpt-4o-mini","max_tokens":12,"messages":[{"role":"user","content":"hello TAG=after-exec"}]}',
                 "https://api.openai.com/v1/chat/completions"])
    ''')
    exes = sorted(os.path.basename(e["exe"]) for e in ok_calls(events))
    check(proc.returncode == 0 and len(exes) == 2 and "curl" in exes,
          "exec: the program exec'd after a metered call is metered too", (exes, proc.stderr))


def test_identity():
    rules = ('identity:\n  rules:\n    - { match: { exe: "*/curl" }, agent: curl-agent }\n'
             '  default: "bot-{exe}"\n')
    proc, events, _ = scenario("identity", '''
        import subprocess
        assert chat(requests.Session(), "py").status_code == 200
        subprocess.run(["curl", "-sS", "-o", "/dev/null", "-H", "Content-Type: application/json", "-d",
                        '{"model":"gpt-4o-mini","max_tokens":12,"messages":[{"role":"user","content":"hi TAG=cu"}]}',
                        "https://api.openai.com/v1/chat/completions"], check=True)
    ''', config_extra=rules, agent=None)
    agents = sorted(e["agent"] for e in events)
    py = os.path.basename(os.path.realpath(PY))
    check(agents == sorted(["curl-agent", "bot-" + py]),
          "identity: a rule names curl's agent; the default template names python's", agents)


def test_customer_and_privacy():
    proc, events, state = scenario("customer", '''
        assert chat(requests.Session(), "cust", user="customer-42", extra=" SECRET-PROMPT-TEXT").status_code == 200
    ''')
    check(len(events) == 1 and events[0]["customer"] == "customer-42",
          "customer: OpenAI's user field is the event's customer", events)
    check(len(events) == 1 and "prompt" not in events[0], "privacy: no prompt in the event by default", events)
    leaked = [p for p in walk(state) if b"SECRET-PROMPT-TEXT" in open(p, "rb").read()]
    check(not leaked, "privacy: the prompt text is in no state file by default", leaked)
    proc, events, _ = scenario("prompts", '''
        assert chat(requests.Session(), "keep", extra=" KEEP-THIS-PROMPT").status_code == 200
    ''', config_extra="privacy:\n  save_prompts: true\n")
    check(len(events) == 1 and "KEEP-THIS-PROMPT" in (events[0].get("prompt") or ""),
          "privacy: save_prompts: true records the prompt", events)


def walk(d):
    for root, _, files in os.walk(d):
        for f in files:
            yield os.path.join(root, f)


def test_abandoned_stream():
    proc, events, _ = scenario("abandon", '''
        s = requests.Session()
        r = chat(s, "abandon", stream=True, extra=" SLOW")
        it = r.iter_lines()
        got = [next(it) for _ in range(3)]
        r.close()
        s.close()
        print("read", len(got))
    ''')
    ev = events[0] if len(events) == 1 else {}
    check(proc.returncode == 0 and ev.get("decision") == "allowed" and ev.get("cost_source") == "estimate"
          and ev.get("input_tokens", 0) > 0 and ev.get("output_tokens", 0) > 0,
          "abandoned stream: recorded once, as an estimate, with the tokens seen so far",
          (events, proc.stderr))


def test_disable():
    proc, events, _ = scenario("disable", '''
        assert chat(requests.Session(), "off").status_code == 200
    ''', env_extra={"AGENTKAVACH_DISABLE": "1"})
    check(proc.returncode == 0 and events == [], "AGENTKAVACH_DISABLE=1: the call goes through, nothing recorded",
          events)


def test_bad_config():
    bad = "shared_budgets:\n  team: { budget: { type: daily, limit: 5 }, agents: [ghost] }\n"
    proc, _, state = scenario("badconfig", '''
        assert chat(requests.Session(), "bad").status_code == 200
        assert chat(requests.Session(), "bad2").status_code == 200
    ''', config_extra=bad)
    events = read_events(state)      # akctl refuses the bad file too: read with defaults
    lines = [l for l in proc.stderr.splitlines() if "agentkavach" in l]
    check(proc.returncode == 0 and len(lines) == 1 and "ghost" in lines[0] and ":4:" in lines[0],
          "bad config: calls go through, one clear stderr line naming file, line and key", proc.stderr)
    check(len(events) == 2 and all(e["decision"] == "unmetered" and "invalid configuration" in e["reason"]
                                   and e["output_tokens"] == 12 for e in events),
          "bad config: each call is still recorded, as unmetered with the reason", events)


def test_ip_host():
    """A server reached by its IP address sends no SNI: the config's hosts can name the address."""
    script = '''
        import urllib3
        urllib3.disable_warnings()
        body = {"model": "gpt-4o-mini", "max_tokens": 12, "messages": [{"role": "user", "content": "hi TAG=ip"}]}
        r = requests.post("https://127.0.0.1:8443/v1/chat/completions", json=body, verify=False)
        assert r.status_code == 200
    '''
    proc, events, _ = scenario("iphost", script,
                               config_extra="hosts:\n  - { host: 127.0.0.1, port: 8443, provider: openai }\n")
    check(proc.returncode == 0 and len(ok_calls(events)) == 1 and events[0]["host"] == "127.0.0.1",
          "no SNI: a configured IP address is metered", (events, proc.stderr[-300:]))
    proc, events, _ = scenario("iphost-none", script)
    check(proc.returncode == 0 and events == [], "no SNI and not configured: passes through unrecorded",
          events)


def test_body_over_cap():
    proc, events, _ = scenario("overcap", '''
        assert chat(requests.Session(), "big", extra=" " + "word " * 1000).status_code == 200
        assert chat(requests.Session(), "small").status_code == 200
    ''', config_extra="limits:\n  max_body_bytes: 1024\n")
    big = [e for e in events if e["decision"] == "unmetered"]
    check(proc.returncode == 0 and len(events) == 2 and len(big) == 1
          and "over the 1024-byte cap" in big[0]["reason"] and big[0]["output_tokens"] == 12
          and big[0]["cost_source"] == "usage" and big[0]["cost_usd"] > 0,
          "body over the cap: goes through unheld, recorded unmetered with the reason, reply still priced",
          events)
    check(len(ok_calls(events)) == 1, "body over the cap: the next call on a new connection is metered",
          events)


def h2_prefaces():
    """How many HTTP/2 connection prefaces the mock has received so far."""
    with open(os.environ["MOCK_LOG"]) as f:
        return sum(1 for line in f if '"h2_preface"' in line)


H2_CLIENT = textwrap.dedent('''
    import socket, ssl, sys
    ctx = ssl.create_default_context()
    s = ctx.wrap_socket(socket.create_connection(("api.openai.com", 443)),
                        server_hostname="api.openai.com")
    try:
        s.sendall(b"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n" + b"\\x00" * 9)
        s.recv(100)
        print("sent")
    except (ssl.SSLError, OSError) as e:
        print("refused", type(e).__name__)
''')


def test_h2_prior_knowledge():
    """A client that speaks h2 to an LLM host without negotiating it (prior knowledge): under
    `http2: downgrade` it is failed closed and its preface never leaves the process; under
    `http2: native` the shim follows it to the server (tests/integration/
    h2check.py checks what it meters)."""
    before = h2_prefaces()
    plain = subprocess.run([PY, "-c", H2_CLIENT], capture_output=True, text=True, timeout=TIMEOUT_S)
    reached = h2_prefaces() - before
    check(reached == 1 and "sent" in plain.stdout,
          "h2 prior knowledge without the shim: the preface reaches the server (rig)",
          (reached, plain.stdout, plain.stderr[-300:]))
    for mode in ("downgrade", "native"):
        work = tempfile.mkdtemp(dir=os.environ.get("AK_TMP"))
        config = os.path.join(work, "agentkavach.yaml")
        with open(config, "w") as f:
            f.write("version: 1\nstate_dir: %s\nhttp2: %s\n" % (os.path.join(work, "state"), mode))
        before = h2_prefaces()
        proc = subprocess.run([PY, "-c", H2_CLIENT], capture_output=True, text=True,
                              timeout=TIMEOUT_S,
                              env=dict(os.environ, LD_PRELOAD=SHIM, AGENTKAVACH_AGENT="h2",
                                       AGENTKAVACH_CONFIG=config))
        sent = h2_prefaces() - before
        if mode == "downgrade":
            check("refused" in proc.stdout and sent == 0,
                  "h2 prior knowledge with the shim (http2: downgrade): the connection fails "
                  "closed, nothing is sent", (proc.stdout, sent, proc.stderr[-300:]))
        else:
            check("sent" in proc.stdout and sent == 1,
                  "h2 prior knowledge with the shim (http2: native): the preface reaches the "
                  "server", (proc.stdout, sent, proc.stderr[-300:]))


def main():
    for t in (test_bad_config, test_h2_prior_knowledge, test_ip_host, test_body_over_cap, test_threads, test_fork, test_exec, test_identity, test_customer_and_privacy,
              test_abandoned_stream, test_disable):
        try:
            t()
        except Exception as e:  # a crash of one scenario is one failure, not the end of the run
            check(False, t.__name__ + " ran", repr(e))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
