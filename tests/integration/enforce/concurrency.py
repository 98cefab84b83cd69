#!/usr/bin/python3
"""concurrency.py - many processes on one shared budget (issue 4, test 2).

Each round: a fresh state, PROCS agent processes (enforce/agent.py, one agent name each, all
in one shared budget that fits about half of their calls) making CALLS calls at the same time.
After the round:
  * the shared budget's recorded spend never exceeds its limit;
  * the sum of the events' cost equals the mock's own total for the calls it answered (mock
    log usage x pricing/prices.yaml), and the shared spend equals that sum;
  * every answered call has an allowed event, every refused one a blocked_budget event, and
    the mock never saw a refused call;
  * no reservation is left over (akctl status --json: reserved_usd 0 for every agent).
Usage: concurrency.py ROUNDS   (inside the sandbox)
"""
import sys
import time

import ekit

R = ekit.R
PROCS = 8
CALLS = 25
MAX_TOKENS = 12
FIT_CALLS = PROCS * CALLS // 2 + 0.5  # the shared budget fits this many calls (not a whole
                                      # number: the half call must never be spent)
PROMPT = "Write one line about budgets. TAG=%s"


def round_once(n):
    agents = ["enf-c%d" % i for i in range(PROCS)]
    one = ekit.predicted_cost_micros("openai", "chat", PROMPT % ("x" * 9), MAX_TOKENS)
    limit_micros = int(one * FIT_CALLS)
    sc = ekit.Scene("concurrency", "shared_budgets:\n  team:\n    budget: { type: total, "
                    "limit: %s }\n    agents: [%s]\nagents:\n%s" % (
                        ekit.usd(limit_micros), ", ".join(agents),
                        "".join("  %s: {}\n" % a for a in agents)))
    tags = {}
    procs = []
    mark = ekit.LOG.mark()
    started = time.monotonic()
    for a in agents:
        tags[a] = [ekit.uniq_tag("c") for _ in range(CALLS)]
        spec, _ = sc.spec([("openai", "chat", False, PROMPT % t, {"max_tokens": MAX_TOKENS})
                           for t in tags[a]])
        procs.append(ekit.start("agent", spec, sc.env(a)))
    outs = [p.communicate(timeout=ekit.RUN_TIMEOUT_S * 2) for p in procs]
    took = time.monotonic() - started
    recs = [r for r in ekit.LOG.since(mark) if r.get("kind") == "request"]
    statuses = [ekit.re.findall(r"^status: (\d+)$", e.decode(), ekit.re.M) for _, e in outs]
    flat = [s for st in statuses for s in st]
    mine = {t for a in agents for t in tags[a]}
    answered = [r for r in recs if r.get("tag") in mine]
    mock_micros = sum(ekit.mock_cost_micros("openai", r) for r in answered)
    evs, err = sc.events()
    ev_micros = round(sum((e.get("cost_usd") or 0) for e in evs) * 1e6)
    # a call that found the ledger's lock busy past limits.ledger_wait_ms went out unchecked
    # (on_error: open): its event says so and its cost counts; only those may pass the limit
    busy = [e for e in evs if e.get("decision") == "unmetered"
            and (e.get("reason") or "").startswith("ledger busy")]
    busy_micros = round(sum((e.get("cost_usd") or 0) for e in busy) * 1e6)
    allowed = [e for e in evs if e.get("decision") == "allowed"] + busy
    blocked = [e for e in evs if e.get("decision") == "blocked_budget"]
    st = sc.status() or {}
    shared = [b for b in st.get("shared_budgets", []) if b.get("name") == "team"]
    spent = round(shared[0]["spent_usd"] * 1e6) if shared else None
    reserved = [(a.get("agent"), a.get("reserved_usd")) for a in st.get("agents", [])
                if a.get("agent") in agents]
    label = "concurrency round %d (%d processes x %d calls, %.2f s)" % (n, PROCS, CALLS, took)
    problems = []
    if len(flat) != PROCS * CALLS or set(flat) - {"200", "429"}:
        problems.append("statuses: %d, kinds %s" % (len(flat), sorted(set(flat))))
    if spent is None or spent > limit_micros + busy_micros:
        problems.append("shared spent %s > limit %d micro-USD (+%d unchecked: ledger busy)"
                        % (spent, limit_micros, busy_micros))
    if ev_micros != mock_micros or spent != mock_micros:
        problems.append("event costs %d, mock total %d, shared spent %s micro-USD"
                        % (ev_micros, mock_micros, spent))
    if len(allowed) != len(answered) or flat.count("200") != len(answered) \
            or len(blocked) != flat.count("429"):
        problems.append("allowed events %d, blocked %d, mock answered %d, statuses 200 %d / "
                        "429 %d" % (len(allowed), len(blocked), len(answered), flat.count("200"),
                                    flat.count("429")))
    if len(reserved) != PROCS or any(r != 0 for _, r in reserved):
        problems.append("reservations left: %s" % reserved)
    if err:
        problems.append(err)
    R.check(not problems, "%s: spend %s <= limit %d micro-USD%s, event costs = mock total, no "
            "reservation left" % (label, spent, limit_micros,
                                  " + %d from %d calls the busy ledger let through unchecked"
                                  % (busy_micros, len(busy)) if busy else ""),
            "\n".join(problems))
    return took


def main(argv):
    rounds = int(argv[1]) if len(argv) > 1 else 1
    times = [round_once(i + 1) for i in range(rounds)]
    R.note("concurrency: %d rounds, %.2f s per round on average" % (
        rounds, sum(times) / len(times)))
    return 1 if R.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
