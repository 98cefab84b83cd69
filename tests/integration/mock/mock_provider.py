#!/usr/bin/python3
"""mock_provider.py - a local TLS server that answers like the four LLM providers.

It owns the provider side of the integration rig: the real wire formats of OpenAI (chat,
responses, embeddings), Anthropic (messages), Gemini (generateContent, streamGenerateContent)
and Mistral (chat), with deterministic token counts derived from the request, so that a test
can predict every number the shim must record and can compare the bytes a client received
with and without the shim. Every complete request is logged as one JSON line to --log
($MOCK_LOG) *before* the reply is sent, so the log is complete once the client has its answer.

Standard library only (Debian /usr/bin/python3): ssl + socketserver threads, HTTP/1.1 with
keep-alive. The ClientHello is peeked before the handshake to record the SNI and the ALPN list
the client offered; the server selects http/1.1 whenever it is offered and logs what was
negotiated. With --alpn h2,http/1.1 ($MOCK_ALPN) it prefers h2 like the real front ends; it does
not speak HTTP/2, so an h2 connection gets its preface logged ("h2_preface"), then SETTINGS and
GOAWAY(HTTP_1_1_REQUIRED), and is closed: a test can see that h2 was negotiated.

Token rules (see tests/README.md):
  input    = len(prompt text) // 4 + 7                     (prompt text: all message text)
  output   = the request's max tokens field, else 20
  cached   = input // 2        when the prompt contains the word CACHE
  cwrite   = input // 4        when it contains CWRITE (Anthropic cache_creation only)
  reasoning= output // 2       when it contains THINK (Mistral reports none)
Reply variants, by a marker word in the prompt, the X-Mock-Options header, a mock= query
parameter or $MOCK_OPTIONS: GZIP (gzip when the client accepts it), CLEN (Content-Length
instead of chunked), TRUNCATE, BADJSON, BIGHEADERS, BIGBODY, SLOW, ERROR500, LONG (a stream
in LONG_STREAM_PIECES pieces instead of STREAM_PIECES: with SLOW it lasts seconds, so a test
can act while it is in flight on a loaded machine).
"""
import argparse
import hashlib
import json
import os
import re
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import urllib.parse
import zlib

DEFAULT_OUTPUT_TOKENS = 20
CREATED = 1700000000                  # fixed "created" so replies are byte-stable
BIG_HEADER_COUNT = 50
BIG_HEADER_SIZE = 2048                # 50 x 2 KiB = 100 KiB of headers
BIG_BODY_BYTES = 9 * 1024 * 1024 + 512 * 1024
SLOW_DELAY_S = 0.05
MAX_HEAD_BYTES = 1024 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
IDLE_TIMEOUT_S = 30
DEAF_HOLD_S = 6                       # MOCK_DEAF: how long a closed-by-client connection is held
HELLO_PEEK_TIMEOUT_S = 5
HELLO_PEEK_BYTES = 16384              # one TLS record holds a ClientHello
READ_BYTES = 65536
BIG_STREAM_PIECE_BYTES = 65536
TLS_HANDSHAKE = 22
EXT_SNI = 0
EXT_ALPN = 16
STREAM_PIECES = 4
LONG_STREAM_PIECES = 60
EMBED_DIMS = 8
MARKERS = ("CACHE", "CWRITE", "THINK", "GZIP", "CLEN", "TRUNCATE", "BADJSON", "BIGHEADERS",
           "BIGBODY", "SLOW", "ERROR500", "LONG")
# An h2 client gets an empty SETTINGS frame and GOAWAY(last stream 0, HTTP_1_1_REQUIRED).
H2_SETTINGS = bytes.fromhex("000000" "04" "00" "00000000")
H2_GOAWAY_HTTP11 = bytes.fromhex("000008" "07" "00" "00000000" "00000000" "0000000d")
OPENAI_SNAPSHOTS = {"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4o": "gpt-4o-2024-08-06"}
TAG_RE = re.compile(rb"TAG=([A-Za-z0-9_.:-]+)")
GEMINI_RE = re.compile(r"^/v1beta/(?:models|tunedModels)/([^:/]+):(generateContent|streamGenerateContent)$")

LOG_LOCK = threading.Lock()
CONN_LOCK = threading.Lock()
STATE = {"conn_id": 0, "log_fd": -1}


# ---------------------------------------------------------------------------- ClientHello peek

def hello_parse(data):
    """(sni, [alpn offered]) from a TLS ClientHello record; (None, None) when unparsable."""
    try:
        if len(data) < 9 or data[0] != TLS_HANDSHAKE or data[5] != 1:
            return None, None
        p = 9 + 2 + 32                                  # handshake header, version, random
        p += 1 + data[p]                                # session id
        p += 2 + struct.unpack_from("!H", data, p)[0]   # cipher suites
        p += 1 + data[p]                                # compression methods
        end = p + 2 + struct.unpack_from("!H", data, p)[0]
        p += 2
        sni, alpn = None, []
        while p + 4 <= end and p + 4 <= len(data):
            etype, elen = struct.unpack_from("!HH", data, p)
            body = data[p + 4:p + 4 + elen]
            if etype == EXT_SNI and len(body) > 5:
                nlen = struct.unpack_from("!H", body, 3)[0]
                sni = body[5:5 + nlen].decode("ascii", "replace")
            elif etype == EXT_ALPN and len(body) > 2:
                q = 2
                while q < len(body):
                    n = body[q]
                    alpn.append(body[q + 1:q + 1 + n].decode("ascii", "replace"))
                    q += 1 + n
            p += 4 + elen
        return sni, alpn
    except (IndexError, struct.error):
        return None, None


def hello_peek(sock):
    """Peeks (never consumes) the first TLS record: the ClientHello."""
    deadline = time.monotonic() + HELLO_PEEK_TIMEOUT_S
    data = b""
    sock.settimeout(HELLO_PEEK_TIMEOUT_S)
    try:
        while time.monotonic() < deadline:
            data = sock.recv(HELLO_PEEK_BYTES, socket.MSG_PEEK)
            if not data:
                break
            if len(data) >= 5 and len(data) >= 5 + struct.unpack_from("!H", data, 3)[0]:
                break
            time.sleep(0.001)
    except OSError:
        pass
    return hello_parse(data)


# ---------------------------------------------------------------------------- request reading

class Closed(Exception):
    """The client went away (or sent something unreadable)."""


class Reader:
    """Buffered reads of an HTTP/1.1 request from a TLS socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        chunk = self.sock.recv(READ_BYTES)
        if not chunk:
            raise Closed()
        self.buf += chunk

    def until(self, sep, limit):
        while sep not in self.buf:
            if len(self.buf) > limit:
                raise Closed()
            self.fill()
        head, _, self.buf = self.buf.partition(sep)
        return head

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def request_read(rd, wsock):
    """(method, target, version, headers dict lower-case, body) or None at a clean end."""
    try:
        head = rd.until(b"\r\n\r\n", MAX_HEAD_BYTES)
    except Closed:
        return None
    lines = head.decode("latin-1").split("\r\n")
    if lines[0].startswith("PRI * HTTP/2.0"):
        return ("PRI", "*", "HTTP/2.0", {}, b"")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise Closed()
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if headers.get("expect", "").lower() == "100-continue":
        wsock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size = int(rd.until(b"\r\n", 1024).split(b";")[0], 16)
            if size == 0:
                rd.until(b"\r\n", MAX_HEAD_BYTES)       # trailers end with an empty line
                break
            body += rd.exact(size)
            rd.exact(2)
            if len(body) > MAX_BODY_BYTES:
                raise Closed()
    elif "content-length" in headers:
        n = int(headers["content-length"])
        if n > MAX_BODY_BYTES:
            raise Closed()
        body = rd.exact(n)
    return (parts[0], parts[1], parts[2], headers, body)


# ---------------------------------------------------------------------------- request meaning

def text_of(value):
    """All text inside a message content value (string, list of parts, dict)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(text_of(v) for v in value)
    if isinstance(value, dict):
        out = ""
        for key in ("text", "content", "parts", "input"):
            if key in value:
                out += text_of(value[key])
        return out
    return ""


def prompt_of(kind, req):
    if kind in ("chat", "mistral_chat"):
        return text_of(req.get("messages", []))
    if kind == "responses":
        return text_of(req.get("instructions", "")) + text_of(req.get("input", ""))
    if kind == "embeddings":
        return text_of(req.get("input", ""))
    if kind == "messages":
        return text_of(req.get("system", "")) + text_of(req.get("messages", []))
    if kind == "gemini":
        return text_of(req.get("systemInstruction", {})) + text_of(req.get("contents", []))
    return ""


def max_tokens_of(kind, req):
    if kind == "gemini":
        cfg = req.get("generationConfig") or req.get("generation_config") or {}
        v = cfg.get("maxOutputTokens", cfg.get("max_output_tokens"))
    elif kind == "responses":
        v = req.get("max_output_tokens")
    else:
        v = req.get("max_completion_tokens", req.get("max_tokens"))
    return v if isinstance(v, int) and v > 0 else DEFAULT_OUTPUT_TOKENS


def markers_of(prompt, headers, query):
    found = set(m for m in MARKERS if re.search(r"\b%s\b" % m, prompt))
    extra = ",".join([headers.get("x-mock-options", ""), ",".join(query.get("mock", [])),
                      os.environ.get("MOCK_OPTIONS", "")])
    found |= set(x.strip().upper() for x in extra.split(",") if x.strip())
    return found


def counts_of(prompt, max_out, markers, provider):
    """Normalised counts (OpenTelemetry style) for this request."""
    inp = len(prompt) // 4 + 7
    out = max_out
    cached = inp // 2 if "CACHE" in markers and provider != "mistral" else 0
    cwrite = inp // 4 if "CWRITE" in markers and provider == "anthropic" else 0
    reasoning = out // 2 if "THINK" in markers and provider != "mistral" else 0
    return {"input": inp, "output": out, "cached_input": cached, "cache_write": cwrite,
            "reasoning": reasoning}


def stable_id(*parts):
    """An id that depends on what was asked (minus the TAG), so replies are byte-stable; not
    on the exact body bytes, so an added stream_options does not change it."""
    h = hashlib.sha1()
    for p in parts:
        h.update(TAG_RE.sub(b"TAG", p if isinstance(p, bytes) else str(p).encode()))
    return h.hexdigest()[:16]


def reply_text(n_tokens, pad_to=0):
    words = " ".join("tok%d" % i for i in range(max(1, n_tokens)))
    if pad_to > len(words):
        words += " " + "x" * (pad_to - len(words) - 1)
    return words


def split_text(text, pieces):
    step = max(1, (len(text) + pieces - 1) // pieces)
    return [text[i:i + step] for i in range(0, len(text), step)] or [""]


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


# ---------------------------------------------------------------------------- reply builders
# Each builder returns (content_type, [body pieces], raw usage dict or None). For streams the
# pieces are SSE events; for non-streams one JSON document.

def openai_usage(c):
    return {"prompt_tokens": c["input"], "completion_tokens": c["output"],
            "total_tokens": c["input"] + c["output"],
            "prompt_tokens_details": {"cached_tokens": c["cached_input"], "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": c["reasoning"], "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0,
                                          "rejected_prediction_tokens": 0}}


def build_chat(ctx):
    c, model, rid = ctx["counts"], ctx["model"], "chatcmpl-mock" + ctx["id"]
    text = reply_text(c["output"] - c["reasoning"], ctx["pad"])
    usage = openai_usage(c)
    if not ctx["stream"]:
        doc = {"id": rid, "object": "chat.completion", "created": CREATED, "model": model,
               "choices": [{"index": 0, "message": {"role": "assistant", "content": text,
                                                    "refusal": None, "annotations": []},
                            "logprobs": None, "finish_reason": "stop"}],
               "usage": usage, "service_tier": "default", "system_fingerprint": "fp_mock"}
        return "application/json", [dumps(doc).encode()], usage
    with_usage = bool((ctx["req"].get("stream_options") or {}).get("include_usage"))

    def chunk(choices, usage_val=None, final=False):
        d = {"id": rid, "object": "chat.completion.chunk", "created": CREATED, "model": model,
             "service_tier": "default", "system_fingerprint": "fp_mock", "choices": choices}
        if with_usage:
            d["usage"] = usage_val if final else None
        return ("data: " + dumps(d) + "\n\n").encode()

    ev = [chunk([{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": None},
                  "logprobs": None, "finish_reason": None}])]
    for piece in split_text(text, ctx["pieces"]):
        ev.append(chunk([{"index": 0, "delta": {"content": piece}, "logprobs": None,
                          "finish_reason": None}]))
    ev.append(chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]))
    if with_usage:
        ev.append(chunk([], usage, final=True))
    ev.append(b"data: [DONE]\n\n")
    return "text/event-stream; charset=utf-8", ev, usage if with_usage else None


def build_mistral(ctx):
    c, model, rid = ctx["counts"], ctx["model"], "cmpl-mock" + ctx["id"]
    text = reply_text(c["output"], ctx["pad"])
    usage = {"prompt_tokens": c["input"], "completion_tokens": c["output"],
             "total_tokens": c["input"] + c["output"]}
    if not ctx["stream"]:
        doc = {"id": rid, "object": "chat.completion", "model": model, "created": CREATED,
               "choices": [{"index": 0, "message": {"role": "assistant", "content": text,
                                                    "tool_calls": None, "prefix": False},
                            "finish_reason": "stop"}], "usage": usage}
        return "application/json", [dumps(doc).encode()], usage

    def chunk(delta, finish=None, with_usage=False):
        d = {"id": rid, "object": "chat.completion.chunk", "created": CREATED, "model": model,
             "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if with_usage:
            d["usage"] = usage
        return ("data: " + dumps(d) + "\n\n").encode()

    ev = [chunk({"role": "assistant", "content": ""})]
    ev += [chunk({"content": p}) for p in split_text(text, ctx["pieces"])]
    ev.append(chunk({"content": ""}, "stop", True))
    ev.append(b"data: [DONE]\n\n")
    return "text/event-stream", ev, usage


def responses_usage(c):
    return {"input_tokens": c["input"], "input_tokens_details": {"cached_tokens": c["cached_input"]},
            "output_tokens": c["output"],
            "output_tokens_details": {"reasoning_tokens": c["reasoning"]},
            "total_tokens": c["input"] + c["output"]}


def build_responses(ctx):
    c, model, rid = ctx["counts"], ctx["model"], "resp_mock" + ctx["id"]
    text = reply_text(c["output"] - c["reasoning"], ctx["pad"])
    usage = responses_usage(c)
    msg = {"type": "message", "id": "msg_mock" + ctx["id"], "status": "completed",
           "role": "assistant",
           "content": [{"type": "output_text", "text": text, "annotations": []}]}

    def response(status, output, usage_val):
        return {"id": rid, "object": "response", "created_at": CREATED, "status": status,
                "model": model, "output": output, "parallel_tool_calls": True,
                "service_tier": "default", "usage": usage_val}

    if not ctx["stream"]:
        return "application/json", [dumps(response("completed", [msg], usage)).encode()], usage
    seq = [0]

    def event(etype, **fields):
        d = {"type": etype, "sequence_number": seq[0]}
        d.update(fields)
        seq[0] += 1
        return ("event: %s\ndata: %s\n\n" % (etype, dumps(d))).encode()

    item = {"type": "message", "id": msg["id"], "status": "in_progress", "role": "assistant",
            "content": []}
    ev = [event("response.created", response=response("in_progress", [], None)),
          event("response.in_progress", response=response("in_progress", [], None)),
          event("response.output_item.added", output_index=0, item=item),
          event("response.content_part.added", item_id=msg["id"], output_index=0,
                content_index=0, part={"type": "output_text", "text": "", "annotations": []})]
    for piece in split_text(text, ctx["pieces"]):
        ev.append(event("response.output_text.delta", item_id=msg["id"], output_index=0,
                        content_index=0, delta=piece))
    ev += [event("response.output_text.done", item_id=msg["id"], output_index=0,
                 content_index=0, text=text),
           event("response.content_part.done", item_id=msg["id"], output_index=0,
                 content_index=0, part=msg["content"][0]),
           event("response.output_item.done", output_index=0, item=msg),
           event("response.completed", response=response("completed", [msg], usage))]
    return "text/event-stream; charset=utf-8", ev, usage


def build_embeddings(ctx):
    c, inp = ctx["counts"], ctx["req"].get("input", "")
    items = inp if isinstance(inp, list) else [inp]
    data = [{"object": "embedding", "index": i,
             "embedding": [round(((i + 1) * (d + 3) % 17) / 17.0 - 0.5, 6)
                           for d in range(EMBED_DIMS)]} for i in range(len(items))]
    usage = {"prompt_tokens": c["input"], "total_tokens": c["input"]}
    doc = {"object": "list", "data": data, "model": ctx["model"], "usage": usage}
    return "application/json", [dumps(doc).encode()], usage


def anthropic_usage(c, output):
    u = {"input_tokens": c["input"] - c["cached_input"] - c["cache_write"],
         "cache_creation_input_tokens": c["cache_write"],
         "cache_read_input_tokens": c["cached_input"],
         "cache_creation": {"ephemeral_5m_input_tokens": c["cache_write"],
                            "ephemeral_1h_input_tokens": 0},
         "output_tokens": output, "service_tier": "standard"}
    if c["reasoning"]:
        u["output_tokens_details"] = {"thinking_tokens": c["reasoning"]}
    return u


def build_messages(ctx):
    c, model, mid = ctx["counts"], ctx["model"], "msg_mock" + ctx["id"]
    text = reply_text(c["output"] - c["reasoning"], ctx["pad"])
    usage = anthropic_usage(c, c["output"])
    if not ctx["stream"]:
        doc = {"id": mid, "type": "message", "role": "assistant", "model": model,
               "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
               "stop_sequence": None, "usage": usage}
        return "application/json", [dumps(doc).encode()], usage

    def event(etype, d):
        return ("event: %s\ndata: %s\n\n" % (etype, dumps(d))).encode()

    start = {"id": mid, "type": "message", "role": "assistant", "model": model, "content": [],
             "stop_reason": None, "stop_sequence": None, "usage": anthropic_usage(c, 1)}
    ev = [event("message_start", {"type": "message_start", "message": start}),
          event("content_block_start", {"type": "content_block_start", "index": 0,
                                        "content_block": {"type": "text", "text": ""}}),
          event("ping", {"type": "ping"})]
    for piece in split_text(text, ctx["pieces"]):
        ev.append(event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                "delta": {"type": "text_delta", "text": piece}}))
    delta_usage = {k: usage[k] for k in ("input_tokens", "cache_creation_input_tokens",
                                         "cache_read_input_tokens", "output_tokens")}
    if c["reasoning"]:
        delta_usage["output_tokens_details"] = {"thinking_tokens": c["reasoning"]}
    ev += [event("content_block_stop", {"type": "content_block_stop", "index": 0}),
           event("message_delta", {"type": "message_delta",
                                   "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                   "usage": delta_usage}),
           event("message_stop", {"type": "message_stop"})]
    return "text/event-stream; charset=utf-8", ev, usage


def gemini_usage(c, complete):
    u = {"promptTokenCount": c["input"]}
    if c["cached_input"]:
        u["cachedContentTokenCount"] = c["cached_input"]
    if complete:
        u["candidatesTokenCount"] = c["output"] - c["reasoning"]
        if c["reasoning"]:
            u["thoughtsTokenCount"] = c["reasoning"]
    u["totalTokenCount"] = c["input"] + (c["output"] if complete else 0)
    u["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": c["input"]}]
    return u


def build_gemini(ctx):
    c, model = ctx["counts"], ctx["model"]
    text = reply_text(c["output"] - c["reasoning"], ctx["pad"])

    def doc(piece, finish, complete):
        cand = {"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}
        if finish:
            cand["finishReason"] = "STOP"
        return {"candidates": [cand], "usageMetadata": gemini_usage(c, complete),
                "modelVersion": model, "responseId": "mock" + ctx["id"]}

    usage = gemini_usage(c, True)
    if not ctx["stream"]:
        return "application/json", [dumps(doc(text, True, True)).encode()], usage
    pieces = split_text(text, ctx["pieces"])
    docs = [doc(p, i == len(pieces) - 1, i == len(pieces) - 1) for i, p in enumerate(pieces)]
    if ctx["sse"]:
        return ("text/event-stream",
                [("data: " + dumps(d) + "\r\n\r\n").encode() for d in docs], usage)
    out = [("[" if i == 0 else ",\r\n").encode() + dumps(d).encode() for i, d in enumerate(docs)]
    out.append(b"]")
    return "application/json; charset=UTF-8", out, usage


BUILDERS = {"chat": build_chat, "mistral_chat": build_mistral, "responses": build_responses,
            "embeddings": build_embeddings, "messages": build_messages, "gemini": build_gemini}
# (provider, operation) per kind, as the shim's event names them
KIND_NAMES = {"chat": ("openai", "chat"), "mistral_chat": ("mistral", "chat"),
              "responses": ("openai", "responses"), "embeddings": ("openai", "embeddings"),
              "messages": ("anthropic", "messages"), "gemini": ("gemini", "generate_content")}


def error_body(provider, status):
    if provider == "anthropic":
        return {"type": "error", "error": {"type": "api_error", "message": "mock error"},
                "request_id": "req_mock"}
    if provider == "gemini":
        return {"error": {"code": status, "message": "mock error", "status": "INTERNAL"}}
    if provider == "mistral":
        return {"object": "error", "message": "mock error", "type": "internal_error",
                "param": None, "code": "3000"}
    return {"error": {"message": "mock error", "type": "server_error", "param": None,
                      "code": None}}


# ---------------------------------------------------------------------------- routing

def route(method, path, host_header):
    """The kind of LLM endpoint (None for a non-LLM request) and the model in the path."""
    host = host_header.split(":")[0].lower()
    if method != "POST":
        return None, None
    if path == "/v1/chat/completions":
        return ("mistral_chat" if host == "api.mistral.ai" else "chat"), None
    if path == "/v1/responses":
        return "responses", None
    if path == "/v1/embeddings":
        return "embeddings", None
    if path == "/v1/messages":
        return "messages", None
    m = GEMINI_RE.match(path)
    if m:
        return "gemini", m.group(1)
    return None, None


def answered_model(kind, req, path_model):
    if kind == "gemini":
        return path_model or ""
    model = req.get("model") or ""
    if kind in ("chat", "responses"):
        return OPENAI_SNAPSHOTS.get(model, model)
    return model


def normalised(counts, kind):
    """The normalised usage the shim must record (embeddings have no output)."""
    if kind == "embeddings":
        return {"input": counts["input"], "output": 0, "cached_input": 0, "cache_write": 0,
                "reasoning": 0}
    return dict(counts)


class Reply:
    """Everything about one answer: status, headers, body pieces, framing and delays."""

    def __init__(self, status, ctype, pieces):
        self.status, self.ctype, self.pieces = status, ctype, pieces
        self.extra_headers = []
        self.gzip = self.clen = self.truncate = self.slow = False


def plan_llm(kind, path_model, query, headers, body, conn):
    """(Reply, log fields) for an LLM request."""
    try:
        req = json.loads(body or b"{}")
        if not isinstance(req, dict):
            req = {}
    except ValueError:
        req = {}
    provider, operation = KIND_NAMES[kind]
    prompt = prompt_of(kind, req)
    markers = markers_of(prompt, headers, query)
    if kind == "gemini":
        stream = query.get("_op") == ["streamGenerateContent"]
    else:
        stream = bool(req.get("stream"))
    counts = counts_of(prompt, max_tokens_of(kind, req), markers, provider)
    model = answered_model(kind, req, path_model)
    ctx = {"req": req, "counts": counts, "model": model, "stream": stream,
           "id": stable_id(query.get("_path", [""])[0], model, stream, prompt),
           "pad": BIG_BODY_BYTES if "BIGBODY" in markers else 0,
           "pieces": STREAM_PIECES, "sse": query.get("alt") == ["sse"]}
    if "BIGBODY" in markers and stream:
        ctx["pieces"] = BIG_BODY_BYTES // BIG_STREAM_PIECE_BYTES
    elif "LONG" in markers:
        ctx["pieces"] = LONG_STREAM_PIECES
    log = {"provider": provider, "operation": operation, "stream": stream,
           "include_usage": bool((req.get("stream_options") or {}).get("include_usage")),
           "model_requested": req.get("model") if kind != "gemini" else path_model,
           "model": model, "markers": sorted(markers), "max_tokens": max_tokens_of(kind, req)}
    if "ERROR500" in markers:
        reply = Reply(500, "application/json", [dumps(error_body(provider, 500)).encode()])
        log.update(usage_raw=None, usage=None)
    elif "BADJSON" in markers:
        broken = b'{"id":"broken","object":"chat.completion","usage":{"prompt_tokens":12,'
        pieces = [b"data: " + broken + b"\n\n", b"data: [DONE]\n\n"] if stream else [broken]
        reply = Reply(200, "text/event-stream" if stream else "application/json", pieces)
        log.update(usage_raw=None, usage=None)
    else:
        ctype, pieces, raw = BUILDERS[kind](ctx)
        reply = Reply(200, ctype, pieces)
        log.update(usage_raw=raw, usage=normalised(counts, kind) if raw is not None else None)
    apply_markers(reply, markers, headers)
    if reply.truncate:
        log.update(usage=None, truncated=True)
    return reply, log


def apply_markers(reply, markers, headers):
    accepts_gzip = "gzip" in headers.get("accept-encoding", "").lower()
    reply.gzip = "GZIP" in markers and accepts_gzip
    reply.clen = "CLEN" in markers
    reply.slow = "SLOW" in markers
    reply.truncate = "TRUNCATE" in markers
    if "BIGHEADERS" in markers:
        reply.extra_headers = [("x-mock-pad-%02d" % i, "p" * BIG_HEADER_SIZE)
                               for i in range(BIG_HEADER_COUNT)]


def plan_other(method, path, host):
    if method == "GET" and path in ("/", "/index.html"):
        page = b"<!doctype html><html><body><p>mock page for %s</p></body></html>\n" % \
            host.encode("latin-1", "replace")
        return Reply(200, "text/html; charset=utf-8", [page])
    body = dumps({"error": {"message": "no such route: %s %s" % (method, path),
                            "type": "invalid_request_error", "param": None,
                            "code": "unknown_url"}}).encode()
    return Reply(404, "application/json", [body])


# ---------------------------------------------------------------------------- sending

REASONS = {200: "OK", 404: "Not Found", 500: "Internal Server Error"}


def encode_pieces(reply):
    """Body pieces as they go on the wire (gzip applied per piece, sync-flushed)."""
    if not reply.gzip:
        return list(reply.pieces)
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)   # gzip wrapper, mtime 0: deterministic
    out = [comp.compress(p) + comp.flush(zlib.Z_SYNC_FLUSH) for p in reply.pieces]
    out.append(comp.flush(zlib.Z_FINISH))
    return [p for p in out if p]


def reply_send(sock, reply, keep_alive):
    pieces = encode_pieces(reply)
    total = sum(len(p) for p in pieces)
    head = ["HTTP/1.1 %d %s" % (reply.status, REASONS.get(reply.status, "Status")),
            "Content-Type: " + reply.ctype, "x-request-id: req_mock",
            "Connection: " + ("keep-alive" if keep_alive else "close")]
    if reply.gzip:
        head.append("Content-Encoding: gzip")
    head.append("Content-Length: %d" % total if reply.clen else "Transfer-Encoding: chunked")
    head += ["%s: %s" % kv for kv in reply.extra_headers]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
    if reply.truncate:
        cut = max(1, total // 2)
        data = b"".join(pieces)[:cut]
        sock.sendall(data if reply.clen else b"%x\r\n%s\r\n" % (len(data), data))
        return False
    for i, piece in enumerate(pieces):
        if reply.slow and i:
            time.sleep(SLOW_DELAY_S)
        sock.sendall(piece if reply.clen else b"%x\r\n%s\r\n" % (len(piece), piece))
    if not reply.clen:
        sock.sendall(b"0\r\n\r\n")
    return keep_alive


# ---------------------------------------------------------------------------- connection

def log_write(record):
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    with LOG_LOCK:
        if STATE["log_fd"] >= 0:
            os.write(STATE["log_fd"], line)


class Handler(socketserver.BaseRequestHandler):
    """One TCP connection: ClientHello peek, TLS handshake, then HTTP/1.1 requests."""

    def handle(self):
        with CONN_LOCK:
            STATE["conn_id"] += 1
            conn_id = STATE["conn_id"]
        sni, offered = hello_peek(self.request)
        try:
            tls = self.server.tls.wrap_socket(self.request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            log_write({"kind": "tls_error", "conn_id": conn_id, "sni": sni,
                       "alpn_offered": offered, "error": str(e)})
            return
        tls.settimeout(IDLE_TIMEOUT_S)
        conn = {"conn_id": conn_id, "sni": sni, "alpn_offered": offered,
                "alpn": tls.selected_alpn_protocol(), "port": self.server.server_address[1],
                "tls_version": tls.version()}
        try:
            self.serve(tls, conn)
            # MOCK_DEAF=1: a server that ignores the client's close_notify (keeps the
            # connection open, sends nothing), so that only the shim's SHUT_RD can wake a
            # client whose call was refused on a kept-alive connection.
            if os.environ.get("MOCK_DEAF") == "1":
                time.sleep(DEAF_HOLD_S)
        except (Closed, OSError, ssl.SSLError, ValueError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def serve(self, tls, conn):
        rd = Reader(tls)
        n = 0
        while True:
            got = request_read(rd, tls)
            if got is None:
                return
            method, target, version, headers, body = got
            n += 1
            if method == "PRI":
                log_write(dict(conn, kind="h2_preface", req_no=n))
                tls.sendall(H2_SETTINGS + H2_GOAWAY_HTTP11)
                return
            split = urllib.parse.urlsplit(target)
            query = urllib.parse.parse_qs(split.query)
            host = headers.get("host", "")
            kind, path_model = route(method, split.path, host)
            record = dict(conn, kind="request", req_no=n, method=method, path=split.path,
                          query=split.query, host=host, http_version=version,
                          tag=None, body_bytes=len(body),
                          has_auth=any(h in headers for h in
                                       ("authorization", "x-api-key", "x-goog-api-key")),
                          accept_encoding=headers.get("accept-encoding"),
                          user_agent=headers.get("user-agent"))
            m = TAG_RE.search(body) or TAG_RE.search(target.encode("latin-1", "replace"))
            if m:
                record["tag"] = m.group(1).decode()
            if kind:
                if kind == "gemini":
                    query["_op"] = [split.path.rsplit(":", 1)[1]]
                query["_path"] = [split.path]
                reply, fields = plan_llm(kind, path_model, query, headers, body, conn)
                record.update(fields)
            else:
                reply = plan_other(method, split.path, host)
                record.update(provider=None, usage=None, usage_raw=None, stream=False)
            keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close" \
                and not reply.truncate
            record.update(status=reply.status, gzip=reply.gzip,
                          framing="length" if reply.clen else "chunked")
            log_write(record)
            if not reply_send(tls, reply, keep):
                return


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def tls_context(cert, key, alpn, tls_max):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(alpn)
    if tls_max == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--ports", default="443", help="comma-separated, e.g. 443,8443")
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--log", default=os.environ.get("MOCK_LOG", ""))
    ap.add_argument("--ready-file", default="")
    ap.add_argument("--alpn", default=os.environ.get("MOCK_ALPN", "http/1.1"),
                    help="protocols the server accepts, in preference order")
    ap.add_argument("--tls-max", default=os.environ.get("MOCK_TLS_MAX", ""))
    args = ap.parse_args()
    if args.log:
        STATE["log_fd"] = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    ctx = tls_context(args.cert, args.key, args.alpn.split(","), args.tls_max)
    servers = []
    for port in args.ports.split(","):
        srv = Server((args.host, int(port)), Handler)
        srv.tls = ctx
        servers.append(srv)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write("%d\n" % os.getpid())
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
