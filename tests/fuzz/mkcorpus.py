#!/usr/bin/python3
"""mkcorpus.py - writes the seed corpora of tests/fuzz/corpus/<target>/ (run once, committed).
Each seed opens with the target's control bytes (see each fuzz_*.c) followed by realistic wire
bytes: replies of every provider, streamed and not, chunked and compressed; requests of every
provider; SSE streams; usage payloads; compressed bodies; configs; ledger records."""
import gzip
import os
import struct
import subprocess
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def http(status_head, body, chunked=False, enc=None):
    head = "HTTP/1.1 %s\r\n" % status_head
    if enc:
        head += "Content-Encoding: %s\r\n" % enc
    if chunked:
        out = head + "Transfer-Encoding: chunked\r\n\r\n"
        raw = body
        parts = b""
        for i in range(0, len(raw), 37):
            c = raw[i:i + 37]
            parts += b"%x\r\n" % len(c) + c + b"\r\n"
        return out.encode() + parts + b"0\r\n\r\n"
    return (head + "Content-Length: %d\r\n\r\n" % len(body)).encode() + body


OA_JSON = (b'{"id":"c1","object":"chat.completion","model":"gpt-4o-mini-2024-07-18","choices":'
           b'[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],'
           b'"usage":{"prompt_tokens":14,"completion_tokens":3,"total_tokens":17,'
           b'"prompt_tokens_details":{"cached_tokens":2},"completion_tokens_details":'
           b'{"reasoning_tokens":1}}}')
OA_SSE = (b'data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,'
          b'"delta":{"content":"Hel"}}]}\n\n'
          b'data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,'
          b'"delta":{},"finish_reason":"stop"}]}\n\n'
          b'data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o","choices":[],'
          b'"usage":{"prompt_tokens":79,"completion_tokens":14,"total_tokens":93}}\n\n'
          b'data: [DONE]\n\n')
RESP_JSON = (b'{"id":"r","object":"response","model":"gpt-4o","output":[],"usage":{"input_tokens":5,'
             b'"input_tokens_details":{"cached_tokens":0},"output_tokens":7,'
             b'"output_tokens_details":{"reasoning_tokens":2}}}')
RESP_SSE = (b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"x"}\n\n'
            b'event: response.completed\ndata: {"type":"response.completed","response":{"model":"gpt-4o",'
            b'"usage":{"input_tokens":5,"output_tokens":7}}}\n\n')
EMB = b'{"object":"list","data":[],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}'
AN_JSON = (b'{"id":"m","type":"message","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hi"}],'
           b'"usage":{"input_tokens":10,"cache_creation_input_tokens":3,"cache_read_input_tokens":4,'
           b'"output_tokens":5}}')
AN_SSE = (b'event: message_start\ndata: {"type":"message_start","message":{"model":"claude-sonnet-4-5",'
          b'"usage":{"input_tokens":10,"output_tokens":1}}}\n\n'
          b'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"type":"text_delta","text":"Hi"}}\n\n'
          b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":12}}\n\n'
          b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
GE_JSON = (b'{"candidates":[{"content":{"parts":[{"text":"Hi"}]}}],"usageMetadata":{"promptTokenCount":4,'
           b'"candidatesTokenCount":2,"thoughtsTokenCount":1,"cachedContentTokenCount":1},'
           b'"modelVersion":"gemini-2.5-flash"}')
GE_SSE = b'data: ' + GE_JSON + b'\r\n\r\n'
GE_ARR = b'[' + GE_JSON + b',\r\n' + GE_JSON + b']'
ERR = b'{"error":{"message":"bad","type":"invalid_request_error"}}'

SSE_HEAD = "200 OK\r\nContent-Type: text/event-stream"
JSON_HEAD = "200 OK\r\nContent-Type: application/json"

# fuzz_resp: profile byte (index into profiles[] of fuzz_resp.c), split seed
RESP = [
    (0, JSON_HEAD, OA_JSON), (1, SSE_HEAD, OA_SSE), (2, SSE_HEAD, OA_SSE), (3, JSON_HEAD, RESP_JSON),
    (4, SSE_HEAD, RESP_SSE), (5, JSON_HEAD, EMB), (6, JSON_HEAD, AN_JSON), (7, SSE_HEAD, AN_SSE),
    (8, JSON_HEAD, GE_JSON), (9, SSE_HEAD, GE_SSE), (9, JSON_HEAD, GE_ARR), (10, JSON_HEAD, OA_JSON),
    (11, SSE_HEAD, OA_SSE), (12, SSE_HEAD, OA_SSE), (0, "400 Bad Request\r\nContent-Type: application/json", ERR),
]
for i, (prof, head, body) in enumerate(RESP):
    put("fuzz_resp", "cl-%02d" % i, bytes([prof, i]) + http(head, body))
    put("fuzz_resp", "chunked-%02d" % i, bytes([prof, i + 50]) + http(head, body, chunked=True))
    put("fuzz_resp", "gzip-%02d" % i, bytes([prof, i + 90]) + http(head, gzip.compress(body), enc="gzip"))
put("fuzz_resp", "continue", bytes([0, 1]) + b"HTTP/1.1 100 Continue\r\n\r\n" + http(JSON_HEAD, OA_JSON))
put("fuzz_resp", "close", bytes([0x80 | 1, 2]) + b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n" + OA_SSE)

# fuzz_req: provider byte (bit 7: body only after a fixed head), split seed
def req(path, host, body, extra="", chunked=False):
    h = "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer fuzz-0000\r\nContent-Type: application/json\r\n%s" % (path, host, extra)
    if chunked:
        return (h + "Transfer-Encoding: chunked\r\n\r\n").encode() + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    return (h + "Content-Length: %d\r\n\r\n" % len(body)).encode() + body

CHAT = b'{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi \\u0000 there"}],"seed":9007199254740993,"temperature":1e999,"max_tokens":12,"user":"u1"}'
put("fuzz_req", "chat", bytes([0, 1]) + req("/v1/chat/completions", "api.openai.com", CHAT))
put("fuzz_req", "chat-chunked", bytes([0, 2]) + req("/v1/chat/completions", "api.openai.com", CHAT, chunked=True))
put("fuzz_req", "chat-gzip", bytes([0, 3]) + req("/v1/chat/completions", "api.openai.com", gzip.compress(CHAT), "Content-Encoding: gzip\r\n"))
put("fuzz_req", "chat-leading-crlf", bytes([0, 4]) + b"\r\n" + req("/v1/chat/completions", "api.openai.com", CHAT))
put("fuzz_req", "chat-so", bytes([0, 5]) + req("/v1/chat/completions", "x", b'{"model":"m","stream":true,"stream_options":{"include_obfuscation":false}}'))
put("fuzz_req", "pipelined", bytes([0, 6]) + b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n" + req("/v1/chat/completions", "x", CHAT))
put("fuzz_req", "responses", bytes([0, 7]) + req("/v1/responses", "api.openai.com", b'{"model":"gpt-4o","input":"hi","max_output_tokens":5}'))
put("fuzz_req", "anthropic", bytes([1, 8]) + req("/v1/messages", "api.anthropic.com", b'{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"metadata":{"user_id":"u"},"stream":true}'))
put("fuzz_req", "gemini", bytes([2, 9]) + req("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=k", "generativelanguage.googleapis.com", b'{"contents":[{"parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":9}}'))
put("fuzz_req", "mistral", bytes([3, 10]) + req("/v1/chat/completions", "api.mistral.ai", CHAT))
for i, b in enumerate([CHAT, b'{"model":"gpt-4o","stream":true,"stream_options":null}',
                       b' {"stream":true, "stream_options" : { "include_usage" : false } } ']):
    put("fuzz_req", "body-%d" % i, bytes([0x80, i]) + b)

# fuzz_sse: options byte (bit 0 keep_raw), split seed
for i, s in enumerate([OA_SSE, RESP_SSE, AN_SSE, GE_SSE, b"event: x\r\ndata: a\r\ndata: b\r\n\r\n: comment\n\nretry: 5\n\n",
                       b"data: no end"]):
    put("fuzz_sse", "s%d" % i, bytes([1, i]) + s)
    put("fuzz_sse", "t%d" % i, bytes([2, i]) + s)

# fuzz_usage: op byte
for i, (op, p) in enumerate([(0, OA_JSON), (0, b'{"choices":[],"usage":{"prompt_tokens":79,"completion_tokens":14}}'),
                             (1, RESP_JSON), (2, EMB), (3, AN_JSON), (4, GE_JSON), (5, OA_JSON), (0, ERR),
                             (3, b'{"type":"message_delta","usage":{"output_tokens":12}}'),
                             (0, b'{"model" \x0c: "x","usage":{"prompt_tokens":1}}')]):
    put("fuzz_usage", "u%d" % i, bytes([op]) + p)

# fuzz_decode: coding byte (0 gzip, 1 deflate, 2 br, 3 zstd), split seed
put("fuzz_decode", "gzip", bytes([0, 1]) + gzip.compress(OA_JSON))
put("fuzz_decode", "deflate", bytes([1, 2]) + zlib.compress(OA_SSE))
put("fuzz_decode", "zstd", bytes([3, 3]) + subprocess.run(["zstd", "-q", "-c"], input=AN_SSE, capture_output=True).stdout)
put("fuzz_decode", "br-empty", bytes([2, 4]) + b"\x06")        # brotli: empty stream
put("fuzz_decode", "br-raw", bytes([2, 5]) + b"\x0b\x02\x80hello\x03")  # uncompressed meta-block

# fuzz_config: whole files
for src in ["agentkavach.yaml.example", "dist/agentkavach.yaml"] + [
        "tests/unit/fixtures/config/" + f for f in sorted(os.listdir(os.path.join(ROOT, "tests/unit/fixtures/config")))]:
    with open(os.path.join(ROOT, src), "rb") as f:
        put("fuzz_config", os.path.basename(src), f.read())
put("fuzz_config", "small", b"version: 1\nstate_dir: /tmp/x\nagents:\n  a:\n    budget: { type: daily, limit: 5 }\n")

# fuzz_ledger: table byte, key length, key, value (budget rec: version 1, type, pad, 4 x int64)
rec = struct.pack("<BB6xqqqq", 1, 0, 5, 0, 1, 0)
put("fuzz_ledger", "budget-ok", bytes([0, 15]) + b"abot\x002026-11-22" + rec)
put("fuzz_ledger", "budget-newer", bytes([0, 15]) + b"abot\x002026-11-22" + struct.pack("<BB6xqqqq", 2, 0, 5, 0, 1, 0))
put("fuzz_ledger", "budget-short", bytes([0, 15]) + b"abot\x002026-11-22" + rec[:20])
put("fuzz_ledger", "agent", bytes([1, 3]) + b"bot" + bytes([1, 1, 1, 0, 0, 0, 0, 0]) + b"\0" * 300)
put("fuzz_ledger", "res", bytes([2, 8]) + struct.pack("<Q", 1) + struct.pack("<BB2xiqqq", 1, 1, 999999, 5, 1, 0) + b"\x0f\x00sbot\x002026-11-22")
put("fuzz_ledger", "hist", bytes([3, 3]) + b"bot" + struct.pack("<B3xI", 1, 2) + b"\x01" * 64)
put("fuzz_ledger", "event", bytes([4, 8]) + struct.pack("<Q", 7) + b'{"event_id":"x"}')
put("fuzz_ledger", "cursor", bytes([5, 3]) + b"bot" + struct.pack("<B7xQ", 1, 5))
put("fuzz_ledger", "meta", bytes([6, 17]) + b"ledger.event_seq\x00" + struct.pack("<B7xQ", 1, 2**63))
