#!/usr/bin/python3
"""h2check.py - HTTP/2 through the shim (config `http2: native`), against the mock speaking h2
(MOCK_H2=1 with ALPN, MOCK_H2=prior for a preface without ALPN). Prints ok / not ok lines.

  curl      every provider x operation x stream with `curl --http2` and with
            `--http2-prior-knowledge`: identical bytes with and without the shim, h2 on the
            wire, one request at the mock, one exact event per call (akcheck.check_event)
  streams   one connection, several streams in flight (clients/h2_client.py), two rounds so
            the client's HPACK dynamic table is used across streams and across a refusal:
            calls over the guardrail's max_tokens are refused with the provider's 429 on
            their stream, the others are answered byte-identically, only the allowed calls
            reach the mock, one event each; ALPN h2 and prior knowledge
  downgrade `http2: downgrade`: h2 is not offered to LLM hosts (the HTTP/1.1 rig's check)
Must run inside the sandbox (lib.sh in_sandbox).
"""
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile

import akcheck
from akcheck import R, LOG, AK_TMP, SHIM, PRICES
import akclient

H2_CLIENT = os.path.join(akcheck.HERE, "clients", "h2_client.py")
CURL_OPS = [("openai", "chat", False), ("openai", "chat", True), ("openai", "responses", True),
            ("anthropic", "messages", True), ("gemini", "generate_content", True),
            ("mistral", "chat", False)]
GUARD_MAX_TOKENS = 100                 # calls asking for more are refused (blocked_guardrail)
REFUSED_MAX_TOKENS = 500


class Case:
    def __init__(self, client):
        self.client = client


def write_config(work, http2, guard=False):
    state = os.path.join(work, "state")
    os.makedirs(state, exist_ok=True)
    path = os.path.join(work, "agentkavach.yaml")
    guardrail = ("  guardrails: { max_tokens_per_call: %d }\n" % GUARD_MAX_TOKENS) if guard else ""
    with open(path, "w") as f:
        f.write("version: 1\nstate_dir: %s\nmode: enforce\non_error: open\nhttp2: %s\n"
                "pricing:\n  file: %s\n  unknown_model: allow\n"
                "defaults:\n  budget: { type: total, limit: 1000000 }\n%s"
                % (state, http2, PRICES, guardrail))
    return state, path


def shim_env(state, config, agent):
    env = akcheck.base_env()
    env.update(LD_PRELOAD=SHIM, AGENTKAVACH_STATE_DIR=state, AGENTKAVACH_CONFIG=config,
               AGENTKAVACH_AGENT=agent)
    return env


def curl_checks(prior):
    flag = "prior knowledge" if prior else "ALPN h2"
    for provider, op, stream in CURL_OPS:
        work = tempfile.mkdtemp(prefix="h2check.", dir=AK_TMP)
        key = "akfake-%s" % secrets.token_hex(10)
        name = "curl --http2%s %s %s%s" % ("-prior-knowledge" if prior else "", provider, op,
                                          " stream" if stream else "")
        tag = secrets.token_hex(4)
        calls = [akclient.call_spec(provider, op, stream, akcheck.PLAIN + " TAG=h2" + tag,
                                    {"api_key": key})]
        opts = {"http2": True, "http2_prior": prior}
        spec = akclient.spec_write(os.path.join(work, "spec.json"), calls, opts)
        mark = LOG.mark()
        run_a = akcheck.run_client("curl", spec, akcheck.base_env())
        recs_a = [r for r in LOG.since(mark) if r.get("kind") == "request"]
        state, config = write_config(work, "native")
        mark = LOG.mark()
        run_b = akcheck.run_client("curl", spec, shim_env(state, config, "test-curl"))
        recs_b = [r for r in LOG.since(mark) if r.get("kind") == "request"]
        R.check(run_a.rc == 0 and len(recs_a) == 1 and recs_a[0].get("framing") == "h2",
                "%s: without the shim the call is HTTP/2 (rig, %s)" % (name, flag),
                "rc %s\n%s" % (run_a.rc, json.dumps(recs_a)[:500]))
        R.check(run_b.rc == run_a.rc and run_b.out == run_a.out and
                run_b.statuses == run_a.statuses,
                "%s: with the shim the client gets the same bytes" % name,
                akcheck.first_diff(run_a.out, run_b.out) + "\n" + run_b.err.decode()[-400:])
        R.check(len(recs_b) == 1 and recs_b[0].get("framing") == "h2",
                "%s: with the shim one request reaches the mock, over h2" % name,
                json.dumps(recs_b)[:500])
        events, err = akcheck.akctl_events(state, config)
        if R.check(err is None and len(events) == 1, "%s: one event" % name,
                   err or json.dumps(events)[:500]) and recs_b:
            akcheck.check_event(Case("curl"), name, events[0], recs_b[0], calls[0], key)
        shutil.rmtree(work, ignore_errors=True)


def stream_calls(key, tag):
    """Four calls, the second and fourth over the guardrail."""
    out = []
    for i, (provider, op, stream) in enumerate([("openai", "chat", False),
                                                ("openai", "chat", True),
                                                ("openai", "responses", True),
                                                ("openai", "chat", False)]):
        mt = REFUSED_MAX_TOKENS if i % 2 else 20 + i
        c = akclient.call_spec(provider, op, stream, "%s TAG=s%d%s" % (akcheck.PLAIN, i, tag),
                               {"api_key": key, "max_tokens": mt})
        out.append({"path": c["url"].split("api.openai.com", 1)[1],
                    "headers": {k.lower(): v for k, v in c["headers"]},
                    "body": c["body"], "refused": bool(i % 2)})
    return out


def run_h2_client(spec_path, env):
    try:
        p = subprocess.run(["/usr/bin/python3", H2_CLIENT, spec_path], env=env, capture_output=True, timeout=40)
    except subprocess.TimeoutExpired:
        return None, "timed out"
    if p.returncode != 0:
        return None, p.stderr.decode()[-600:]
    return json.loads(p.stdout), p.stderr.decode()[-300:]


def stream_checks(alpn):
    flag = "ALPN h2" if alpn else "prior knowledge"
    name = "h2 streams (%s)" % flag
    work = tempfile.mkdtemp(prefix="h2check.", dir=AK_TMP)
    key = "akfake-%s" % secrets.token_hex(10)
    calls = stream_calls(key, secrets.token_hex(3))
    rounds = 2
    spec = os.path.join(work, "spec.json")
    with open(spec, "w") as f:
        json.dump({"host": "api.openai.com", "alpn": alpn, "rounds": rounds, "calls": calls}, f)
    mark = LOG.mark()
    got_a, err_a = run_h2_client(spec, akcheck.base_env())
    recs_a = [r for r in LOG.since(mark) if r.get("kind") == "request"]
    R.check(got_a is not None and len(recs_a) == len(calls) * rounds and
            all(c["status"] == "200" for c in got_a["calls"]),
            "%s: without the shim every stream is answered (rig)" % name,
            "%s\n%s" % (err_a, json.dumps(recs_a)[:300]))
    state, config = write_config(work, "native", guard=True)
    mark = LOG.mark()
    got_b, err_b = run_h2_client(spec, shim_env(state, config, "test-h2"))
    recs_b = [r for r in LOG.since(mark) if r.get("kind") == "request"]
    if not R.check(got_b is not None, "%s: the client finishes with the shim" % name, err_b):
        shutil.rmtree(work, ignore_errors=True)
        return
    want = [c for _ in range(rounds) for c in calls]
    same, refused_ok = [], []
    for i, (w, a, b) in enumerate(zip(want, got_a["calls"], got_b["calls"])):
        if w["refused"]:
            try:
                err = json.loads(b["body"]).get("error", {})
            except ValueError:
                err = {}
            refused_ok.append(b["status"] == "429" and err.get("code") == "budget_exceeded"
                              and ["x-should-retry", "false"] in b["headers"]
                              and not b.get("reset"))
        else:
            same.append(a["status"] == b["status"] and a["body"] == b["body"] and
                        a["headers"] == b["headers"])
    R.check(all(same) and len(same) == rounds * 2,
            "%s: allowed streams get the server's answer byte for byte, in both rounds" % name,
            json.dumps(got_b)[:600])
    R.check(all(refused_ok) and len(refused_ok) == rounds * 2,
            "%s: refused streams get 429 + the OpenAI error JSON on their stream" % name,
            json.dumps([c for c in got_b["calls"] if c["status"] != "200"])[:600])
    tags = sorted(r.get("tag") or "" for r in recs_b)
    R.check(len(recs_b) == rounds * 2 and all(r.get("max_tokens", 0) < GUARD_MAX_TOKENS
                                              for r in recs_b),
            "%s: only the allowed calls reach the mock" % name, json.dumps(tags))
    events, err = akcheck.akctl_events(state, config)
    allowed = [e for e in events if e.get("decision") == "allowed"]
    blocked = [e for e in events if e.get("decision") == "blocked_guardrail"]
    R.check(err is None and len(allowed) == rounds * 2 and len(blocked) == rounds * 2 and
            len(events) == rounds * 4,
            "%s: one event per stream (allowed and blocked_guardrail)" % name,
            err or json.dumps(events)[:800])
    by_usage = sorted((r["usage"]["input"], r["usage"]["output"]) for r in recs_b if r.get("usage"))
    ev_usage = sorted((e.get("input_tokens"), e.get("output_tokens")) for e in allowed
                      if e.get("cost_source") == "usage")
    R.check(by_usage == ev_usage and len(ev_usage) == rounds * 2,
            "%s: the allowed events carry the provider's usage" % name,
            "mock %s\nevents %s" % (by_usage, ev_usage))
    shutil.rmtree(work, ignore_errors=True)


def main(argv):
    what = argv[1] if len(argv) > 1 else "all"
    if what in ("curl", "all"):
        curl_checks(prior=False)
        curl_checks(prior=True)
    if what in ("streams", "all"):
        stream_checks(alpn=True)
        if os.environ.get("MOCK_H2") == "prior":
            stream_checks(alpn=False)
    return 1 if R.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
