#!/usr/bin/python3
"""refuse.py - budget refusals seen by every real client (issue 4, test 1).

For each client and each provider it speaks, stream and not, with a total budget of about one
and a half calls:
  run 1 (one client object, 3 calls): call 1 is answered; call 2, on the kept-alive connection
        (the case that hangs readiness-driven clients), is refused with a 429 in the
        provider's own error shape within REFUSE_MAX_S; call 3 (a new connection, since the
        refusal says Connection: close) is refused too;
  run 2 (a new process, fresh connection): refused the same way;
  the mock never saw the refused calls (by tag); each refusal has a blocked_budget event whose
        reason names the agent and the budget;
  run 3 after `akctl budget set AGENT --total 1`: a new connection is answered (200).
Usage: refuse.py [--no-recover] [--tls12] CLIENT...   (--tls12 only names the checks: the
       mock is capped by MOCK_TLS_MAX=1.2 in the caller)   (inside the sandbox)
"""
import sys

import ekit

REFUSE_MAX_S = 4.0      # generous (1.3 s seen at load 13 on 2 cores, start-up included) yet
                        # under the 6 s a hung refusal takes (mock DEAF_HOLD_S)
MAX_TOKENS = 12
BUDGET_CALLS = 1.5                      # the budget fits one call, not two
RAISED_USD = "1"


def check_run_refusals(client, label, provider, run, want_statuses, agent):
    R = ekit.R
    R.check(not isinstance(run.rc, str), "%s: client finished (no hang)" % label,
            "rc=%s stderr=%s" % (run.rc, run.err[-400:]))
    R.check(run.statuses == want_statuses, "%s: statuses %s" % (label, want_statuses),
            "got %s\nstderr: %s" % (run.statuses, run.err.decode(errors="replace")[-500:]))
    slow = [(i + 1, round(t, 3)) for i, (s, t) in enumerate(zip(run.statuses, run.call_times))
            if s == "429" and t > REFUSE_MAX_S]
    times = ", ".join("%.3f" % t for t in run.call_times)
    R.check(not slow and "429" in run.statuses,
            "%s: each refusal arrives within %.0f s (call times %s s)" % (
                label, REFUSE_MAX_S, times), "slow refusals (call, s): %s" % slow)
    bodies = ekit.refusals_in(provider, run.out, sdk_unwrapped=(client == "node-openai"))
    n429 = run.statuses.count("429")
    R.check(len(bodies) == n429 and all(agent in ekit.refusal_message(b) for b in bodies),
            "%s: %d refusal bodies in the %s error shape naming the agent" % (
                label, n429, provider),
            "found %d: %s\nout tail: %r" % (len(bodies), bodies[:2], run.out[-300:]))


def case(client, provider, op, stream, recover, suffix):
    R = ekit.R
    s = "stream" if stream else "non-stream"
    name = "%s %s/%s %s%s" % (client, provider, op, s, suffix)
    agent = "enf-%s" % client
    prompt = "Write one line about budgets. TAG=%s" % ("x" * 12)
    one = ekit.predicted_cost_micros(provider, op, prompt, MAX_TOKENS)
    # room for the first call's reservation (its worst case), not for a second call after it
    reserve = ekit.predicted_reserve_micros(provider, op, prompt, MAX_TOKENS)
    limit = ekit.usd(max(int(one * BUDGET_CALLS), reserve + one // 2))
    sc = ekit.Scene(name, "agents:\n  %s:\n    budget: { type: total, limit: %s }\n"
                    % (agent, limit))
    tags = [ekit.uniq_tag("k") for _ in range(3)]
    spec, _ = sc.spec([(provider, op, stream, "Write one line about budgets. TAG=%s" % t,
                        {"max_tokens": MAX_TOKENS}) for t in tags])
    mark = ekit.LOG.mark()
    run = ekit.run_timed(client, spec, sc.env(agent))
    recs = ekit.LOG.since(mark)
    label = "%s keep-alive call 2 of 3" % name
    check_run_refusals(client, label, provider, run, ["200", "429", "429"], agent)
    got = [len(ekit.requests_with_tag(recs, t)) for t in tags]
    R.check(got == [1, 0, 0], "%s: only call 1 reached the mock" % label,
            "requests per call (by tag): %s" % got)
    # run 2: a fresh process, fresh connection
    t2 = ekit.uniq_tag("f")
    spec2, _ = sc.spec([(provider, op, stream, "Write one line about budgets. TAG=%s" % t2,
                         {"max_tokens": MAX_TOKENS})])
    mark = ekit.LOG.mark()
    run2 = ekit.run_timed(client, spec2, sc.env(agent))
    recs = ekit.LOG.since(mark)
    label2 = "%s fresh connection" % name
    check_run_refusals(client, label2, provider, run2, ["429"], agent)
    R.check(not ekit.records_with_tag(recs, t2), "%s: the refused call never reached the mock"
            % label2, str(recs)[:400])
    evs, err = sc.events()
    blocked = [e for e in evs if e.get("decision") == "blocked_budget"]
    R.check(err is None and len(evs) == 4 and len(blocked) == 3
            and all(e.get("status") == 429 and agent in (e.get("reason") or "")
                    and "budget" in (e.get("reason") or "") for e in blocked),
            "%s: 1 allowed + 3 blocked_budget events (status 429, reason names agent and "
            "budget)" % name, err or ekit.ev_brief(evs))
    if not recover:
        return
    rc, _, e = sc.akctl("budget", "set", agent, "--total", RAISED_USD)
    t3 = ekit.uniq_tag("r")
    spec3, _ = sc.spec([(provider, op, stream, "Write one line about budgets. TAG=%s" % t3,
                         {"max_tokens": MAX_TOKENS})])
    mark = ekit.LOG.mark()
    run3 = ekit.run_timed(client, spec3, sc.env(agent))
    recs = ekit.LOG.since(mark)
    R.check(rc == 0 and run3.statuses == ["200"] and len(ekit.requests_with_tag(recs, t3)) == 1,
            "%s: after akctl budget set the next call (new connection) is answered" % name,
            "akctl rc %s %s; statuses %s" % (rc, e, run3.statuses))


def main(argv):
    recover = "--no-recover" not in argv
    suffix = " TLS 1.2" if "--tls12" in argv else ""
    if "--deaf" in argv:
        suffix = " (server ignores close_notify)"
    only = [a.split("=", 1)[1] for a in argv[1:] if a.startswith("--provider=")]
    clients = [a for a in argv[1:] if not a.startswith("--")]
    for client in clients:
        ok, why = ekit.akclient.client_available(client)
        if not ekit.R.check(ok, "%s: client available" % client, why):
            continue
        for provider, op in ekit.PROVIDER_OPS:
            if not ekit.akclient.client_supports(client, provider, op) or \
                    (only and provider not in only):
                continue
            for stream in (False, True):
                case(client, provider, op, stream, recover, suffix)
    return 1 if ekit.R.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
