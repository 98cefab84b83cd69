#!/usr/bin/python3
"""secrets_scan.py DIR - the suite's last check: no API key the tests used appears in anything
the suite left behind in DIR ($AK_TMP): ledger files (state, outbox), JSONL exports, collector
and receiver logs (OTLP and webhook payloads), every test's output (which carries the engine's
log lines that checks print). The keys are all the fake ones the clients send: the rig's
DEFAULT_KEY and every scene's "akfake-<hex>", "sk-proc-test-key", "test-key-...". Skipped, as
inputs that hold keys on purpose: the clients' request specs (spec*.json), the mock's request
log (it keeps query strings: Gemini's key=), the sandbox's CA files.
Prints one "ok -" or "not ok -" line; exit 1 on a hit."""
import os
import re
import sys

KEY_RE = re.compile(rb"akfake-[0-9a-z-]{4,}|sk-proc-test-key|test-key-[a-z]+-0000")
SKIP_NAME = re.compile(r"^(spec.*\.json|mock\.log.*|ca-bundle\.crt|hosts|.*\.py|.*\.pem|.*\.key)$")
MAX_READ = 64 << 20


def main(root):
    hits, scanned = [], 0
    for d, _, files in os.walk(root):
        for name in files:
            path = os.path.join(d, name)
            if SKIP_NAME.match(name) or os.path.islink(path) or not os.path.isfile(path):
                continue
            try:
                with open(path, "rb") as f:
                    data = f.read(MAX_READ)
            except OSError:
                continue
            scanned += 1
            for m in KEY_RE.finditer(data):
                hits.append("%s: %r" % (os.path.relpath(path, root), m.group(0)[:40]))
                break
    if hits:
        print("not ok - secrets: an API key appears in what the suite left (%d file(s))" % len(hits))
        for h in hits[:20]:
            print("#   " + h)
        return 1
    print("ok - secrets: no API key in the %d files the suite left (state, outbox, JSONL, logs, "
          "test output)" % scanned)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
