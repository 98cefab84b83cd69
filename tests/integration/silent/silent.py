#!/usr/bin/python3
"""silent.py - requests that used to pass with no event and no log (issue 13): a body cJSON
refuses (lone \\ud800), an unknown Content-Encoding, an over-long target, a second request in the
same write as a rewritten one (it was dropped), a GET plus the start of a POST in one write
(the parser lost step). Each must be answered as without the shim, and be metered or recorded
unmetered with its reason. Usage: silent.py  (inside the sandbox)"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "enforce"))
import ekit  # noqa: E402

R = ekit.R
RAW = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rawclient.py")
RUN_S = 30

# case: (statuses the client must read, [(tag, decision, reason part)] events that must exist)
CASES = {
    "lone-surrogate": (None, [("sur1", "unmetered", "not JSON")]),
    "unknown-encoding": (None, [("enc1", "unmetered", "content-encoding")]),
    "long-target": (None, [("lng1", "unmetered", "target too long")]),
    "pipelined-rewrite": ("200 200", [(None, "allowed", None), (None, "unmetered", "pipelined")]),
    "get-then-post": (None, [(None, "allowed", None)]),     # the mock has no GET /v1/models
}


def run(case, sc, agent, shim):
    env = sc.env(agent) if shim else ekit.akcheck.base_env()
    try:
        p = subprocess.run([ekit.akclient.PY, RAW, case, sc.key], env=env, capture_output=True,
                           timeout=RUN_S)
    except subprocess.TimeoutExpired:
        return "timeout", b""
    return p.stdout.decode().strip().replace("statuses: ", ""), p.stderr


def main():
    for case, (want_st, want_ev) in sorted(CASES.items()):
        agent = "silent-" + case
        sc = ekit.Scene(case, "agents:\n  %s:\n    budget: { type: daily, limit: 50 }\n" % agent)
        plain, _ = run(case, sc, agent, False)
        got, err = run(case, sc, agent, True)
        R.check(got == plain and (want_st is None or got == want_st),
                "%s: the client reads what it reads without the shim (%s)" % (case, got),
                "without: %s, with: %s\n%s" % (plain, got, err.decode(errors="replace")[-400:]))
        evs, _ = sc.events()
        mine = [e for e in evs if e.get("agent") == agent]
        for tag, decision, reason in want_ev:
            hit = [e for e in mine if e.get("decision") == decision
                   and (reason is None or reason.lower() in (e.get("reason") or "").lower())]
            R.check(len(hit) >= 1, "%s: an event %s%s" % (case, decision,
                                                           " (%s)" % reason if reason else ""),
                    ekit.ev_brief(mine))
    return 1 if R.failed else 0


if __name__ == "__main__":
    sys.exit(main())
