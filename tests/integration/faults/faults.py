#!/usr/bin/python3
"""faults.py - the fault matrix (issue 13): what an agent sees when agentkavach's own parts
fail, with real clients against the mock. For each fault: the agent completes (on_error: open)
or gets the refusal (on_error: closed), promptly; the reason is logged once; nothing committed
is lost.
Usage: faults.py CASE...   (inside the sandbox; $AK_FAULT_HOLD = the built ledger_hold)
Cases: ledger-held (a SIGSTOPped process inside a write txn), ledger-held-closed.
"""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "enforce"))
import ekit  # noqa: E402

R = ekit.R
HOLD = os.environ.get("AK_FAULT_HOLD", "")
MAX_TOKENS = 12
CALL_MAX_S = 2.0                 # a call behind a held ledger: the bound is 50 ms
LINGER_S = 4
RECORDED_WAIT_S = 10


def calls_for(sc, n, prefix):
    tags = [ekit.uniq_tag(prefix) for _ in range(n)]
    calls = [("openai", "chat", False, "Say hi. TAG=%s" % t, {"max_tokens": MAX_TOKENS})
             for t in tags]
    return tags, calls


def hold_start(state, stop=True):
    p = subprocess.Popen([HOLD, state] + (["--stop"] if stop else []), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = p.stdout.readline()
    if line.strip() != b"held":
        p.kill()
        return None
    if stop:                      # wait until it is really stopped
        for _ in range(200):
            with open("/proc/%d/stat" % p.pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "T":
                    break
            time.sleep(0.01)
    return p


def hold_end(p):
    p.send_signal(signal.SIGCONT)
    p.stdin.close()
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def log_lines(err, pattern):
    return [l for l in err.decode(errors="replace").splitlines() if re.search(pattern, l)]


def case_ledger_held(closed):
    name = "ledger held by a stopped process%s" % (" (on_error: closed)" if closed else "")
    agent = "fault-held"
    sc = ekit.Scene(name, "agents:\n  %s:\n    budget: { type: daily, limit: 50 }\n" % agent)
    if closed:
        with open(sc.config) as f:
            text = f.read().replace("on_error: open", "on_error: closed")
        with open(sc.config, "w") as f:
            f.write(text)
    # a first call makes the ledger exist, as on a host in use
    spec0, _ = sc.spec(calls_for(sc, 1, "h")[1])
    run0 = ekit.run_timed("agent", spec0, sc.env(agent))
    R.check(run0.statuses == ["200"], "%s: a call before the stall is answered" % name,
            run0.err[-300:])
    hold = hold_start(sc.state)
    R.check(hold is not None, "%s: the holder has the write lock and is stopped" % name)
    if hold is None:
        return
    tags, calls = calls_for(sc, 2, "h")
    spec, _ = sc.spec(calls, {"linger": LINGER_S})
    released = []

    def during(p, stamps, out):
        end = time.monotonic() + ekit.RUN_TIMEOUT_S
        while time.monotonic() < end and not any(l.startswith("ready") for _, l in stamps):
            time.sleep(0.02)
        hold_end(hold)            # the ledger is free again while the agent still runs
        released.append(time.monotonic())
    run = ekit.run_timed("agent", spec, sc.env(agent), during=during)
    if hold.poll() is None:
        hold_end(hold)
    want = ["429", "429"] if closed else ["200", "200"]
    R.check(run.statuses == want, "%s: the calls get %s" % (name, want),
            "got %s: %s" % (run.statuses, run.err[-500:]))
    slow = [round(t, 3) for t in run.call_times if t > CALL_MAX_S]
    R.check(not slow, "%s: no call waits on the held ledger (call times %s s)" % (
        name, ", ".join("%.3f" % t for t in run.call_times)), "slow: %s" % slow)
    said = log_lines(run.err, r"write lock is held|budget check failed")
    R.check(1 <= len(said) <= 2 and len(log_lines(run.err, r"write lock is held")) <= 1,
            "%s: the stall is logged once" % name, "\n".join(said)[:600])
    evs, _ = sc.events()
    mine = [e for e in evs if e.get("agent") == agent]
    if closed:
        R.check(len(mine) >= 1 and all(e.get("status") == 200 for e in mine[:1]),
                "%s: refused calls reached nobody; the earlier call is kept" % name,
                ekit.ev_brief(mine))
        return
    R.check(len(mine) == 3 and all(e.get("decision") == "allowed" for e in mine),
            "%s: both stalled calls are recorded once the ledger is free (3 events)" % name,
            ekit.ev_brief(mine))
    st = sc.agent_status(agent) or {}
    R.check(st.get("calls") == 3 and float(st.get("spent_usd") or 0) > 0,
            "%s: the budget counts all 3 calls" % name, str(st))


CASES = {
    "ledger-held": lambda: case_ledger_held(False),
    "ledger-held-closed": lambda: case_ledger_held(True),
}


def main(argv):
    for name in argv[1:] or sorted(CASES):
        CASES[name]()
    return 1 if R.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
