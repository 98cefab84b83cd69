#!/usr/bin/python3
"""scenarios.py - enforcement scenarios beyond the refusal matrix (issue 4, tests 3-8).

  headers     the refusal's HTTP head: 429, Connection: close, x-should-retry: false, no
              retry-after (raw http.client under the shim), per provider
  suspend     akctl suspend / resume / suspend --all across processes; suspend --now cuts a
              stream in flight
  guardrails  max_tokens_per_call, max_calls, max_runtime (clock moved inside one process),
              loop_detection, max_spend_rate and max_errors (both suspend the agent)
  modes       monitor (over budget goes through, "would refuse:"), off (no event, same bytes)
  period      a daily budget turns at 00:00 UTC (AGENTKAVACH_FAKE_NOW_MS), total never does,
              akctl reset zeroes the current period
Clock: every process gets the run's pinned clock (run.sh exports AGENTKAVACH_FAKE_NOW_MS,
tests/akclock.py); a scenario that moves time sets its own instants from that clock.
  onkill      an alert rule with the kill channel: akcollector --once signals a live agent
              process (on_kill.signal) or runs on_kill.command with AK_AGENT
  policy      one budget in force everywhere: a listed agent without `budget:` has
              defaults.budget in the shim and in akctl status, `budget: none` opts out; a
              shared budget's refusal names the agent and `akctl budget set --shared`, which
              lifts it
  expect      curl's Expect: 100-continue with a 2 MB body: no 1 s wait, metered; a refused
              2 MB body never reaches the mock
Usage: scenarios.py NAME...   (inside the sandbox)
"""
import calendar
import os
import subprocess
import sys
import time

import ekit

sys.path.insert(0, os.path.dirname(ekit.IT))
import akclock  # noqa: E402

R = ekit.R
PLAIN = "Write one line about budgets."
SUSPEND_MAX_S = 1.0
REFUSED_PROCESS_MAX_S = 3.0  # a new client process, start-up included, refused (not hung)
BIG = "agents:\n  %s:\n    budget: { type: total, limit: 1000 }\n"
HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS
COLLECTOR = os.path.join(ekit.AK_BUILD, "akcollector")
EXPECT_BODY_BYTES = 2 * 1024 * 1024
EXPECT_SLACK_S = 0.5
LINGER_S = 30
KILL_WAIT_S = 15            # bounds on waits that end as soon as the thing happens


def call(tag, provider="openai", op="chat", stream=False, extra="", **opts):
    return (provider, op, stream, "%s %s TAG=%s" % (PLAIN, extra, tag), opts)


def one(sc, agent, client="curl", provider="openai", stream=False, extra="", env=None, **opts):
    """One call in a new process: (run, mock requests with its tag, tag)."""
    tag = ekit.uniq_tag("s")
    spec, _ = sc.spec([call(tag, provider, "chat" if provider in ("openai", "mistral") else
                            {"anthropic": "messages", "gemini": "generate_content"}[provider],
                            stream, extra, **opts)])
    mark = ekit.LOG.mark()
    run = ekit.run_timed(client, spec, sc.env(agent, env))
    return run, ekit.requests_with_tag(ekit.LOG.since(mark), tag), tag


def last_event(sc):
    evs, _ = sc.events()
    return evs[-1] if evs else {}


# ---------------------------------------------------------------------------- headers

def raw_head(sc, agent, provider, op):
    """The status line and headers of one refused call, read with http.client."""
    import http.client  # noqa: F401 - the script below runs in a child with the shim
    tag = ekit.uniq_tag("h")
    spec, _ = sc.spec([call(tag, provider, op)])
    code = ("import http.client,json,sys,urllib.parse\n"
            "c=json.load(open(sys.argv[1]))['calls'][0]\n"
            "u=urllib.parse.urlsplit(c['url'])\n"
            "h=http.client.HTTPSConnection(u.hostname,443,timeout=10)\n"
            "h.request('POST',u.path+('?'+u.query if u.query else ''),body=c['body'].encode(),"
            "headers=dict(c['headers']))\n"
            "r=h.getresponse()\n"
            "print(json.dumps({'status':r.status,'headers':[[k.lower(),v] for k,v in "
            "r.getheaders()],'body':r.read().decode()}))\n")
    p = subprocess.run([ekit.akclient.PY, "-c", code, spec], env=sc.env(agent),
                       capture_output=True, timeout=ekit.RUN_TIMEOUT_S)
    try:
        return ekit.json.loads(p.stdout)
    except ValueError:
        return {"error": p.stderr.decode(errors="replace")[-400:]}


def t_headers():
    agent = "enf-head"
    sc = ekit.Scene("headers", "agents:\n  %s:\n    budget: { type: total, limit: 0.000001 }\n"
                    % agent)
    for provider, op in ekit.PROVIDER_OPS:
        got = raw_head(sc, agent, provider, op)
        h = dict(got.get("headers") or [])
        try:
            body_ok = ekit.refusal_shape_ok(provider, ekit.json.loads(got.get("body") or ""))
        except ValueError:
            body_ok = False
        R.check(got.get("status") == 429 and h.get("connection", "").lower() == "close"
                and h.get("x-should-retry") == "false" and "retry-after" not in h
                and h.get("content-type", "").startswith("application/json") and body_ok,
                "refusal head for %s: 429, Connection: close, x-should-retry: false, no "
                "retry-after, JSON body in the provider's shape" % provider,
                ekit.json.dumps(got)[:700])


# ---------------------------------------------------------------------------- suspend

def t_suspend():
    a, b = "enf-sus-a", "enf-sus-b"
    sc = ekit.Scene("suspend", BIG % a + "  %s:\n    budget: { type: total, limit: 1000 }\n" % b)
    run, recs, _ = one(sc, a)
    R.check(run.statuses == ["200"], "suspend: agent A's call before suspension is answered",
            str(run.statuses))
    rc, _, err = sc.akctl("suspend", a, "--reason", "enf-test")
    for client in ("curl", "aiohttp"):
        t0 = time.monotonic()
        run, recs, _ = one(sc, a, client=client)
        dt = time.monotonic() - t0
        ev = last_event(sc)
        R.check(rc == 0 and run.statuses == ["429"] and not recs and run.call_times
                and run.call_times[-1] < REFUSED_PROCESS_MAX_S
                and ev.get("decision") == "blocked_suspended"
                and "enf-test" in (ev.get("reason") or ""),
                "suspend: after akctl suspend A, A's next call (new %s process) is refused "
                "with blocked_suspended within %.0f s (call %.3f s, process %.3f s)" % (
                    client, REFUSED_PROCESS_MAX_S, run.call_times[-1] if run.call_times else -1,
                    dt),
                "akctl rc %s %s; statuses %s; mock got %d; event %s" % (
                    rc, err, run.statuses, len(recs), ekit.ev_brief([ev])))
    run, recs, _ = one(sc, b)
    R.check(run.statuses == ["200"], "suspend: agent B is not affected by A's suspension",
            str(run.statuses))
    st = sc.agent_status(a) or {}
    R.check(st.get("suspended") is True, "suspend: akctl status shows A suspended", str(st))
    rc, _, err = sc.akctl("resume", a)
    run, recs, _ = one(sc, a)
    R.check(rc == 0 and run.statuses == ["200"] and len(recs) == 1,
            "suspend: akctl resume A lifts it (next call answered)",
            "rc %s %s statuses %s" % (rc, err, run.statuses))
    rc, _, err = sc.akctl("suspend", "--all")
    ra, reca, _ = one(sc, a)
    ea = last_event(sc)
    rb, recb, _ = one(sc, b, client="requests")
    eb = last_event(sc)
    R.check(rc == 0 and ra.statuses == ["429"] and rb.statuses == ["429"] and not reca
            and not recb and ea.get("decision") == eb.get("decision") == "blocked_suspended",
            "suspend --all: every agent is refused (blocked_suspended)",
            "rc %s %s; A %s B %s; events %s" % (rc, err, ra.statuses, rb.statuses,
                                                ekit.ev_brief([ea, eb])))
    rc, _, err = sc.akctl("resume", "--all")
    run, recs, _ = one(sc, b)
    R.check(rc == 0 and run.statuses == ["200"], "suspend: akctl resume --all lifts it",
            "rc %s %s statuses %s" % (rc, err, run.statuses))
    t_suspend_now(sc, a)


def t_suspend_now(sc, agent):
    """suspend --now while a SLOW LONG stream (60 pieces, 50 ms apart: 3 s, so that akctl's
    start-up on a loaded machine cannot outlast it) is in flight."""
    for client in ("curl", "httpx-async"):
        tag = ekit.uniq_tag("n")
        spec, _ = sc.spec([call(tag, "anthropic", "messages", True, "SLOW LONG", max_tokens=200)])
        # Reference: the full stream's length without suspension.
        state = {}

        def during(p, stamps, out):
            t0 = time.monotonic()
            while not out and time.monotonic() - t0 < ekit.RUN_TIMEOUT_S and p.poll() is None:
                time.sleep(0.02)
            time.sleep(0.2)                  # a few chunks in
            state["rc"] = sc.akctl("suspend", agent, "--now")[0]
            state["t"] = time.monotonic()
        mark = ekit.LOG.mark()
        run = ekit.run_timed(client, spec, sc.env(agent), during=during)
        ended = time.monotonic()
        recs = ekit.requests_with_tag(ekit.LOG.since(mark), tag)
        finished = b"message_stop" in run.out
        after = ended - state.get("t", ended)
        R.check(state.get("rc") == 0 and not finished and run.out and after < SUSPEND_MAX_S,
                "suspend --now: a %s stream in flight is cut (connection ended %.3f s after "
                "the suspend, before message_stop)" % (client, after),
                "akctl rc %s; got %d bytes, finished=%s, statuses %s, mock %s\n%s" % (
                    state.get("rc"), len(run.out), finished, run.statuses,
                    [r.get("status") for r in recs], run.err.decode(errors="replace")[-300:]))
        sc.akctl("resume", agent)


# ---------------------------------------------------------------------------- guardrails

def guard_scene(name, guardrails, budget="{ type: total, limit: 1000 }"):
    agent = "enf-g-" + name
    sc = ekit.Scene(name, "agents:\n  %s:\n    budget: %s\n    guardrails:\n%s"
                    % (agent, budget, "".join("      %s\n" % g for g in guardrails)))
    return sc, agent


def run_agent(sc, agent, calls, options=None, env=None):
    spec, specs = sc.spec(calls, options)
    mark = ekit.LOG.mark()
    run = ekit.run_timed("agent", spec, sc.env(agent, env))
    return run, ekit.LOG.since(mark)


def check_guard(name, run, evs, want_statuses, decision, reason_word):
    blocked = [e for e in evs if e.get("decision", "").startswith("blocked")]
    R.check(run.statuses == want_statuses and blocked
            and all(e.get("decision") == decision and reason_word in (e.get("reason") or "")
                    for e in blocked),
            "guardrail %s: statuses %s, refusal is %s naming %s" % (
                name, want_statuses, decision, reason_word),
            "statuses %s\nevents %s\nstderr %s" % (run.statuses, ekit.ev_brief(evs),
                                                   run.err.decode(errors="replace")[-300:]))


def t_guardrails():
    sc, a = guard_scene("tokens", ["max_tokens_per_call: 50"])
    t1, t2 = ekit.uniq_tag("g"), ekit.uniq_tag("g")
    run, recs = run_agent(sc, a, [call(t1, max_tokens=100), call(t2, max_tokens=20)])
    evs, _ = sc.events()
    check_guard("max_tokens_per_call", run, evs, ["429", "200"], "blocked_guardrail",
                "max_tokens_per_call")
    R.check(not ekit.requests_with_tag(recs, t1), "guardrail max_tokens_per_call: the refused "
            "call never reached the mock")

    sc, a = guard_scene("calls", ["max_calls: 2"])
    run, _ = run_agent(sc, a, [call(ekit.uniq_tag("g")) for _ in range(3)])
    evs, _ = sc.events()
    check_guard("max_calls", run, evs, ["200", "200", "429"], "blocked_guardrail", "max_calls")

    sc, a = guard_scene("runtime", ["max_runtime: 60"])
    t0 = akclock.now_ms()
    run, _ = run_agent(sc, a, [call(ekit.uniq_tag("g"), fake_now_ms=t0),
                               call(ekit.uniq_tag("g"), fake_now_ms=t0 + 30 * 1000),
                               call(ekit.uniq_tag("g"), fake_now_ms=t0 + 61 * 1000)],
                       env={"AGENTKAVACH_FAKE_NOW_MS": str(t0)})
    evs, _ = sc.events()
    check_guard("max_runtime (clock moved 61 s inside one process)", run, evs,
                ["200", "200", "429"], "blocked_guardrail", "max_runtime")

    sc, a = guard_scene("loop", ["loop_detection: { window: 5, max_repeats: 2 }"])
    same = ekit.uniq_tag("l")
    run, recs = run_agent(sc, a, [call(same) for _ in range(3)] + [call(ekit.uniq_tag("l"))])
    evs, _ = sc.events()
    check_guard("loop_detection (the same body 3 times, max_repeats 2)", run, evs,
                ["200", "200", "429", "200"], "blocked_guardrail", "loop_detection")
    R.check(len(ekit.requests_with_tag(recs, same)) == 2,
            "guardrail loop_detection: the repeated body reached the mock twice only",
            str(len(ekit.requests_with_tag(recs, same))))

    sc, a = guard_scene("rate", ["max_spend_rate: { usd: 0.000005, per: 60 }"])
    run, _ = run_agent(sc, a, [call(ekit.uniq_tag("g")), call(ekit.uniq_tag("g"))])
    evs, _ = sc.events()
    st = sc.agent_status(a) or {}
    check_guard("max_spend_rate", run, evs, ["200", "429"], "blocked_suspended",
                "max_spend_rate")
    R.check(st.get("suspended") is True, "guardrail max_spend_rate suspends the agent "
            "(akctl status)", str(st))

    sc, a = guard_scene("errors", ["max_errors: { count: 2, per: 60 }"])
    run, _ = run_agent(sc, a, [call(ekit.uniq_tag("g"), extra="ERROR500"),
                               call(ekit.uniq_tag("g"), extra="ERROR500"),
                               call(ekit.uniq_tag("g"))])
    evs, _ = sc.events()
    st = sc.agent_status(a) or {}
    check_guard("max_errors (2 x HTTP 500)", run, evs, ["500", "500", "429"],
                "blocked_suspended", "max_errors")
    R.check(st.get("suspended") is True, "guardrail max_errors suspends the agent "
            "(akctl status)", str(st))


# ---------------------------------------------------------------------------- policy

def t_policy():
    listed, free = "enf-pol-listed", "enf-pol-free"
    sc = ekit.Scene("policy", "defaults:\n  budget: { type: total, limit: 0.000001 }\n"
                    "agents:\n  %s:\n    guardrails: { max_tokens_per_call: 8000 }\n"
                    "  %s:\n    budget: none\n" % (listed, free))
    run, recs, _ = one(sc, listed)
    ev = last_event(sc)
    st = sc.agent_status(listed) or {}
    R.check(run.statuses == ["429"] and not recs and ev.get("decision") == "blocked_budget",
            "policy: a listed agent without budget: is held to defaults.budget by the shim",
            "statuses %s mock %d event %s" % (run.statuses, len(recs), ekit.ev_brief([ev])))
    R.check(st.get("limit_usd") == 0.000001 and st.get("budget_source") == "default",
            "policy: akctl status shows the same limit for it (source default)", str(st))
    run, recs, _ = one(sc, free)
    st = sc.agent_status(free) or {}
    R.check(run.statuses == ["200"] and len(recs) == 1 and st.get("limit_usd") is None,
            "policy: budget: none opts a listed agent out (call allowed, no limit in status)",
            "statuses %s status %s" % (run.statuses, st))

    agent = "enf-pol-member"
    sc = ekit.Scene("policy-shared", "agents:\n  %s:\n    budget: { type: total, limit: 1000 }\n"
                    "shared_budgets:\n  pol-team: { budget: { type: total, limit: 0.000001 }, "
                    "agents: [%s] }\n" % (agent, agent))
    run, recs, _ = one(sc, agent)
    reason = last_event(sc).get("reason") or ""
    R.check(run.statuses == ["429"] and not recs and "'pol-team'" in reason
            and "agent '%s'" % agent in reason
            and "akctl budget set --shared pol-team --total USD" in reason,
            "policy: a shared budget's refusal names the budget, the agent and how to lift it",
            reason)
    rc, out, err = sc.akctl("budget", "set", "--shared", "pol-team", "--total", "100")
    run, recs, _ = one(sc, agent)
    shared = [s for s in (sc.status() or {}).get("shared_budgets", []) if s["name"] == "pol-team"]
    R.check(rc == 0 and run.statuses == ["200"] and len(recs) == 1 and shared
            and shared[0]["limit_usd"] == 100 and shared[0]["budget_source"] == "override",
            "policy: akctl budget set --shared lifts it (next call 200, status shows the override)",
            "rc %d %s %s statuses %s shared %s" % (rc, out, err, run.statuses, shared))
    rc, out, err = sc.akctl("budget", "set", "--shared", "no-such", "--total", "1")
    R.check(rc == 1 and "no shared budget 'no-such'" in err,
            "policy: akctl budget set --shared on an unknown name exits 1 with one line", err)


# ---------------------------------------------------------------------------- modes

def t_modes():
    agent = "enf-mon"
    tiny = "agents:\n  %s:\n    budget: { type: total, limit: 0.000001 }\n" % agent
    sc = ekit.Scene("monitor", tiny, mode="monitor")
    for client in ("curl", "aiohttp"):
        run, recs, _ = one(sc, agent, client=client)
        ev = last_event(sc)
        R.check(run.statuses == ["200"] and len(recs) == 1 and ev.get("decision") == "allowed"
                and (ev.get("reason") or "").startswith("would refuse:")
                and "budget" in ev.get("reason", ""),
                "mode monitor (%s): a call over budget goes through (mock got it, 200), event "
                "allowed with reason 'would refuse: ... budget'" % client,
                "statuses %s mock %d event %s" % (run.statuses, len(recs), ekit.ev_brief([ev])))
    sc = ekit.Scene("off", tiny, mode="off")
    for client, stream in (("curl", False), ("requests", True)):
        tag_a, tag_b = ekit.uniq_tag("o"), ekit.uniq_tag("o")
        spec_a, _ = sc.spec([call(tag_a, stream=stream)])
        spec_b, _ = sc.spec([call(tag_b, stream=stream)])
        plain = ekit.run_timed(client, spec_a, ekit.akcheck.base_env())
        shim = ekit.run_timed(client, spec_b, sc.env(agent))
        evs, err = sc.events()
        R.check(shim.statuses == ["200"] and shim.out == plain.out and not evs and not err,
                "mode off (%s %s): over budget still answered, bytes identical to no shim, no "
                "event" % (client, "stream" if stream else "non-stream"),
                "statuses %s; same bytes %s; events %s %s" % (
                    shim.statuses, shim.out == plain.out, ekit.ev_brief(evs), err))


# ---------------------------------------------------------------------------- period

def t_period():
    d, t = "enf-day", "enf-total"
    prompt = "%s  TAG=%s" % (PLAIN, "x" * 9)
    one_call = ekit.predicted_cost_micros("openai", "chat", prompt, 12)
    lim = ekit.usd(int(one_call * 1.5))
    sc = ekit.Scene("period", "agents:\n  %s:\n    budget: { type: daily, limit: %s }\n"
                    "  %s:\n    budget: { type: total, limit: %s }\n" % (d, lim, t, lim))
    day = calendar.timegm((2030, 3, 14, 0, 0, 0)) * 1000
    noon, next_day = day + 12 * HOUR_MS, day + DAY_MS + 1000
    for agent in (d, t):
        got = []
        for now in (noon, noon + 1000, next_day):
            run, recs, _ = one(sc, agent, env={"AGENTKAVACH_FAKE_NOW_MS": str(now)})
            got.append(run.statuses[0] if run.statuses else "none")
        want = ["200", "429", "200"] if agent == d else ["200", "429", "429"]
        R.check(got == want, "period: %s budget exhausted on day D; at D+1 00:00:01 UTC the call "
                "is %s" % ("a daily" if agent == d else "a total",
                           "answered" if agent == d else "still refused (total never turns)"),
                "statuses at D 12:00, D 12:00:01, D+1 00:00:01: %s" % got)
    env = {"AGENTKAVACH_FAKE_NOW_MS": str(next_day)}
    rc, _, err = sc.akctl("reset", t, env_extra=env)
    st = [a for a in (sc.status() or {}).get("agents", []) if a.get("agent") == t]
    run, recs, _ = one(sc, t, env=env)
    R.check(rc == 0 and run.statuses == ["200"] and len(recs) == 1,
            "period: akctl reset zeroes the current period (the next call is answered)",
            "rc %s %s; status %s; statuses %s" % (rc, err, st, run.statuses))


# ---------------------------------------------------------------------------- on_kill

def wait_file(path, needle, timeout_s):
    """The text of path once it holds needle (or whatever it holds when timeout_s is up)."""
    end = time.monotonic() + timeout_s
    while True:
        text = open(path).read() if os.path.exists(path) else ""
        if needle in text or time.monotonic() >= end:
            return text
        time.sleep(0.05)


def t_onkill():
    """The agent spends, then its budget is lowered below what it spent (an agent over its
    budget: in enforce mode reservations keep spend under the limit, and refused calls never
    trigger the kill channel, see collector/chan_kill.c), then akcollector --once."""
    agent = "enf-kill"
    for variant in ("signal", "command"):
        sc = ekit.Scene("onkill", "")
        cmd_out = os.path.join(sc.work, "command.out")
        sig_file = os.path.join(sc.work, "signal.out")
        on_kill = "{ signal: TERM }" if variant == "signal" else \
            "{ command: \"env > %s.part && mv %s.part %s\" }" % (cmd_out, cmd_out, cmd_out)
        with open(sc.config, "a") as f:
            f.write("agents:\n  %s:\n    budget: { type: total, limit: 1000 }\n"
                    "    alerts:\n      - { threshold: 1.0, channels: [kill] }\n"
                    "    on_kill: %s\n" % (agent, on_kill))
        spec, _ = sc.spec([call(ekit.uniq_tag("k")), call(ekit.uniq_tag("k"))],
                          {"linger": LINGER_S, "signal_file": sig_file})
        p = ekit.start("agent", spec, sc.env(agent))
        line = p.stderr.readline()
        while line and not line.startswith(b"ready"):
            line = p.stderr.readline()
        brc = sc.akctl("budget", "set", agent, "--total", "0.000001")[0]
        col = subprocess.run([COLLECTOR, "--config", sc.config, "--once"], capture_output=True,
                             env=sc.env(agent, {"LD_PRELOAD": ""}), timeout=ekit.RUN_TIMEOUT_S)
        try:
            rc = p.wait(timeout=KILL_WAIT_S if variant == "signal" else 0.5)
        except subprocess.TimeoutExpired:
            rc = None
        diag = "agent rc %s; budget set rc %s; collector rc %s %s" % (
            rc, brc, col.returncode, col.stderr.decode(errors="replace")[-400:])
        if variant == "signal":
            R.check(line.startswith(b"ready") and rc == 143 and os.path.exists(sig_file),
                    "on_kill signal TERM: akcollector --once sends SIGTERM to the live agent "
                    "process that is over its budget", diag)
        else:
            # the collector starts the command detached: wait for it (bounded), never sleep
            text = wait_file(cmd_out, "AK_", KILL_WAIT_S)
            R.check("AK_AGENT=%s" % agent in text and "AK_REASON=" in text
                    and "AK_SPENT_USD=" in text,
                    "on_kill command: runs with AK_AGENT, AK_REASON, AK_SPENT_USD",
                    "command output %r; %s" % (text[:300], diag))
        if p.poll() is None:
            p.kill()
            p.wait()
        st = sc.agent_status(agent) or {}
        R.check(st.get("suspended") is True, "on_kill (%s): the kill channel suspends the agent"
                % variant, str(st))


# ---------------------------------------------------------------------------- expect

def t_expect():
    agent = "enf-exp"
    sc = ekit.Scene("expect", BIG % agent + "  enf-exp-tiny:\n    budget: { type: total, "
                    "limit: 0.000001 }\n")
    filler = "lorem ipsum " * (EXPECT_BODY_BYTES // 12)
    tags = [ekit.uniq_tag("e") for _ in range(3)]
    spec_p, _ = sc.spec([call(tags[0], extra=filler)])
    spec_s, _ = sc.spec([call(tags[1], extra=filler)])
    mark = ekit.LOG.mark()
    plain = ekit.run_timed("curl", spec_p, ekit.akcheck.base_env())
    shim = ekit.run_timed("curl", spec_s, sc.env(agent))
    recs = ekit.LOG.since(mark)
    evs, _ = sc.events()
    R.check(plain.statuses == shim.statuses == ["200"] and shim.total <= plain.total
            + EXPECT_SLACK_S,
            "expect 100-continue: a 2 MB curl call takes at most %.1f s longer with the shim "
            "(plain %.3f s, shim %.3f s)" % (EXPECT_SLACK_S, plain.total, shim.total),
            "statuses %s %s" % (plain.statuses, shim.statuses))
    rec = ekit.requests_with_tag(recs, tags[1])
    R.check(len(evs) == 1 and rec and evs[0].get("input_tokens") == rec[0]["usage"]["input"]
            and evs[0].get("decision") == "allowed",
            "expect 100-continue: the 2 MB call is metered with the mock's usage",
            ekit.json.dumps(evs)[:500])
    spec_r, _ = sc.spec([call(tags[2], extra=filler)])
    mark = ekit.LOG.mark()
    ref = ekit.run_timed("curl", spec_r, sc.env("enf-exp-tiny"))
    recs = ekit.LOG.since(mark)
    full = ekit.requests_with_tag(recs, tags[2])
    R.check(ref.statuses == ["429"] and not full,
            "expect 100-continue: a refused 2 MB call gets 429 (%.3f s) and its body never "
            "reaches the mock" % ref.total,
            "statuses %s; complete requests with the tag %d; records %s" % (
                ref.statuses, len(full), [r.get("kind") for r in recs]))


SCENARIOS = {"headers": t_headers, "suspend": t_suspend, "guardrails": t_guardrails,
             "modes": t_modes, "period": t_period, "onkill": t_onkill, "expect": t_expect,
             "policy": t_policy}


def main(argv):
    for name in argv[1:]:
        if name not in SCENARIOS:
            print(__doc__, file=sys.stderr)
            return 2
        SCENARIOS[name]()
    return 1 if R.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
