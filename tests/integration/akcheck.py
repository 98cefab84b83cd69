#!/usr/bin/python3
"""akcheck.py - the integration check driver: runs real clients against the mock provider,
with and without the shim, and prints one "ok - ..." / "not ok - ..." line per check.

It owns the checks of tests/README.md. For every case it runs the client twice on the same
request (only the TAG differs, with equal length, so the mock's answer is byte-identical):
  run A  plain                          -> the reference bytes and the mock log records
  run B  LD_PRELOAD=$AK_BUILD/libakshim.so, fresh AGENTKAVACH_STATE_DIR, test config
and checks (a) identical bytes, statuses and exit codes, (b) each request reached the mock
exactly once, (c) `akctl events --json` has one event per call whose fields equal the mock's
normalised usage, priced from pricing/prices.yaml here in Python, and that the API key is in
no state file, event or log line. With AK_RIG_ONLY=1 (or no shim built), run B is plain too and
the shim checks are skipped: that validates the rig itself (byte equality, mock log, and the
mock's usage against an independent parse of the bytes the client got).
Must run inside the sandbox (lib.sh in_sandbox): needs $MOCK_LOG and the mock on :443/:8443.

Usage: akcheck.py matrix CLIENT...   every provider x operation x stream the client supports
       akcheck.py keepalive | transport | hostile | h2 | usage
"""
import decimal
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "clients"))
import akclient  # noqa: E402

AK_ROOT = os.environ.get("AK_ROOT") or os.path.abspath(os.path.join(HERE, "..", ".."))
AK_BUILD = os.environ.get("AK_BUILD") or os.path.join(AK_ROOT, "build")
AK_TMP = os.environ.get("AK_TMP") or tempfile.gettempdir()
SHIM = os.path.join(AK_BUILD, "libakshim.so")
# What LD_PRELOAD gets: the shim, after AK_SAN_PRELOAD (the sanitizer runtime, set by .ci/run
# for the sanitizer build, whose engine is built with ASan/UBSan: their runtime comes first).
PRELOAD = (os.environ["AK_SAN_PRELOAD"] + ":" + SHIM) if os.environ.get("AK_SAN_PRELOAD") else SHIM
AKCTL = os.path.join(AK_BUILD, "akctl")
PRICES = os.path.join(AK_ROOT, "pricing", "prices.yaml")
RUN_TIMEOUT_S = 40
AKCTL_TIMEOUT_S = 20
BIG_BUDGET_USD = 1000000
KEY_FP_LEN = 12
MICROS_HALF = decimal.Decimal("0.5")
TOKEN_FIELDS = [("input_tokens", "input"), ("output_tokens", "output"),
                ("cached_input_tokens", "cached_input"), ("cache_write_tokens", "cache_write"),
                ("reasoning_tokens", "reasoning")]
STATUS_RE = re.compile(r"^status: (\d+)$", re.M)
DETAIL_MARKERS = "CACHE CWRITE THINK"


# ---------------------------------------------------------------------------- reporting

class Report:
    def __init__(self):
        self.failed = 0

    def check(self, cond, desc, diag=None):
        if cond:
            print("ok - " + desc)
        else:
            self.failed += 1
            print("not ok - " + desc)
            for line in (diag or "").splitlines()[:12]:
                print("#   " + line)
        sys.stdout.flush()
        return cond

    def note(self, text):
        print("# " + text)
        sys.stdout.flush()


R = Report()


def shim_mode():
    return os.environ.get("AK_RIG_ONLY", "0") != "1"


# ---------------------------------------------------------------------------- mock log

class MockLog:
    def __init__(self, path):
        self.path = path

    def mark(self):
        return os.path.getsize(self.path)

    def since(self, offset):
        with open(self.path, "rb") as f:
            f.seek(offset)
            data = f.read()
        return [json.loads(line) for line in data.splitlines() if line.strip()]


LOG = MockLog(os.environ.get("MOCK_LOG", ""))


# ---------------------------------------------------------------------------- pricing oracle

def _snapshot_base(name):
    """name without -latest / -YYYY-MM-DD / -YYYYMMDD / -MMDD; None when it has none."""
    for pat in (r"-latest$", r"-\d{4}-\d{2}-\d{2}$", r"-\d{8}$", r"-\d{4}$"):
        m = re.search(pat, name)
        if m and m.start() > 0:
            return name[:m.start()], pat == r"-latest$"
    return None, False


def _forms(model):
    out = []
    names = [model]
    for prefix in ("models/", "openai/", "anthropic/", "gemini/", "google/", "mistral/",
                   "mistralai/"):
        if model.startswith(prefix) and len(model) > len(prefix):
            names.append(model[len(prefix):])
            break
    for n in names:
        out.append(n)
        base, was_latest = _snapshot_base(n)
        if base:
            out.append(base)
            if not was_latest:
                out.append(base + "-latest")
    return out


class Prices:
    """pricing/prices.yaml, read independently of the C code."""

    def __init__(self, path):
        import yaml
        with open(path) as f:
            self.models = (yaml.safe_load(f) or {}).get("models", {})

    def lookup(self, provider, model):
        order = [provider] + ([p for p in ("openai", "anthropic", "gemini", "mistral")
                               if p != provider] if provider == "openai" else [])
        for form in _forms(model):
            for prov in order:
                row = self.models.get(prov, {}).get(form)
                if row:
                    return row
        return None

    def cost_micros(self, provider, model, usage):
        row = self.lookup(provider, model)
        if row is None:
            return None
        d = lambda k, default=None: decimal.Decimal(str(row.get(k, default)))  # noqa: E731
        p_in, p_out = d("input"), d("output")
        p_cached = d("cached_input", row["input"])
        p_cw = d("cache_write", row["input"])
        p_reason = d("reasoning", row["output"])
        u = usage
        micros = ((u["input"] - u["cached_input"] - u["cache_write"]) * p_in
                  + u["cached_input"] * p_cached + u["cache_write"] * p_cw
                  + (u["output"] - u["reasoning"]) * p_out + u["reasoning"] * p_reason)
        return int((micros + MICROS_HALF).to_integral_value(rounding=decimal.ROUND_FLOOR))


_PRICES = []


def prices():
    if not _PRICES:
        _PRICES.append(Prices(PRICES))
    return _PRICES[0]


# ---------------------------------------------------------------------------- body usage oracle
# An independent parse of the bytes the client received, normalised the OpenTelemetry way.
# It checks the mock (rig self-test): the usage the mock logs is the usage it sent.

def _sse_payloads(body):
    text = body.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for block in text.split("\n\n"):
        data = [ln[5:].lstrip() for ln in block.split("\n") if ln.startswith("data:")]
        if data and data[0] != "[DONE]":
            try:
                out.append(json.loads("\n".join(data)))
            except ValueError:
                pass
    return out


def _norm(inp, out, cached=0, cwrite=0, reasoning=0):
    return {"input": inp, "output": out, "cached_input": cached, "cache_write": cwrite,
            "reasoning": reasoning}


def body_usage(provider, op, stream, body):
    """Normalised usage found in a response body, or None."""
    if stream and body.lstrip().startswith(b"["):
        docs = json.loads(body)                    # Gemini stream without alt=sse
    else:
        docs = _sse_payloads(body) if stream else [json.loads(body)]
    found = None
    anth = {}
    for d in docs:
        if provider == "openai" and op == "responses":
            u = (d.get("response") or {}).get("usage") if stream else d.get("usage")
            if u:
                found = _norm(u["input_tokens"], u["output_tokens"],
                              u.get("input_tokens_details", {}).get("cached_tokens", 0),
                              u.get("input_tokens_details", {}).get("cache_write_tokens", 0),
                              u.get("output_tokens_details", {}).get("reasoning_tokens", 0))
        elif provider in ("openai", "mistral"):
            u = d.get("usage")
            if u and op == "embeddings":
                found = _norm(u["prompt_tokens"], 0)
            elif u:
                found = _norm(u["prompt_tokens"], u["completion_tokens"],
                              (u.get("prompt_tokens_details") or {}).get("cached_tokens", 0),
                              0,
                              (u.get("completion_tokens_details") or {}).get(
                                  "reasoning_tokens", 0))
        elif provider == "anthropic":
            u = (d.get("message") or {}).get("usage") if d.get("type") == "message_start" \
                else d.get("usage")
            if u:
                anth.update({k: v for k, v in u.items() if v is not None})
        elif provider == "gemini":
            u = d.get("usageMetadata")
            if u:
                reasoning = u.get("thoughtsTokenCount", 0)
                found = _norm(u["promptTokenCount"],
                              u.get("candidatesTokenCount", 0) + reasoning,
                              u.get("cachedContentTokenCount", 0), 0, reasoning)
    if anth:
        cr, cw = anth.get("cache_read_input_tokens", 0), anth.get("cache_creation_input_tokens", 0)
        found = _norm(anth["input_tokens"] + cr + cw, anth["output_tokens"], cr, cw,
                      (anth.get("output_tokens_details") or {}).get("thinking_tokens", 0))
    return found


# ---------------------------------------------------------------------------- running clients

class Run:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err
        self.statuses = STATUS_RE.findall(err.decode("utf-8", "replace"))


def run_client(client, spec, env):
    argv = akclient.client_argv(client, spec)
    try:
        p = subprocess.run(argv, env=akclient.client_env(client, env), capture_output=True,
                           timeout=RUN_TIMEOUT_S)
        return Run(p.returncode, p.stdout, p.stderr)
    except subprocess.TimeoutExpired as e:
        return Run("timeout", e.stdout or b"", (e.stderr or b"") + b"\n(timed out)")


def base_env():
    env = dict(os.environ)
    for k in ("LD_PRELOAD", "AGENTKAVACH_STATE_DIR", "AGENTKAVACH_CONFIG", "AGENTKAVACH_AGENT"):
        env.pop(k, None)
    return env


def write_config(path, state_dir, with_hosts=True):
    hosts = "hosts:\n  - { host: llm.internal, port: 8443, provider: openai }\n" \
        if with_hosts else ""
    with open(path, "w") as f:
        f.write("# integration test config (tests/integration/akcheck.py)\n"
                "version: 1\nstate_dir: %s\nmode: enforce\non_error: open\n%s"
                "pricing:\n  file: %s\n  unknown_model: allow\n"
                "defaults:\n  budget: { type: total, limit: %d }\n"
                % (state_dir, hosts, PRICES, BIG_BUDGET_USD))
    return path


def akctl_events(state_dir, config):
    """(events list, error text or None)."""
    if not any(files_in(state_dir)):
        return [], None
    if not os.path.exists(AKCTL):
        return [], "%s is not built" % AKCTL
    env = base_env()
    env["AGENTKAVACH_CONFIG"] = config
    try:
        p = subprocess.run([AKCTL, "--state-dir", state_dir, "events", "--json"], env=env,
                           capture_output=True, timeout=AKCTL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return [], "akctl events timed out"
    if p.returncode != 0:
        return [], "akctl events exit %d: %s" % (p.returncode, p.stderr.decode()[:300])
    try:
        evs = [json.loads(x) for x in p.stdout.decode().splitlines() if x.strip()]
    except ValueError as e:
        return [], "akctl events --json printed non-JSON: %s" % e
    return sorted(evs, key=lambda e: e.get("ts") or ""), None


def files_in(d):
    for root, _, names in os.walk(d):
        for n in names:
            yield os.path.join(root, n)


def file_contains(path, needle):
    """Searches only the data extents of a (possibly sparse, LMDB) file."""
    with open(path, "rb") as f:
        fd = f.fileno()
        size, pos = os.fstat(fd).st_size, 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:                      # ENXIO: no data after pos
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            f.seek(start)
            tail = b""
            while f.tell() < end:
                chunk = f.read(min(1 << 20, end - f.tell()))
                if not chunk:
                    break
                if needle in tail + chunk:
                    return True
                tail = chunk[-len(needle):]
            pos = end
    return False


# ---------------------------------------------------------------------------- cases

class Case:
    """One scenario: a client making one or more calls (one client object), what to expect."""
    counter = [0]

    def __init__(self, name, client, calls, expect="metered", options=None, config="main",
                 same_conn=False, body_check=True):
        Case.counter[0] += 1
        self.id = "c%04d" % Case.counter[0]
        self.name, self.client, self.calls = name, client, calls
        self.expect, self.options, self.config = expect, options or {}, config
        self.same_conn, self.body_check = same_conn, body_check

    def specs(self, letter, key, workdir):
        calls = []
        for i, (provider, op, stream, prompt, opts) in enumerate(self.calls):
            o = dict(opts or {})
            o["api_key"] = key
            tag = "%s%s%d" % (self.id, letter, i)
            calls.append(akclient.call_spec(provider, op, stream, "%s TAG=%s" % (prompt, tag), o))
        path = os.path.join(workdir, "spec-%s.json" % letter)
        return akclient.spec_write(path, calls, self.options), calls


def tag_of(call):
    m = re.search(r"TAG=([A-Za-z0-9_.:-]+)", call["body"] or call["url"])
    return m.group(1) if m else None


def records_for(records, calls):
    """The mock log records of each call (by tag), in call order."""
    return [[r for r in records if r.get("kind") == "request" and r.get("tag") == tag_of(c)]
            for c in calls]


def first_diff(a, b):
    n = min(len(a), len(b))
    i = next((k for k in range(n) if a[k] != b[k]), n)
    return "plain %d bytes, shim %d bytes; first difference at byte %d:\nplain: %r\nshim:  %r" % (
        len(a), len(b), i, a[max(0, i - 40):i + 80], b[max(0, i - 40):i + 80])


def run_case(case):
    ok, why = akclient.client_available(case.client)
    if not ok:
        R.check(False, "%s: client available" % case.name, why)
        return
    work = tempfile.mkdtemp(prefix="akcheck.%s." % case.id, dir=AK_TMP)
    key = "akfake-%s" % secrets.token_hex(10)       # fake, never a real-looking provider key
    spec_a, calls_a = case.specs("a", key, work)
    spec_b, calls_b = case.specs("b", key, work)
    mark = LOG.mark()
    run_a = run_client(case.client, spec_a, base_env())
    recs_a = records_for(LOG.since(mark), calls_a)
    state = os.path.join(work, "state")
    os.mkdir(state)
    config = write_config(os.path.join(work, "agentkavach.yaml"), state,
                          with_hosts=case.config == "main")
    env = base_env()
    if shim_mode():
        env.update(LD_PRELOAD=PRELOAD, AGENTKAVACH_STATE_DIR=state, AGENTKAVACH_CONFIG=config,
                   AGENTKAVACH_AGENT="test-" + case.client, AGENTKAVACH_LOG="warn")
    mark = LOG.mark()
    run_b = run_client(case.client, spec_b, env)
    recs_b = records_for(LOG.since(mark), calls_b)
    check_transport(case, run_a, run_b, recs_a, recs_b, calls_a)
    if shim_mode():
        check_events(case, run_b, recs_b, calls_b, state, config, key)
    shutil.rmtree(work, ignore_errors=True)


def check_transport(case, run_a, run_b, recs_a, recs_b, calls):
    n = case.name
    R.check(not isinstance(run_a.rc, str) and run_a.rc >= 0 and
            not isinstance(run_b.rc, str) and run_b.rc >= 0,
            "%s: client finished (no crash, no hang)" % n,
            "plain rc=%s shim rc=%s\nshim stderr: %s" % (run_a.rc, run_b.rc,
                                                         run_b.err.decode(errors="replace")[-600:]))
    R.check(run_a.out == run_b.out and run_a.statuses == run_b.statuses and run_a.rc == run_b.rc,
            "%s: identical bytes, status and exit code with and without the shim" % n,
            "statuses %s vs %s, rc %s vs %s\n" % (run_a.statuses, run_b.statuses, run_a.rc,
                                                   run_b.rc) + first_diff(run_a.out, run_b.out))
    R.check(all(len(r) == 1 for r in recs_a + recs_b),
            "%s: each request reached the mock exactly once" % n,
            "records per call: plain %s, shim %s" % ([len(r) for r in recs_a],
                                                     [len(r) for r in recs_b]))
    if case.same_conn and all(recs_a + recs_b):
        ids = [{r[0]["conn_id"] for r in recs} for recs in (recs_a, recs_b)]
        R.check(all(len(s) == 1 for s in ids),
                "%s: %d calls on one kept-alive connection" % (n, len(calls)),
                "connection ids plain %s shim %s" % tuple(sorted(s) for s in ids))
    if case.expect == "metered" and case.body_check and all(recs_a):
        check_body_usage(case, run_a, recs_a, calls)


def check_body_usage(case, run_a, recs_a, calls):
    """Rig self-test: the usage the mock logged is what the client received (single call)."""
    if len(calls) != 1 or run_a.statuses != ["200"]:
        return
    rec, meta = recs_a[0][0], calls[0]["meta"]
    try:
        got = body_usage(meta["provider"], meta["op"], meta["stream"], run_a.out)
    except ValueError as e:
        got = "unparsable body: %s" % e
    R.check(got == rec.get("usage"), "%s: mock's logged usage matches the body (rig)" % case.name,
            "body %s\nlog  %s" % (got, rec.get("usage")))


def check_events(case, run_b, recs_b, calls, state, config, key):
    n = case.name
    if not os.path.exists(SHIM):
        R.check(False, "%s: shim built" % n, "%s missing (AK_RIG_ONLY=1 runs the rig alone)" % SHIM)
        return
    events, err = akctl_events(state, config)
    if err:
        R.check(False, "%s: akctl events --json" % n, err)
        return
    if case.expect == "no_event":
        R.check(len(events) == 0, "%s: no event for a non-metered host" % n, json.dumps(events))
    elif case.expect == "metered":
        if R.check(len(events) == len(calls), "%s: one event per call" % n,
                   "%d events for %d calls: %s" % (len(events), len(calls), json.dumps(events)[:900])):
            for i, (ev, recs) in enumerate(zip(events, recs_b)):
                if recs:
                    check_event(case, "%s call %d" % (n, i + 1) if len(calls) > 1 else n, ev,
                                recs[0], calls[i], key)
    elif case.expect in ("hostile", "error"):
        check_hostile(case, events, recs_b, calls)
    check_secrets(case, state, events, run_b, key)


def check_event(case, label, ev, rec, call, key):
    meta = call["meta"]
    want = {"provider": rec["provider"], "operation": rec["operation"], "model": rec["model"],
            "stream": rec["stream"], "status": 200, "decision": "allowed",
            "agent": "test-" + case.client,
            "key_fp": hashlib.sha256(key.encode()).hexdigest()[:KEY_FP_LEN]}
    got = {k: ev.get(k) for k in want}
    host_ok = (ev.get("host") or "").split(":")[0] == rec["host"].split(":")[0]
    R.check(got == want and host_ok, "%s: event provider, operation, model, stream, status, "
            "decision, agent, host, key_fp" % label,
            "want %s host %s\ngot  %s host %s" % (want, rec["host"], got, ev.get("host")))
    usage = rec.get("usage")
    if usage is None:
        # The client did not ask for usage (OpenAI stream without include_usage) and the shim
        # did not add it: the tokens are the shim's own estimate.
        R.check(ev.get("cost_source") == "estimate" and (ev.get("input_tokens") or 0) > 0,
                "%s: event has an estimate when the provider sent no usage" % label,
                json.dumps(ev))
        return
    got_t = {f: ev.get(f) for f, _ in TOKEN_FIELDS}
    want_t = {f: usage[u] for f, u in TOKEN_FIELDS}
    R.check(got_t == want_t and ev.get("cost_source") == "usage",
            "%s: event tokens equal the provider's usage (cost_source usage)" % label,
            "want %s\ngot  %s cost_source=%s" % (want_t, got_t, ev.get("cost_source")))
    micros = prices().cost_micros(meta["provider"], rec["model"], usage)
    cost = ev.get("cost_usd")
    R.check(micros is not None and isinstance(cost, (int, float)) and
            abs(cost * 1e6 - micros) < 0.5,
            "%s: cost_usd equals prices.yaml x usage" % label,
            "want %s micro-USD (%s), got cost_usd=%s" % (micros, rec["model"], cost))


def check_hostile(case, events, recs_b, calls):
    n = case.name
    problems = []
    if len(events) > len(calls):
        problems.append("%d events for %d calls" % (len(events), len(calls)))
    for ev in events:
        if ev.get("decision") not in ("allowed", "unmetered"):
            problems.append("decision %s" % ev.get("decision"))
        if ev.get("decision") == "unmetered" and not ev.get("reason"):
            problems.append("unmetered without a reason")
    if case.expect == "error":
        if len(events) != 1 or events[0].get("status") != 500:
            problems.append("want one event with status 500")
    elif "BIGHEADERS" in n and any(ev.get("status") != 200 for ev in events):
        problems.append("a head over the parser's cap still has the status line's 200")
    recs = [r[0] for r in recs_b if r]
    for ev, rec in zip(events, recs):
        if ev.get("decision") == "allowed" and rec.get("usage"):
            got_t = {f: ev.get(f) for f, _ in TOKEN_FIELDS}
            want_t = {f: rec["usage"][u] for f, u in TOKEN_FIELDS}
            if got_t != want_t:
                problems.append("tokens %s, mock sent %s" % (got_t, want_t))
    R.check(not problems, "%s: event is allowed with true usage, or unmetered with a reason" % n,
            "\n".join(problems) + "\n" + json.dumps(events)[:600])


def check_secrets(case, state, events, run_b, key):
    needle = key.encode()
    leaks = [p for p in files_in(state) if file_contains(p, needle)]
    if needle in json.dumps(events).encode():
        leaks.append("akctl events output")
    if needle in run_b.err:
        leaks.append("shim/client stderr")
    R.check(not leaks, "%s: the API key appears in no state file, event or log" % case.name,
            "found in: %s" % ", ".join(leaks))


# ---------------------------------------------------------------------------- scenario sets

PLAIN = "Write one line about budgets."
DETAILED = "Write one line about budgets. %s" % DETAIL_MARKERS
# Long enough (about 500 input tokens, 400 output) that a wrongly priced subset (cached,
# cache-write, reasoning) moves the cost by many micro-USD, beyond any rounding.
LONG_DETAILED = DETAILED + " Context:" + " budget ledger" * 140
LONG_MAX_TOKENS = 400


def matrix_cases(client):
    cases = []
    for provider, op, can_stream in akclient.OPERATIONS:
        if not akclient.client_supports(client, provider, op):
            continue
        for stream in ([False, True] if can_stream else [False]):
            prompt = DETAILED if stream else PLAIN
            label = "%s %s/%s %s" % (client, provider, op, "stream" if stream else "non-stream")
            cases.append(Case(label, client, [(provider, op, stream, prompt, {})]))
            if provider == "openai" and op == "chat" and stream:
                cases.append(Case(label + " without include_usage", client,
                                  [(provider, op, stream, PLAIN, {"include_usage": "0"})]))
    return cases


KEEPALIVE_CLIENTS = ["curl", "requests", "httpx", "httpx-async", "aiohttp", "ruby", "php",
                     "php-multi", "node-https"]


def keepalive_cases():
    calls = [("openai", "chat", False, PLAIN, {}), ("openai", "chat", True, PLAIN, {}),
             ("openai", "chat", False, PLAIN, {})]
    cases = [Case("%s keep-alive: 3 openai chat calls (non-stream, stream, non-stream)" % c,
                  c, calls, same_conn=True) for c in KEEPALIVE_CLIENTS]
    anth = [("anthropic", "messages", s, PLAIN, {}) for s in (True, False, True)]
    cases.append(Case("requests keep-alive: 3 anthropic calls", "requests", anth, same_conn=True))
    cases.append(Case("urllib: 3 calls on fresh connections", "urllib", calls))
    return cases


GZIP_CLIENTS = ["curl", "requests", "httpx", "aiohttp", "ruby", "php"]


def transport_cases():
    cases = []
    for c in GZIP_CLIENTS:
        for stream in (False, True):
            cases.append(Case("%s gzip reply %s" % (c, "stream" if stream else "non-stream"), c,
                              [("openai", "chat", stream, PLAIN + " GZIP", {})],
                              options={"gzip": True}, body_check=False))
    for c in ("curl", "requests", "aiohttp", "php-multi", "node-https"):
        for provider, op in (("openai", "chat"), ("anthropic", "messages")):
            for stream in (False, True):
                cases.append(Case("%s Content-Length %s/%s %s" % (
                    c, provider, op, "stream" if stream else "non-stream"), c,
                    [(provider, op, stream, PLAIN + " CLEN", {})]))
    for c in ("curl", "httpx-async", "node-https"):
        cases.append(Case("%s slow stream (50 ms between chunks)" % c, c,
                          [("anthropic", "messages", True, PLAIN + " SLOW", {})]))
    for c in ("curl", "requests", "php"):
        cases.append(Case("%s non-LLM host example.test (LLM-shaped request)" % c, c,
                          [("openai", "chat", False, PLAIN, {"host": "example.test"})],
                          expect="no_event"))
        cases.append(Case("%s non-LLM host example.test GET /" % c, c,
                          [("openai", "chat", False, PLAIN, {"host": "example.test",
                                                             "method": "GET"})],
                          expect="no_event"))
    for c in ("curl", "requests", "node-https"):
        for stream in (False, True):
            opts = {"host": "llm.internal", "port": 8443}
            s = "stream" if stream else "non-stream"
            cases.append(Case("%s config hosts: llm.internal:8443 as openai %s" % (c, s), c,
                              [("openai", "chat", stream, PLAIN, opts)]))
        cases.append(Case("%s llm.internal:8443 without a hosts entry is not metered" % c, c,
                          [("openai", "chat", False, PLAIN, opts)], expect="no_event",
                          config="nohosts"))
    return cases


def usage_cases():
    """Cache, cache-write and reasoning counts for every provider, non-stream and stream."""
    cases = []
    for provider, op, can_stream in akclient.OPERATIONS:
        for stream in ([False, True] if can_stream else [False]):
            cases.append(Case("requests usage details %s/%s %s" % (
                provider, op, "stream" if stream else "non-stream"), "requests",
                [(provider, op, stream, LONG_DETAILED, {"max_tokens": LONG_MAX_TOKENS})]))
    for client in ("requests", "curl"):
        cases.append(Case("%s gemini stream without alt=sse (one JSON array)" % client, client,
                          [("gemini", "generate_content", True, DETAILED,
                            {"gemini_array": "1"})]))
    return cases


HOSTILE = ["TRUNCATE", "BADJSON", "BIGHEADERS", "BIGBODY", "ERROR500"]
HOSTILE_CLIENTS = ["curl", "requests", "aiohttp", "php", "node-https"]


def hostile_cases():
    cases = []
    for marker in HOSTILE:
        for c in HOSTILE_CLIENTS:
            for stream in (False, True):
                if marker == "BIGBODY" and stream and c != "curl":
                    continue        # one big stream is enough; they are slow on 2 cores
                expect = "error" if marker == "ERROR500" else "hostile"
                cases.append(Case("%s hostile %s openai chat %s" % (
                    c, marker, "stream" if stream else "non-stream"), c,
                    [("openai", "chat", stream, PLAIN + " " + marker, {})], expect=expect,
                    body_check=False))
    cases.append(Case("curl hostile TRUNCATE anthropic stream", "curl",
                      [("anthropic", "messages", True, PLAIN + " TRUNCATE", {})],
                      expect="hostile", body_check=False))
    return cases


# ---------------------------------------------------------------------------- h2 offer

H2_CLIENTS = ["curl", "php", "php-multi"]


def h2_checks():
    """Needs a mock that prefers h2 (MOCK_ALPN=h2,http/1.1): real front ends do."""
    for client in H2_CLIENTS:
        for host, llm in (("api.openai.com", True), ("example.test", False)):
            h2_case(client, host, llm)


def h2_case(client, host, llm):
    name = "%s h2 offer to %s" % (client, host)
    work = tempfile.mkdtemp(prefix="akcheck.h2.", dir=AK_TMP)
    key = "akfake-%s" % secrets.token_hex(10)
    opts = {"api_key": key, "host": host}
    spec = akclient.spec_write(os.path.join(work, "spec.json"),
                               [akclient.call_spec("openai", "chat", False,
                                                   PLAIN + " TAG=h2%s" % secrets.token_hex(4),
                                                   opts)], {"http2": True})
    mark = LOG.mark()
    run_client(client, spec, base_env())
    recs = LOG.since(mark)
    R.check(any(r.get("kind") == "h2_preface" and r.get("sni") == host for r in recs),
            "%s: without the shim the mock negotiates h2 (rig)" % name,
            json.dumps(recs)[:600])
    if not shim_mode():
        shutil.rmtree(work, ignore_errors=True)
        return
    state = os.path.join(work, "state")
    os.mkdir(state)
    config = write_config(os.path.join(work, "agentkavach.yaml"), state)
    with open(config, "a") as f:
        f.write("http2: downgrade\n")   # native HTTP/2 is tests/integration/h2check.py's
    env = base_env()
    env.update(LD_PRELOAD=PRELOAD, AGENTKAVACH_STATE_DIR=state, AGENTKAVACH_CONFIG=config,
               AGENTKAVACH_AGENT="test-" + client)
    mark = LOG.mark()
    run = run_client(client, spec, env)
    recs = LOG.since(mark)
    reqs = [r for r in recs if r.get("kind") == "request"]
    if llm:
        R.check(run.statuses == ["200"] and len(reqs) == 1 and reqs[0].get("alpn") == "http/1.1"
                and "h2" not in (reqs[0].get("alpn_offered") or []),
                "%s: with the shim h2 is not offered and the call succeeds on http/1.1" % name,
                "statuses %s\nlog %s" % (run.statuses, json.dumps(recs)[:600]))
        events, err = akctl_events(state, config)
        R.check(err is None and len(events) == 1 and events[0].get("status") == 200,
                "%s: one event for the call" % name, err or json.dumps(events)[:600])
    else:
        R.check(any(r.get("kind") == "h2_preface" for r in recs),
                "%s: with the shim a non-LLM host still gets the h2 offer" % name,
                json.dumps(recs)[:600])
    shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------- main

def main(argv):
    if not os.environ.get("MOCK_LOG"):
        print("akcheck.py: run me inside the sandbox (lib.sh in_sandbox)", file=sys.stderr)
        return 2
    if shim_mode() and not os.path.exists(SHIM):
        R.note("%s is not built: shim checks will fail (AK_RIG_ONLY=1 to test the rig)" % SHIM)
    if not shim_mode():
        R.note("rig only: the second run is plain too, shim checks are skipped")
    what = argv[1] if len(argv) > 1 else ""
    if what == "matrix":
        cases = [c for client in argv[2:] for c in matrix_cases(client)]
    elif what == "h2":
        h2_checks()
        cases = []
    else:
        sets = {"keepalive": keepalive_cases, "transport": transport_cases,
                "hostile": hostile_cases, "usage": usage_cases}
        if what not in sets:
            print(__doc__, file=sys.stderr)
            return 2
        cases = sets[what]()
    for case in cases:
        run_case(case)
    return 1 if R.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
