"""receiver.py - loopback receivers for the akcollector tests.

HttpReceiver: one HTTP server (http.server in a thread) that plays every HTTP sink at once
and validates what arrives, the way the real services would refuse it:
  /slack               Slack incoming webhook (text + blocks)            -> 200 "ok"
  /pd                  PagerDuty Events API v2 enqueue                   -> 202
  /hook                signed webhook (HMAC-SHA256 over "ts.body", fresh ts) -> 200
  /v1/metrics, /v1/traces  OTLP/HTTP JSON                                -> 200
Invalid payloads get 400 (signature problems 401) and are listed in .invalid.
`fail_status` makes every request answer that status (an endpoint that is "down").
The webhook's timestamp is checked against agentkavach's clock as the sender read it
(now_ms, default: this process's pinned clock, tests/akclock.py), not the machine's date.
SmtpReceiver: python3-aiosmtpd on loopback, keeping each message.
"""
import hashlib
import hmac
import http.server
import json
import os
import re
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import akclock  # noqa: E402

STALE_S = 300
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
DIGITS = re.compile(r"^[0-9]+$")
PD_SEVERITIES = {"critical", "error", "warning", "info"}


def free_port():
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def attrs(lst):
    """OTLP KeyValue list -> {key: python value}."""
    out = {}
    for kv in lst or []:
        v = kv["value"]
        (kind, val), = v.items()
        out[kv["key"]] = val
    return out


def snake_keys(obj, path=""):
    """Object keys with '_' (invalid in OTLP JSON, which is lowerCamelCase)."""
    bad = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if "_" in k:
                bad.append(path + "/" + k)
            bad += snake_keys(v, path + "/" + k)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            bad += snake_keys(v, "%s[%d]" % (path, i))
    return bad


def check_resource(res):
    a = attrs(res["resource"]["attributes"])
    assert a.get("service.name") == "agentkavach", "service.name"
    assert a.get("host.name"), "host.name"


def validate_metrics(doc):
    assert not snake_keys(doc), "snake_case keys: %s" % snake_keys(doc)[:3]
    rm = doc["resourceMetrics"][0]
    check_resource(rm)
    metrics = {m["name"]: m for m in rm["scopeMetrics"][0]["metrics"]}
    tok = metrics["gen_ai.client.token.usage"]
    assert tok["unit"] == "{token}", "token unit"
    dur = metrics["gen_ai.client.operation.duration"]
    assert dur["unit"] == "s", "duration unit"
    cost = metrics["agentkavach.cost"]
    assert cost["unit"] == "USD" and cost["sum"]["isMonotonic"] is True, "cost sum"
    for m in (tok, dur):
        assert m["histogram"]["aggregationTemporality"] in (1, 2)
        for p in m["histogram"]["dataPoints"]:
            assert DIGITS.match(p["timeUnixNano"]) and DIGITS.match(p["startTimeUnixNano"])
            assert p["count"] == "1" and isinstance(p["sum"], (int, float))
            assert len(p["bucketCounts"]) == len(p["explicitBounds"]) + 1, "bucket count length"
            assert all(isinstance(c, str) and DIGITS.match(c) for c in p["bucketCounts"])
            assert sum(int(c) for c in p["bucketCounts"]) == 1
            a = attrs(p["attributes"])
            for k in ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model",
                      "gen_ai.response.model", "server.address"):
                assert k in a, "missing " + k
            if m is tok:
                assert a["gen_ai.token.type"] in ("input", "output"), "token.type"
    for p in cost["sum"]["dataPoints"]:
        assert "agentkavach.agent" in attrs(p["attributes"]), "cost agent attribute"
        assert isinstance(p["asDouble"], (int, float))
    return metrics


def validate_traces(doc):
    assert not snake_keys(doc), "snake_case keys"
    rs = doc["resourceSpans"][0]
    check_resource(rs)
    spans = rs["scopeSpans"][0]["spans"]
    for s in spans:
        assert HEX32.match(s["traceId"]) and HEX16.match(s["spanId"]), "ids"
        assert s["kind"] == 3, "kind CLIENT"
        a = attrs(s["attributes"])
        assert s["name"] == "%s %s" % (a["gen_ai.operation.name"], a["gen_ai.request.model"]), "span name"
        assert DIGITS.match(a["gen_ai.usage.input_tokens"]), "intValue as string"
        assert a["gen_ai.provider.name"] and a["gen_ai.system"], "provider"
        assert DIGITS.match(s["startTimeUnixNano"]) and DIGITS.match(s["endTimeUnixNano"])
    return spans


def validate_slack(doc):
    assert isinstance(doc.get("text"), str) and doc["text"], "text"
    blocks = doc["blocks"]
    assert blocks and all(b["type"] in ("header", "section", "context", "divider") for b in blocks)
    for b in blocks:
        if b["type"] == "section" and "text" in b:
            assert b["text"]["type"] == "mrkdwn" and len(b["text"]["text"]) <= 3000
        for f in b.get("fields", []):
            assert f["type"] == "mrkdwn"


def validate_pd(doc):
    assert doc["event_action"] == "trigger", "event_action"
    assert doc["routing_key"], "routing_key"
    assert 0 < len(doc["dedup_key"]) <= 255, "dedup_key"
    p = doc["payload"]
    assert 0 < len(p["summary"]) <= 1024, "summary"
    assert p["source"], "source"
    assert p["severity"] in PD_SEVERITIES, "severity"
    assert isinstance(p.get("custom_details"), dict)


class HttpReceiver:
    def __init__(self, secret=None, port=0, now_ms=None):
        self.secret = secret
        self.now_ms = now_ms or akclock.now_ms
        self.lock = threading.Lock()
        self.got = {}           # path -> [json docs accepted]
        self.invalid = []       # (path, reason)
        self.attempts = 0
        self.refused = 0        # requests answered with fail_status
        self.fail_status = None
        self.port = port
        self.server = None

    def start(self):
        recv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, status, body=b""):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_HEAD(self):
                self.reply(200)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, text = recv.handle(self.path, self.headers, body)
                self.reply(status, text)

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def docs(self, path):
        with self.lock:
            return list(self.got.get(path, []))

    def verify_signature(self, headers, body):
        ts = headers.get("X-Agentkavach-Timestamp")
        sig = headers.get("X-Agentkavach-Signature")
        if not ts or not sig:
            return "unsigned"
        if abs(self.now_ms() // akclock.MS_PER_S - int(ts)) > STALE_S:
            return "stale timestamp"
        mac = hmac.new(self.secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sig, "sha256=" + mac):
            return "bad signature"
        return None

    def handle(self, path, headers, body):
        with self.lock:
            self.attempts += 1
            fail = self.fail_status
        if fail:
            with self.lock:
                self.refused += 1
            return fail, b"unavailable"
        if path == "/hook" and self.secret:
            why = self.verify_signature(headers, body)
            if why:
                with self.lock:
                    self.invalid.append((path, why))
                return 401, why.encode()
        try:
            doc = json.loads(body)
            {"/slack": validate_slack, "/pd": validate_pd, "/v1/metrics": validate_metrics,
             "/v1/traces": validate_traces, "/hook": lambda d: None}[path](doc)
        except Exception as e:  # any shape problem is a refusal, like the real service's
            with self.lock:
                self.invalid.append((path, "%s: %r" % (type(e).__name__, e)))
            return 400, b"invalid_payload"
        with self.lock:
            self.got.setdefault(path, []).append(doc)
        if path == "/pd":
            return 202, json.dumps({"status": "success", "dedup_key": doc["dedup_key"]}).encode()
        return 200, b"ok" if path == "/slack" else b"{}"


class SmtpReceiver:
    def __init__(self):
        self.messages = []

    def start(self):
        from aiosmtpd.controller import Controller
        recv = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                recv.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                                      envelope.content.decode("utf-8", "replace")))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()
