#!/usr/bin/python3
"""mkcorpus_h2.py - writes the seed corpus of fuzz_h2 (tests/fuzz/corpus/fuzz_h2/; run once,
committed): client conversations after the preface (SETTINGS, HEADERS with the dynamic table
in use, CONTINUATION, padded DATA, RST_STREAM, a refused max_tokens) and the server's answers
(SETTINGS, HEADERS, DATA, PING ACK, GOAWAY), in fuzz_h2.c's layout. Uses python3-hpack."""
import json
import os
import struct

import hpack

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "fuzz_h2")


def frame(t, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([t, flags]) + struct.pack(">I", sid) + payload


def req(enc, sid, max_tokens, stream=False):
    h = enc.encode([(":method", "POST"), (":scheme", "https"), (":authority", "api.openai.com"),
                    (":path", "/v1/chat/completions"), ("content-type", "application/json"),
                    ("authorization", "Bearer fuzz-key")])
    body = json.dumps({"model": "gpt-4o", "stream": stream, "max_tokens": max_tokens,
                       "messages": [{"role": "user", "content": "hi"}]}).encode()
    return h, body


def resp(enc, sid, sse):
    h = enc.encode([(":status", "200"), ("content-type",
                                         "text/event-stream" if sse else "application/json")])
    if sse:
        body = (b'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\n'
                b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}\n\n'
                b"data: [DONE]\n\n")
    else:
        body = b'{"model":"gpt-4o","usage":{"prompt_tokens":5,"completion_tokens":2}}'
    return frame(1, 4, sid, h) + frame(0, 1, sid, body)


def seed(name, seedbyte, client, server):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(bytes([seedbyte]) + struct.pack(">H", len(client)) + client + server)


def main():
    ce, se = hpack.Encoder(), hpack.Encoder()
    h1, b1 = req(ce, 1, 20)
    h3, b3 = req(ce, 3, 500)
    h5, b5 = req(ce, 5, 30, stream=True)
    client = frame(4, 0, 0, b"") + frame(1, 4, 1, h1) + frame(1, 4, 3, h3) + frame(1, 4, 5, h5)
    client += frame(0, 1, 1, b1) + frame(0, 1, 3, b3) + frame(0, 8 | 1, 5, b"\x02" + b5 + b"\0\0")
    server = frame(4, 0, 0, b"") + resp(se, 1, False) + frame(6, 1, 0, b"AKrefuse") + resp(se, 5, True)
    seed("refuse-one-of-three", 7, client, server)
    ce = hpack.Encoder()
    h1, b1 = req(ce, 1, 20)
    cont = frame(1, 0x20, 1, b"\x00\x00\x00\x00\x10" + h1[:5]) + frame(9, 0, 1, h1[5:9]) + \
        frame(9, 4, 1, h1[9:])
    client = frame(4, 0, 0, struct.pack(">HI", 1, 4096)) + cont + frame(0, 0, 1, b1[:9]) + \
        frame(3, 0, 3, b"\0\0\0\x08") + frame(0, 1, 1, b1[9:]) + frame(8, 0, 0, b"\0\0\x10\0")
    server = frame(4, 0, 0, struct.pack(">HI", 4, 1 << 20)) + frame(8, 0, 0, b"\0\1\0\0") + \
        frame(7, 0, 0, b"\0\0\0\1\0\0\0\0") + resp(hpack.Encoder(), 1, False) + frame(3, 0, 1, b"\0\0\0\2")
    seed("continuation-goaway", 200, client, server)


if __name__ == "__main__":
    main()
