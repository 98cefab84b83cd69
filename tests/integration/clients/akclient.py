#!/usr/bin/python3
"""akclient.py - the one front door to every integration client.

It owns two things the drivers share, so that no client re-implements them:
  * the request SPEC: for (provider, operation, stream, prompt, options) the exact HTTP request
    a real agent would send (URL, headers, JSON body), written as JSON for a client to replay;
  * the CLIENT registry: how to start each real client program on a spec file.
A client reads the spec, makes every call in it with ONE client object (session, handle,
agent: so keep-alive is real), writes the raw response bodies it received to stdout, byte for
byte, and one "status: N" line per call to stderr ("error: ..." when the call failed).

CLI: akclient.py CLIENT PROVIDER OPERATION STREAM PROMPT [--opt KEY=VALUE]...
  e.g. akclient.py requests openai chat 1 "Say hi TAG=x1" --opt max_tokens=12
       (opts: model, max_tokens, include_usage=0, host, port, gzip=1, http2=1, calls=N,
              gemini_array=1: a Gemini stream without alt=sse, i.e. one JSON array)
"""
import argparse
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
AK_ROOT = os.environ.get("AK_ROOT") or os.path.abspath(os.path.join(HERE, "..", "..", ".."))
CACHE = os.path.join(AK_ROOT, "tests", ".cache")
PY = "/usr/bin/python3"
NODE18_DIR = os.path.join(CACHE, "node18")
NODE18 = os.path.join(NODE18_DIR, "usr", "bin", "node")
NODE18_LIBDIR = os.path.join(NODE18_DIR, "usr", "lib", "x86_64-linux-gnu")
NPM_MODULES = os.path.join(CACHE, "npm", "node_modules")
CALL_TIMEOUT_S = 20
DEFAULT_MAX_TOKENS = 12
# A fake credential: never a real-looking provider key.
DEFAULT_KEY = "akfake-integration-key-000000"

HOSTS = {"openai": "api.openai.com", "anthropic": "api.anthropic.com",
         "gemini": "generativelanguage.googleapis.com", "mistral": "api.mistral.ai"}
MODELS = {("openai", "chat"): "gpt-4o-mini", ("openai", "responses"): "gpt-4o-mini",
          ("openai", "embeddings"): "text-embedding-3-small",
          ("anthropic", "messages"): "claude-sonnet-4-5-20250929",
          ("gemini", "generate_content"): "gemini-2.5-flash",
          ("mistral", "chat"): "mistral-large-latest"}
# Every (provider, operation) the rig knows, with whether it can stream.
OPERATIONS = [("openai", "chat", True), ("openai", "responses", True),
              ("openai", "embeddings", False), ("anthropic", "messages", True),
              ("gemini", "generate_content", True), ("mistral", "chat", True)]
OPENAI_ONLY = {("openai", "chat"), ("openai", "responses"), ("openai", "embeddings")}


def _client(argv, ops=None, node=False, needs=None):
    return {"argv": argv, "ops": ops, "node": node, "needs": needs or []}


CLIENTS = {
    "curl": _client([PY, os.path.join(HERE, "curl_client.py")]),
    "urllib": _client([PY, os.path.join(HERE, "py_client.py"), "urllib"]),
    "requests": _client([PY, os.path.join(HERE, "py_client.py"), "requests"]),
    "httpx": _client([PY, os.path.join(HERE, "py_client.py"), "httpx"]),
    "httpx-async": _client([PY, os.path.join(HERE, "py_client.py"), "httpx-async"]),
    "aiohttp": _client([PY, os.path.join(HERE, "py_client.py"), "aiohttp"]),
    "ruby": _client(["ruby", os.path.join(HERE, "ruby_client.rb")]),
    "php": _client(["php", os.path.join(HERE, "php_client.php")]),
    "php-multi": _client(["php", os.path.join(HERE, "php_client.php"), "--multi"]),
    "node-https": _client([NODE18, os.path.join(HERE, "node_https.js")], node=True,
                          needs=[NODE18]),
    "node-openai": _client([NODE18, os.path.join(HERE, "node_openai.js")], ops=OPENAI_ONLY,
                           node=True, needs=[NODE18, os.path.join(NPM_MODULES, "openai")]),
}


def client_available(name):
    """(True, "") or (False, why) - node clients need setup.sh's cache."""
    for path in CLIENTS[name]["needs"]:
        if not os.path.exists(path):
            return False, "%s missing (run tests/integration/setup.sh)" % path
    return True, ""


def client_supports(name, provider, op):
    ops = CLIENTS[name]["ops"]
    return ops is None or (provider, op) in ops


def client_env(name, env):
    """The environment a client needs on top of env (node 18's libraries and modules)."""
    env = dict(env)
    if CLIENTS[name]["node"]:
        env["LD_LIBRARY_PATH"] = NODE18_LIBDIR
        env["NODE_PATH"] = NPM_MODULES
    return env


def _headers(provider, stream, key, extra):
    h = [["Content-Type", "application/json"],
         ["Accept", "text/event-stream" if stream else "application/json"]]
    if provider == "anthropic":
        h += [["x-api-key", key], ["anthropic-version", "2023-06-01"]]
    elif provider == "gemini":
        h += [["x-goog-api-key", key]]
    else:
        h += [["Authorization", "Bearer " + key]]
    return h + [list(kv) for kv in extra]


def _body_and_path(provider, op, stream, prompt, model, max_tokens, include_usage,
                   gemini_array=False):
    msgs = [{"role": "user", "content": prompt}]
    if provider == "gemini":
        verb = "generateContent"
        if stream:
            verb = "streamGenerateContent" + ("" if str(gemini_array) == "1" else "?alt=sse")
        body = {"contents": [{"role": "user", "parts": [{"text": prompt}]}],
                "generationConfig": {"maxOutputTokens": max_tokens}}
        return body, "/v1beta/models/%s:%s" % (model, verb)
    if provider == "anthropic":
        body = {"model": model, "max_tokens": max_tokens, "messages": msgs}
        path = "/v1/messages"
    elif op == "responses":
        body = {"model": model, "input": prompt, "max_output_tokens": max_tokens}
        path = "/v1/responses"
    elif op == "embeddings":
        return {"model": model, "input": prompt}, "/v1/embeddings"
    else:
        body = {"model": model, "messages": msgs, "max_tokens": max_tokens}
        path = "/v1/chat/completions"
    if stream:
        body["stream"] = True
        if provider == "openai" and op == "chat" and include_usage:
            body["stream_options"] = {"include_usage": True}
    return body, path


def call_spec(provider, op, stream, prompt, opts=None):
    """One call: method, url, headers, body, plus meta (what an SDK driver needs)."""
    o = dict(opts or {})
    model = o.get("model") or MODELS[(provider, op)]
    max_tokens = int(o.get("max_tokens", DEFAULT_MAX_TOKENS))
    include_usage = str(o.get("include_usage", "1")) not in ("0", "false", "")
    host = o.get("host") or HOSTS[provider]
    port = int(o.get("port", 443))
    key = o.get("api_key") or os.environ.get("AK_TEST_API_KEY") or DEFAULT_KEY
    authority = host if port == 443 else "%s:%d" % (host, port)
    if o.get("method") == "GET":
        return {"method": "GET", "url": "https://%s%s" % (authority, o.get("path", "/")),
                "headers": [["Accept", "text/html"]], "body": "",
                "meta": {"provider": None, "op": None, "stream": False, "api_key": key}}
    body, path = _body_and_path(provider, op, stream, prompt, model, max_tokens, include_usage,
                                o.get("gemini_array", False))
    if o.get("path"):
        path = o["path"]
    return {"method": "POST", "url": "https://%s%s" % (authority, path),
            "headers": _headers(provider, stream, key, o.get("headers", [])),
            "body": json.dumps(body),
            "meta": {"provider": provider, "op": op, "stream": bool(stream), "model": model,
                     "prompt": prompt, "max_tokens": max_tokens,
                     "include_usage": include_usage, "api_key": key,
                     "base_url": "https://%s/v1" % authority}}


def spec_write(path, calls, options=None):
    """Writes a spec file: {"calls": [...], "options": {...}}."""
    opts = {"timeout": CALL_TIMEOUT_S, "gzip": False, "http2": False}
    opts.update(options or {})
    with open(path, "w") as f:
        json.dump({"calls": calls, "options": opts}, f, indent=1)
    return path


def client_argv(name, spec_path):
    return CLIENTS[name]["argv"] + [spec_path]


def main():
    ap = argparse.ArgumentParser(description="run one integration client on one call")
    ap.add_argument("client", choices=sorted(CLIENTS))
    ap.add_argument("provider", choices=sorted(HOSTS))
    ap.add_argument("operation")
    ap.add_argument("stream", choices=["0", "1"])
    ap.add_argument("prompt")
    ap.add_argument("--opt", action="append", default=[], help="KEY=VALUE")
    args = ap.parse_args()
    opts = dict(kv.split("=", 1) for kv in args.opt)
    ok, why = client_available(args.client)
    if not ok:
        print("akclient: " + why, file=sys.stderr)
        return 2
    calls = [call_spec(args.provider, args.operation, args.stream == "1",
                       "%s %d" % (args.prompt, i) if int(opts.get("calls", 1)) > 1
                       else args.prompt, opts)
             for i in range(int(opts.get("calls", 1)))]
    fd, spec = tempfile.mkstemp(prefix="akspec.", suffix=".json",
                                dir=os.environ.get("AK_TMP") or None)
    os.close(fd)
    spec_write(spec, calls, {"gzip": opts.get("gzip") == "1", "http2": opts.get("http2") == "1"})
    argv = client_argv(args.client, spec)
    os.execve(argv[0] if os.path.isabs(argv[0]) else _which(argv[0]), argv,
              client_env(args.client, os.environ))
    return 1


def _which(prog):
    for d in os.environ.get("PATH", "/usr/bin:/bin").split(":"):
        p = os.path.join(d, prog)
        if os.access(p, os.X_OK):
            return p
    return prog


if __name__ == "__main__":
    sys.exit(main())
