#!/usr/bin/python3
"""ekit.py - the shared kit of the enforcement integration tests (tests/integration/t_enforce_*).

It owns what every enforcement scenario needs on top of the rig's akcheck.py / akclient.py
(which it reuses, never copies): a per-scenario state directory and YAML config, a client run
that timestamps each call (the clients write "status: N" to stderr as each call ends, so the
time between two status lines is the time of one call), the refusal bodies found in what a
client received, akctl calls, and the mock log records of one tag.
Must run inside the sandbox (lib.sh in_sandbox).
"""
import decimal
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
IT = os.path.dirname(HERE)
sys.path.insert(0, IT)
sys.path.insert(0, os.path.join(IT, "clients"))
import akcheck  # noqa: E402
import akclient  # noqa: E402

R = akcheck.R
LOG = akcheck.LOG
SHIM = akcheck.SHIM
PRELOAD = akcheck.PRELOAD
AKCTL = akcheck.AKCTL
AK_BUILD = akcheck.AK_BUILD
AK_ROOT = akcheck.AK_ROOT
RUN_TIMEOUT_S = 40
AKCTL_TIMEOUT_S = 20
MICRO = decimal.Decimal("0.000001")

# One operation per provider for the refusal matrix (the one every client speaks).
PROVIDER_OPS = [("openai", "chat"), ("anthropic", "messages"), ("gemini", "generate_content"),
                ("mistral", "chat")]

# The provider's own refusal shape (DESIGN.md "A refused call").
def refusal_shape_ok(provider, obj):
    if not isinstance(obj, dict):
        return False
    if provider == "openai":
        e = obj.get("error")
        return (list(obj) == ["error"] and isinstance(e, dict)
                and isinstance(e.get("message"), str) and e.get("type") == "insufficient_quota"
                and "param" in e and e["param"] is None and e.get("code") == "budget_exceeded")
    if provider == "anthropic":
        e = obj.get("error")
        return (obj.get("type") == "error" and isinstance(e, dict)
                and e.get("type") == "rate_limit_error" and isinstance(e.get("message"), str))
    if provider == "gemini":
        e = obj.get("error")
        return (isinstance(e, dict) and e.get("code") == 429
                and e.get("status") == "RESOURCE_EXHAUSTED" and isinstance(e.get("message"), str))
    if provider == "mistral":
        return (obj.get("object") == "error" and isinstance(obj.get("message"), str)
                and obj.get("type") == "rate_limited" and "param" in obj
                and obj["param"] is None and obj.get("code") == "budget_exceeded")
    return False


def refusal_message(obj):
    if "message" in obj and isinstance(obj["message"], str):
        return obj["message"]
    return (obj.get("error") or {}).get("message", "")


def refusals_in(provider, out, sdk_unwrapped=False):
    """The refusal objects (provider shape) found in the bytes a client received.
    sdk_unwrapped: the client is the OpenAI SDK, which prints the parsed APIError.error, i.e.
    the inner object of {"error": {...}}; it is wrapped back before the shape check."""
    dec = json.JSONDecoder()
    text = out.decode("utf-8", "replace")
    found = []
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = dec.raw_decode(text, m.start())
        except ValueError:
            continue
        if sdk_unwrapped and isinstance(obj, dict) and "error" not in obj:
            obj = {"error": obj}
        if refusal_shape_ok(provider, obj):
            found.append(obj)
    return found


# ---------------------------------------------------------------------------- scenario state

class Scene:
    """One scenario: a work dir, a state dir, a config, a fake key."""

    def __init__(self, name, yaml_body, mode="enforce"):
        self.name = name
        self.work = tempfile.mkdtemp(prefix="akenf.", dir=akcheck.AK_TMP)
        self.state = os.path.join(self.work, "state")
        os.mkdir(self.state)
        self.config = os.path.join(self.work, "agentkavach.yaml")
        self.key = "akfake-%s" % secrets.token_hex(10)
        with open(self.config, "w") as f:
            f.write("# enforcement test config (tests/integration/enforce)\n"
                    "version: 1\nstate_dir: %s\nmode: %s\non_error: open\n"
                    "pricing:\n  file: %s\n  unknown_model: allow\n%s"
                    % (self.state, mode, akcheck.PRICES, yaml_body))
        self.nspec = 0

    def env(self, agent, extra=None):
        env = akcheck.base_env()
        env.update(LD_PRELOAD=PRELOAD, AGENTKAVACH_STATE_DIR=self.state,
                   AGENTKAVACH_CONFIG=self.config, AGENTKAVACH_AGENT=agent,
                   AGENTKAVACH_LOG="warn")
        env.update(extra or {})
        return env

    def spec(self, calls, options=None):
        """calls: [(provider, op, stream, prompt, opts)] -> spec path, call specs."""
        out = []
        for provider, op, stream, prompt, opts in calls:
            o = dict(opts or {})
            o["api_key"] = self.key
            c = akclient.call_spec(provider, op, stream, prompt, o)
            if "fake_now_ms" in o:                 # enforce/agent.py sets it before the call
                c["fake_now_ms"] = o["fake_now_ms"]
            out.append(c)
        self.nspec += 1
        path = os.path.join(self.work, "spec-%d.json" % self.nspec)
        return akclient.spec_write(path, out, options), out

    def akctl(self, *args, env_extra=None):
        env = akcheck.base_env()
        env["AGENTKAVACH_CONFIG"] = self.config
        env.update(env_extra or {})
        try:
            p = subprocess.run([AKCTL, "--config", self.config, "--state-dir", self.state]
                               + list(args), env=env, capture_output=True,
                               timeout=AKCTL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return 124, "", "timed out"
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

    def events(self):
        evs, err = akcheck.akctl_events(self.state, self.config)
        return evs, err

    def status(self):
        rc, out, err = self.akctl("status", "--json")
        if rc != 0:
            return None
        try:
            return json.loads(out)
        except ValueError:
            return None

    def agent_status(self, agent):
        st = self.status() or {}
        for a in st.get("agents", []):
            if a.get("agent") == agent:
                return a
        return None


def uniq_tag(prefix):
    return "%s%s" % (prefix, secrets.token_hex(4))


# ---------------------------------------------------------------------------- timed runs

class TimedRun:
    """A finished client run: rc, out, err, statuses and the time each call took (s)."""

    def __init__(self, rc, out, err, stamps, started):
        self.rc, self.out, self.err = rc, out, err
        self.statuses = []
        self.call_times = []
        prev = started
        for t, line in stamps:
            m = re.match(r"^(status: (\d+)|error: .*)$", line)
            if not m:
                continue
            self.statuses.append(m.group(2) or "error")
            self.call_times.append(t - prev)
            prev = t
        self.total = (stamps[-1][0] if stamps else time.monotonic()) - started


def _pump(stream, sink, stamps=None):
    buf = b""
    for chunk in iter(lambda: stream.read1(65536), b""):
        sink.append(chunk)
        if stamps is not None:
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                stamps.append((time.monotonic(), line.decode("utf-8", "replace")))


AGENT = os.path.join(HERE, "agent.py")


def start(client, spec, env):
    """Starts a client ("agent" = enforce/agent.py) on a spec; the Popen."""
    if client == "agent":
        argv, env = [akclient.PY, AGENT, spec], dict(env)
    else:
        argv, env = akclient.client_argv(client, spec), akclient.client_env(client, env)
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def run_timed(client, spec, env, timeout=RUN_TIMEOUT_S, during=None):
    """Runs a client to its end; during(popen, stderr_stamps, out_chunks) runs meanwhile."""
    started = time.monotonic()
    p = start(client, spec, env)
    out, err, stamps = [], [], []
    threads = [threading.Thread(target=_pump, args=(p.stdout, out)),
               threading.Thread(target=_pump, args=(p.stderr, err, stamps))]
    for t in threads:
        t.start()
    if during:
        during(p, stamps, out)
    try:
        rc = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        rc = "timeout"
    for t in threads:
        t.join()
    return TimedRun(rc, b"".join(out), b"".join(err), stamps, started)


# ---------------------------------------------------------------------------- mock log

def records_with_tag(records, tag):
    """Every mock log record (any kind) that carries this tag."""
    return [r for r in records if r.get("tag") == tag or tag in json.dumps(r)]


def requests_with_tag(records, tag):
    return [r for r in records if r.get("kind") == "request" and r.get("tag") == tag]


def mock_cost_micros(provider, rec):
    """What the mock's answered call costs by pricing/prices.yaml (micro-USD)."""
    if not rec.get("usage"):
        return 0
    return akcheck.prices().cost_micros(provider, rec["model"], rec["usage"]) or 0


def predicted_cost_micros(provider, op, prompt, max_tokens):
    """The cost of one mock call, from the mock's token formula and prices.yaml."""
    model = akclient.MODELS[(provider, op)]
    answered = "gpt-4o-mini-2024-07-18" if model == "gpt-4o-mini" else model
    usage = {"input": len(prompt) // 4 + 7, "output": max_tokens, "cached_input": 0,
             "cache_write": 0, "reasoning": 0}
    return akcheck.prices().cost_micros(provider, answered, usage)


RESERVE_INPUT_FACTOR = 2    # engine/enforce.c: the input bound is 2x the estimate + 16 tokens
RESERVE_INPUT_PAD = 16
EST_BYTES_PER_TOKEN = 4     # engine/reqbody.c: the estimate is text bytes / 4 + 4 per message
EST_MSG_OVERHEAD = 4


def predicted_reserve_micros(provider, op, prompt, max_tokens):
    """The shim's reservation for one call with one message (engine/enforce.c worst_case): the
    input's upper bound at the dearest input price, plus max_tokens at the output price."""
    model = akclient.MODELS[(provider, op)]
    row = akcheck.prices().lookup(provider, model)
    def price(key, default_key):
        return decimal.Decimal(str(row.get(key, row[default_key])))
    p_in = max(price("input", "input"), price("cached_input", "input"), price("cache_write", "input"))
    p_out = max(price("output", "output"), price("reasoning", "output"))
    est = -(-len(prompt.encode()) // EST_BYTES_PER_TOKEN) + EST_MSG_OVERHEAD
    micros = (est * RESERVE_INPUT_FACTOR + RESERVE_INPUT_PAD) * p_in + max_tokens * p_out
    return int(micros.quantize(decimal.Decimal(1), rounding=decimal.ROUND_HALF_UP))


def usd(micros):
    return str((decimal.Decimal(micros) * MICRO).quantize(MICRO))


def ev_brief(evs, n=6):
    return json.dumps([{k: e.get(k) for k in ("decision", "status", "reason", "cost_usd",
                                               "agent")} for e in evs][-n:])[:900]
