#!/usr/bin/python3
"""demo_agent.py - a tiny "agent" for `make demo`: three chat calls with the standard library.

It knows nothing about agentkavach; the shim is preloaded by akrun. It prints what it got.
"""
import json
import ssl
import sys
import urllib.error
import urllib.request

BASE = sys.argv[1] if len(sys.argv) > 1 else "https://localhost:8443"
CALLS = 3


def call(i):
    body = json.dumps({
        "model": "gpt-4o",
        "max_tokens": 60,
        "messages": [{"role": "user", "content": f"Step {i}: summarise the incident report in one line."}],
    }).encode()
    req = urllib.request.Request(BASE + "/v1/chat/completions", data=body, headers={
        "Authorization": "Bearer sk-demo-not-a-real-key",
        "Content-Type": "application/json",
    })
    try:
        with urllib.request.urlopen(req, context=ssl.create_default_context(), timeout=10) as r:
            reply = json.load(r)
            usage = reply["usage"]
            print(f"  call {i}: HTTP {r.status}, {usage['prompt_tokens']} tokens in, "
                  f"{usage['completion_tokens']} out")
    except urllib.error.HTTPError as e:
        print(f"  call {i}: HTTP {e.code} {e.headers.get('x-should-retry') and '(x-should-retry: false)' or ''}")
        print("    " + e.read().decode())


for i in range(1, CALLS + 1):
    call(i)
