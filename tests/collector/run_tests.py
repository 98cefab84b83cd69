"""run_tests.py - end-to-end tests of akcollector against loopback receivers.

Needs AK_BUILD (with akcollector), AK_TMP (scratch) and AKFILL (the akfill helper, built by
tests/integration/t_collector.sh). Prints one line per check; exits 1 when any failed.
Every wait is bounded; nothing depends on a race being won or lost.
Clock: every process here (akcollector, akfill) reads the pinned clock AGENTKAVACH_FAKE_NOW_MS
of ENV (the runner's, or one pinned here when run by hand; tests/akclock.py), and every
expectation about dates and signature freshness is computed from that clock, never from the
machine's date. The alert scenario starts its own clock at noon so that it never straddles
00:00 UTC, whatever instant the run is pinned to.
"""
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import akclock  # noqa: E402
import receiver  # noqa: E402

BUILD = os.environ["AK_BUILD"]
TMP = os.environ["AK_TMP"]
AKFILL = os.environ["AKFILL"]
AKC = os.path.join(BUILD, "akcollector")
SECRET = "test-only-webhook-secret"
WAIT_S = 15
failures = 0
ENV = dict(os.environ, AGENTKAVACH_LOG="warn")
ENV.pop("AGENTKAVACH_STATE_DIR", None)
ENV.pop("AGENTKAVACH_CONFIG", None)
if not ENV.get(akclock.ENV):
    ENV[akclock.ENV] = akclock.pinned(akclock.parse_instant(os.environ.get("AK_TEST_NOW") or akclock.DEFAULT_NOW))


def check(name, cond, detail=""):
    global failures
    if cond:
        print("ok - collector: " + name)
    else:
        failures += 1
        print("not ok - collector: %s%s" % (name, (": " + str(detail)) if detail else ""))
    return cond


def scenario_dir(name):
    d = os.path.join(TMP, "collector-" + name)
    subprocess.run(["rm", "-rf", d], check=True)
    os.makedirs(d)
    return d


def write_config(d, body):
    path = os.path.join(d, "agentkavach.yaml")
    with open(path, "w") as f:
        f.write("version: 1\nstate_dir: %s/state\n" % d)
        f.write(body)
    return path


def fill(d, agent, count, cost, *extra):
    out = subprocess.run([AKFILL, d + "/state", agent, str(count), str(cost)] + list(extra),
                         env=ENV, check=True, capture_output=True, text=True).stdout
    return out.splitlines()


def flags(d, agent):
    return subprocess.run([AKFILL, "--flags", d + "/state", agent], env=ENV, check=True,
                          capture_output=True, text=True).stdout.strip()


def once(cfg, *extra):
    return subprocess.run([AKC, "--config", cfg, "--once"] + list(extra), env=ENV,
                          capture_output=True, text=True, timeout=120)


SERVICES = []                # every service started, so that a scenario that crashes leaves none


def start_service(cfg):
    p = subprocess.Popen([AKC, "--config", cfg], env=ENV, stderr=subprocess.PIPE, text=True)
    SERVICES.append(p)
    return p


def reap_services():
    for p in SERVICES:
        if p.poll() is None:
            p.kill()
            p.communicate()
    SERVICES.clear()


def stop_service(p, sig=signal.SIGTERM):
    p.send_signal(sig)
    try:
        _, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    return p.returncode, err


def lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def wait_for(pred, timeout=WAIT_S):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def ids_of(records):
    return [json.loads(r)["event_id"] for r in records]


def span_ids(rcv):
    out = []
    for doc in rcv.docs("/v1/traces"):
        for s in receiver.validate_traces(doc):
            out.append(receiver.attrs(s["attributes"])["agentkavach.event_id"])
    return out


# ---------------------------------------------------------------------------------------

def test_jsonl_once():
    d = scenario_dir("jsonl")
    cfg = write_config(d, "exporters:\n  jsonl: { path: %s/out/events.jsonl }\n" % d)
    recs = fill(d, "bot", 7, "0.25") + fill(d, "bot", 3, "0", "--decision", "blocked_guardrail",
                                                 "--reason", "max_calls reached")
    r = once(cfg)
    check("--once exits 0 when everything was delivered", r.returncode == 0, r.stderr)
    got = lines(d + "/out/events.jsonl")
    check("JSONL lines equal the ledger records byte for byte", got == recs,
          "%d lines vs %d records" % (len(got), len(recs)))
    r = once(cfg)
    check("a second --once writes no duplicates", r.returncode == 0 and lines(d + "/out/events.jsonl") == recs)


def test_jsonl_rotation():
    d = scenario_dir("rotate")
    cfg = write_config(d, "exporters:\n  jsonl: { path: %s/events.jsonl, max_bytes: 2000, keep: 2 }\n" % d)
    recs = []
    for _ in range(6):
        recs += fill(d, "bot", 3, "0.01")
        once(cfg)
    files = [d + "/events.jsonl.2", d + "/events.jsonl.1", d + "/events.jsonl"]
    kept = sum((lines(f) for f in files), [])
    check("rotation keeps N files, none above max_bytes", all(os.path.getsize(f) <= 2000 for f in files)
          and not os.path.exists(d + "/events.jsonl.3"))
    check("rotation: kept files hold the newest records in order", kept == recs[-len(kept):] and kept,
          "%d kept" % len(kept))


def test_otlp_down_then_back():
    d = scenario_dir("otlp")
    port = receiver.free_port()
    cfg = write_config(d, "exporters:\n  jsonl: { path: %s/events.jsonl }\n"
                          "  otlp: { endpoint: \"http://127.0.0.1:%d\", interval: 1 }\n" % (d, port))
    recs = fill(d, "bot", 12, "0.1")
    r = once(cfg)
    check("--once exits 1 while the OTLP endpoint is down", r.returncode == 1, r.returncode)
    check("a failing exporter does not hold JSONL back", lines(d + "/events.jsonl") == recs)
    check("one log line for the failure, not a flood", r.stderr.count("\n") <= 2, r.stderr)
    rcv = receiver.HttpReceiver(port=port).start()
    try:
        recs += fill(d, "bot", 5, "0.2")
        r = once(cfg)
        check("--once exits 0 once the endpoint is back", r.returncode == 0, r.stderr)
        ids = span_ids(rcv)
        check("OTLP: every event became one span, none lost or repeated",
              sorted(ids) == sorted(ids_of(recs)), "%d spans, %d events" % (len(ids), len(recs)))
        check("OTLP payloads pass the structure and name checks", not rcv.invalid, rcv.invalid[:2])
        m = receiver.validate_metrics(rcv.docs("/v1/metrics")[0])
        pts = m["gen_ai.client.token.usage"]["histogram"]["dataPoints"]
        inp = [p for p in pts if receiver.attrs(p["attributes"])["gen_ai.token.type"] == "input"]
        check("token usage: one input and one output point per call, with the tokens",
              len(pts) == 2 * len(inp) and inp and inp[0]["sum"] == 1200, len(pts))
        cost = sum(p["asDouble"] for doc in rcv.docs("/v1/metrics")
                   for p in receiver.validate_metrics(doc)["agentkavach.cost"]["sum"]["dataPoints"])
        check("agentkavach.cost sums to what was spent", abs(cost - (12 * 0.1 + 5 * 0.2)) < 1e-6, cost)
        a = receiver.attrs(receiver.validate_traces(rcv.docs("/v1/traces")[0])[0]["attributes"])
        check("span attributes follow the GenAI convention",
              a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "openai"
              and a["gen_ai.request.model"] == "gpt-4o-mini" and a["server.address"] == "api.openai.com"
              and a["gen_ai.usage.output_tokens"] == "300", a)
    finally:
        rcv.stop()


def test_service_outage_and_poke():
    d = scenario_dir("service")
    rcv = receiver.HttpReceiver().start()
    cfg = write_config(d, "exporters:\n  jsonl: { path: %s/events.jsonl }\n"
                          "  otlp: { endpoint: \"%s\", interval: 1 }\n" % (d, rcv.url("")))
    p = start_service(cfg)
    try:
        check("service creates the poke socket", wait_for(lambda: os.path.exists(d + "/state/collector.sock")))
        t0 = time.monotonic()
        recs = fill(d, "bot", 4, "0.1")
        ok = wait_for(lambda: lines(d + "/events.jsonl") == recs)
        check("a poke gets events exported (%.2f s)" % (time.monotonic() - t0), ok)
        rcv.fail_status = 503
        recs += fill(d, "bot", 6, "0.1")
        check("JSONL keeps flowing while OTLP answers 503", wait_for(lambda: lines(d + "/events.jsonl") == recs))
        check("OTLP was retried with backoff during the outage", wait_for(lambda: rcv.refused >= 2), rcv.refused)
        rcv.fail_status = None
        recs += fill(d, "bot", 2, "0.1")
        ok = wait_for(lambda: set(span_ids(rcv)) == set(ids_of(recs)), 90)
        ids = span_ids(rcv)
        check("after the outage every event reached OTLP", ok, "%d/%d" % (len(set(ids)), len(recs)))
        check("no duplicates beyond at-least-once", len(ids) == len(set(ids)), len(ids) - len(set(ids)))
    finally:
        rc, err = stop_service(p)
        rcv.stop()
    check("SIGTERM: flush and exit 0", rc == 0, err)
    check("the socket is removed at exit", not os.path.exists(d + "/state/collector.sock"))


def test_sigkill_mid_batch():
    d = scenario_dir("sigkill")
    cfg = write_config(d, "exporters:\n  jsonl: { path: %s/events.jsonl, fsync: always }\n" % d)
    recs = fill(d, "bot", 2500, "0.001", "--no-poke")
    p = start_service(cfg)
    wait_for(lambda: len(lines(d + "/events.jsonl")) > 0, 10)
    p.kill()
    p.wait()
    before = len(lines(d + "/events.jsonl"))
    r = once(cfg)
    got = lines(d + "/events.jsonl")
    check("restart after SIGKILL: --once exits 0", r.returncode == 0, r.stderr)
    parsed = []
    try:
        parsed = [json.loads(x)["event_id"] for x in got]
        whole = True
    except ValueError:
        whole = False
    check("no partial line after SIGKILL", whole)
    check("nothing lost after SIGKILL (killed with %d of %d written)" % (before, len(recs)),
          set(parsed) == set(ids_of(recs)))
    check("repeats after SIGKILL stay within one batch", len(parsed) - len(set(parsed)) <= 500,
          len(parsed) - len(set(parsed)))


def test_partial_tail_repaired():
    """A write cut short by a kill leaves half a line; the next start must not build on it."""
    d = scenario_dir("tail")
    cfg = write_config(d, "exporters:\n  jsonl: { path: %s/events.jsonl }\n" % d)
    recs = fill(d, "bot", 3, "0.1")
    once(cfg)
    recs += fill(d, "bot", 2, "0.1")
    with open(d + "/events.jsonl", "a") as f:
        f.write(recs[3][:40])              # what a killed writer leaves behind
    r = once(cfg)
    got = lines(d + "/events.jsonl")
    check("a partial last line is cut and the batch written whole", r.returncode == 0 and got == recs,
          got[-2:])


ALERT_CFG = """
channels:
  slack: { type: slack, webhook_url: "%(slack)s", template: "{agent_name} spent {spent_fmt} of {budget_fmt} ({pct}%%), {remaining_fmt} left, {budget_type} {period}" }
  pd: { type: pagerduty, routing_key: "test-routing-key", events_url: "%(pd)s" }
  hook: { type: webhook, url: "%(hook)s", secret: "%(secret)s" }
  mail: { type: email, smtp_url: "smtp://127.0.0.1:%(smtp)d", from: "ak@test.invalid", to: [oncall@test.invalid] }
agents:
  bot:
    budget: { type: daily, limit: 10 }
    alerts:
      - { threshold: 0.5, channels: [slack, hook] }
      - { threshold: 0.75, channels: [pd] }
      - { threshold: 0.9, channels: [pd] }
      - { threshold: 1.0, channels: [pd, kill, mail] }
  guard-bot:
    budget: { type: daily, limit: 10 }
    alerts:
      - { threshold: 0.5, channels: [slack] }
      - { threshold: 0.8, channels: [hook] }
  a1: { budget: { type: daily, limit: 100 } }
  a2: { budget: { type: daily, limit: 100 } }
  burst:
    budget: { type: daily, limit: 10 }
    alerts:
      - { threshold: 0.5, channels: [slack] }
      - { threshold: 0.8, channels: [slack, hook] }
      - { threshold: 1.0, channels: [slack] }
shared_budgets:
  team: { budget: { type: monthly, limit: 10 }, agents: [a1, a2], alerts: [ { threshold: 0.5, channels: [hook] } ] }
exporters:
  jsonl: { path: %(dir)s/events.jsonl }
collector:
  alert_cooldown: 300
"""


def test_alerts():
    """Daily and monthly budgets: the scenario's clock starts at noon of the run's day, so that
    its passes all fall on one day however long they take."""
    suite_clock = ENV[akclock.ENV]
    ENV[akclock.ENV] = akclock.pinned(akclock.noon_of(akclock.now_ms(ENV)))
    try:
        alerts_at_noon()
    finally:
        ENV[akclock.ENV] = suite_clock


def alerts_at_noon():
    d = scenario_dir("alerts")
    rcv = receiver.HttpReceiver(secret=SECRET, now_ms=lambda: akclock.now_ms(ENV)).start()
    smtp = receiver.SmtpReceiver().start()
    cfg = write_config(d, ALERT_CFG % {"slack": rcv.url("/slack"), "pd": rcv.url("/pd"),
                                       "hook": rcv.url("/hook"), "secret": SECRET,
                                       "smtp": smtp.port, "dir": d})
    try:
        fill(d, "bot", 6, "1", "--limit", "10")
        r = once(cfg)
        check("60%: --once exits 0", r.returncode == 0, r.stderr)
        slack = rcv.docs("/slack")
        check("60%: Slack got one message", len(slack) == 1, len(slack))
        check("Slack template placeholders are filled",
              slack and slack[0]["text"] == "bot spent $6.00 of $10.00 (60%), $4.00 left, daily "
              + akclock.day_text(akclock.now_ms(ENV)), slack and slack[0]["text"])
        blocks = json.dumps(slack[0]["blocks"]) if slack else ""
        check("Slack blocks carry agent, percent, spent, limit, remaining, period, resets at",
              all(s in blocks for s in ("bot", "60%", "$6.00", "$10.00", "$4.00", "Resets at", "T00:00:00")))
        hook = rcv.docs("/hook")
        check("webhook got one signed message (signature verified)", len(hook) == 1 and not rcv.invalid,
              rcv.invalid)
        check("webhook body has the fields", hook and hook[0]["agent"] == "bot" and hook[0]["percent"] == 60
              and hook[0]["limit_usd"] == 10 and hook[0]["spent_usd"] == 6, hook)
        check("no PagerDuty below 75%", not rcv.docs("/pd"))
        once(cfg)
        check("thresholds fire once per period (second pass: nothing new)",
              len(rcv.docs("/slack")) == 1 and len(rcv.docs("/hook")) == 1)

        fill(d, "bot", 2, "1", "--limit", "10")              # 80 %
        once(cfg)
        pd = rcv.docs("/pd")
        check("80%: PagerDuty severity warning", len(pd) == 1 and pd[0]["payload"]["severity"] == "warning",
              [x["payload"]["severity"] for x in pd])
        fill(d, "bot", 1, "1.5", "--limit", "10")            # 95 %
        once(cfg)
        pd = rcv.docs("/pd")
        check("95%: PagerDuty severity error", len(pd) == 2 and pd[1]["payload"]["severity"] == "error",
              [x["payload"]["severity"] for x in pd])
        check("PagerDuty dedup keys differ per threshold", len({x["dedup_key"] for x in pd}) == 2)
        check("not suspended before 100%", flags(d, "bot").startswith("suspended=0"))
        fill(d, "bot", 1, "1", "--limit", "10")              # 105 %
        p = start_service(cfg)                               # this time the service does it
        ok = wait_for(lambda: len(rcv.docs("/pd")) == 3 and len(smtp.messages) == 1)
        rc, err = stop_service(p)
        pd = rcv.docs("/pd")
        check("105%: PagerDuty severity critical", ok and pd[2]["payload"]["severity"] == "critical",
              [x["payload"]["severity"] for x in pd])
        check("kill channel suspends the agent", flags(d, "bot") == "suspended=1 manual=0 reason=alert threshold 1 reached",
              flags(d, "bot"))
        msg = smtp.messages[0][2] if smtp.messages else ""
        check("email: plain text with agent and percent", "Subject: [agentkavach] bot at 105% of its daily budget" in msg
              and "Spent: $10.50" in msg, msg[:300])
        p = start_service(cfg)                               # restart: nothing may repeat
        marker = fill(d, "bot", 1, "0", "--decision", "blocked_budget")  # proves a pass ran
        ran = wait_for(lambda: lines(d + "/events.jsonl")[-1:] == marker)
        rc2, err = stop_service(p)
        check("after a restart no alert is repeated", len(rcv.docs("/pd")) == 3 and len(rcv.docs("/slack")) == 1
              and len(smtp.messages) == 1 and rc2 == 0 and ran, err)

        fill(d, "guard-bot", 1, "0", "--decision", "blocked_guardrail", "--reason", "max_tokens_per_call 8000 exceeded")
        once(cfg)
        notices = [h for h in rcv.docs("/hook") if h.get("kind") == "guardrail"]
        check("a guardrail refusal alerts the highest rule's channels", len(notices) == 1
              and notices[0]["reason"] == "max_tokens_per_call 8000 exceeded", notices)
        fill(d, "guard-bot", 2, "0", "--decision", "blocked_guardrail", "--reason", "again")
        once(cfg)
        notices = [h for h in rcv.docs("/hook") if h.get("kind") == "guardrail"]
        check("refusal notices respect the cooldown", len(notices) == 1, len(notices))

        fill(d, "a1", 3, "1", "--shared", "team", "--shared-type", "monthly")
        fill(d, "a2", 3, "1", "--shared", "team", "--shared-type", "monthly")
        once(cfg)
        # three thresholds crossed in one pass: one post per channel, naming the highest
        before_slack, before_hook = len(rcv.docs("/slack")), len(rcv.docs("/hook"))
        fill(d, "burst", 1, "10.5", "--limit", "10")
        once(cfg)
        once(cfg)
        slack = rcv.docs("/slack")[before_slack:]
        hook = [h for h in rcv.docs("/hook")[before_hook:] if h.get("agent") == "burst"]
        blocks = json.dumps(slack[0]["blocks"]) if slack else ""
        fields = [f["text"] for b in (slack[0]["blocks"] if slack else []) for f in b.get("fields", [])]
        check("thresholds crossed together: Slack gets one post, naming the highest (100%)",
              len(slack) == 1 and any("Threshold" in f and "100%" in f for f in fields),
              [json.dumps(x)[:300] for x in slack])
        check("thresholds crossed together: the webhook gets one alert for its own highest rule (80%), "
              "the lower ones listed as skipped",
              len(hook) == 1 and hook[0]["threshold"] == 0.8 and "skipped_thresholds" not in hook[0], hook)
        shared = [h for h in rcv.docs("/hook") if h.get("scope") == "shared"]
        check("shared budget alert at 60%", len(shared) == 1 and shared[0]["shared_budget"] == "team"
              and shared[0]["percent"] == 60, shared)
        check("every HTTP alert payload passed validation", not rcv.invalid, rcv.invalid)
    finally:
        rcv.stop()
        smtp.stop()


def test_webhook_validator_rejects():
    """The receiver's signature check is what the webhook test relies on: it must refuse."""
    import hashlib
    import hmac
    import urllib.request
    rcv = receiver.HttpReceiver(secret=SECRET, now_ms=lambda: akclock.now_ms(ENV)).start()
    try:
        body = b'{"agent":"x"}'
        def post(ts, sig):
            req = urllib.request.Request(rcv.url("/hook"), data=body, headers={
                "Content-Type": "application/json", "X-Agentkavach-Timestamp": ts,
                "X-Agentkavach-Signature": sig})
            try:
                return urllib.request.urlopen(req, timeout=5).status
            except urllib.error.HTTPError as e:
                return e.code
        old = str(akclock.now_ms(ENV) // akclock.MS_PER_S - 3600)
        good_old = "sha256=" + hmac.new(SECRET.encode(), old.encode() + b"." + body, hashlib.sha256).hexdigest()
        check("receiver refuses a stale timestamp", post(old, good_old) == 401)
        now = str(akclock.now_ms(ENV) // akclock.MS_PER_S)
        check("receiver refuses a wrong signature", post(now, "sha256=" + "0" * 64) == 401)
        good = "sha256=" + hmac.new(SECRET.encode(), now.encode() + b"." + body, hashlib.sha256).hexdigest()
        check("receiver accepts a fresh signature on the pinned clock", post(now, good) == 200)
    finally:
        rcv.stop()


def test_check_and_reload():
    d = scenario_dir("check")
    rcv = receiver.HttpReceiver().start()
    dead = receiver.free_port()
    good = write_config(d, "channels:\n  s: { type: slack, webhook_url: \"%s\" }\n"
                           "exporters:\n  jsonl: { path: %s/events.jsonl }\n"
                           "  otlp: { endpoint: \"%s\" }\n" % (rcv.url("/slack"), d, rcv.url("")))
    r = subprocess.run([AKC, "--config", good, "--check"], env=ENV, capture_output=True, text=True, timeout=60)
    check("--check: all usable -> exit 0", r.returncode == 0, r.stdout + r.stderr)
    check("--check names each exporter and channel", all(s in r.stdout for s in
          ("exporter jsonl", "exporter otlp", "channel s")), r.stdout)
    check("--check prints the ledger's counters", "counters" in r.stdout
          and "internal_errors 0" in r.stdout, r.stdout)
    bad = os.path.join(d, "bad.yaml")
    with open(bad, "w") as f:
        f.write("version: 1\nstate_dir: %s/state\nchannels:\n  p: { type: pagerduty, routing_key: \"${AK_TEST_UNSET_VAR}\" }\n"
                "  h: { type: webhook, url: \"http://127.0.0.1:%d/hook\" }\n"
                "exporters:\n  jsonl: { path: %s/events.jsonl }\n" % (d, dead, d))
    env = dict(ENV)
    env.pop("AK_TEST_UNSET_VAR", None)
    r = subprocess.run([AKC, "--config", bad, "--check"], env=env, capture_output=True, text=True, timeout=60)
    out = r.stdout
    check("--check: problems -> exit 1", r.returncode == 1, out)
    check("--check reports an empty required field", "routing_key is empty" in out, out)
    check("--check reports an unreachable endpoint", "unreachable" in out and "channel h" in out, out)
    r = subprocess.run([AKC, "--config", d + "/missing.yaml", "--check"], env=ENV, capture_output=True, text=True)
    check("--check: a missing file -> exit 1", r.returncode == 1)

    # reload: a bad new file keeps the old configuration running
    p = start_service(good)
    try:
        wait_for(lambda: os.path.exists(d + "/state/collector.sock"))
        with open(good, "a") as f:
            f.write("not_a_key: 1\n")
        p.send_signal(signal.SIGHUP)
        recs = fill(d, "bot", 2, "0.1")
        check("SIGHUP with a bad file: still running and exporting",
              wait_for(lambda: lines(d + "/events.jsonl") == recs) and p.poll() is None)
    finally:
        rc, err = stop_service(p)
    check("SIGHUP with a bad file: one log line", err.count("reload refused") == 1, err)
    r = subprocess.run([AKC, "--bogus"], env=ENV, capture_output=True, text=True)
    check("bad usage exits 2", r.returncode == 2)
    rcv.stop()


def test_single_instance():
    d = scenario_dir("lock")
    cfg = write_config(d, "exporters:\n  jsonl: { path: %s/events.jsonl }\n" % d)
    p = start_service(cfg)
    try:
        wait_for(lambda: os.path.exists(d + "/state/collector.sock"))
        r = once(cfg)
        check("a second collector on the same state_dir is refused", r.returncode == 1 and "another akcollector" in r.stderr,
              r.stderr)
    finally:
        stop_service(p)


def main():
    for t in (test_jsonl_once, test_jsonl_rotation, test_otlp_down_then_back, test_service_outage_and_poke,
              test_sigkill_mid_batch, test_partial_tail_repaired, test_alerts, test_webhook_validator_rejects, test_check_and_reload,
              test_single_instance):
        try:
            t()
        except Exception as e:  # a crash in one scenario is a failure, not the end of the run
            check(t.__name__ + " ran to the end", False, "%s: %s" % (type(e).__name__, e))
        reap_services()
    print("collector: %s" % ("all checks passed" if failures == 0 else "%d check(s) failed" % failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
