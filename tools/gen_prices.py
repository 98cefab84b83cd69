#!/usr/bin/python3
"""gen_prices.py - writes pricing/prices.yaml from LiteLLM's model price table.

agentkavach ships its own small price table (pricing/prices.yaml) so the shim never needs the
network or a 1 MB JSON file at run time. This script derives that table from LiteLLM's
`model_prices_and_context_window.json` (the copy in shared/reference/ is LiteLLM commit
caddc6dd0fc2 of 2025-11-21; see shared/reference/wire-formats.md section 0).

Usage:
    /usr/bin/python3 tools/gen_prices.py [LITELLM_JSON] [-o pricing/prices.yaml]

What it keeps: models whose litellm_provider is openai, anthropic, gemini or mistral and whose
mode is chat, responses or embedding; the "gemini/" and "mistral/" key prefixes are stripped.
Dated snapshot names are kept (they are exact matches). When an OpenAI or Anthropic snapshot
(name-YYYYMMDD or name-YYYY-MM-DD) has no undated entry, an alias under the undated name is
added with the newest snapshot's prices, so that a later snapshot of the same model resolves.

Prices are written in USD per million tokens as exact decimal text (Decimal arithmetic on the
JSON's own text, never float printing), e.g. 2.5e-06 USD/token -> 2.5.
"""

import argparse
import datetime
import decimal
import json
import os
import re
import sys

PROVIDERS = ("openai", "anthropic", "gemini", "mistral")
MODES = ("chat", "responses", "embedding")
STRIP_PREFIXES = ("gemini/", "mistral/")
ALIAS_PROVIDERS = ("openai", "anthropic")
LITELLM_COMMIT = "caddc6dd0fc2 (2025-11-21)"
TOKENS_PER_MTOK = decimal.Decimal(1000000)
DATED = re.compile(r"^(?P<base>.+?)-(?P<date>\d{4}-\d{2}-\d{2}|\d{8})$")
PLAIN_NAME = re.compile(r"^[A-Za-z0-9._-]+$")

# (yaml field, LiteLLM field); input and output are handled apart (they are required).
OPTIONAL_FIELDS = (
    ("cached_input", "cache_read_input_token_cost"),
    ("cache_write", "cache_creation_input_token_cost"),
)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SRC = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "reference",
                                            "litellm-model-prices.json"))
DEFAULT_OUT = os.path.normpath(os.path.join(HERE, "..", "pricing", "prices.yaml"))


def per_mtok(value):
    """USD per token (JSON number) -> USD per Mtok as exact decimal text, or None."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    d = decimal.Decimal(repr(value)) * TOKENS_PER_MTOK
    if d < 0:
        return None
    text = format(d.normalize(), "f")
    return text


def int_field(entry, key):
    v = entry.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        return None
    return v


def convert(entry):
    """One LiteLLM entry -> ordered list of (field, text), or None when it has no token price."""
    inp = per_mtok(entry.get("input_cost_per_token"))
    out = per_mtok(entry.get("output_cost_per_token"))
    if inp is None:
        return None
    if out is None:
        if entry.get("mode") != "embedding":
            return None
        out = "0"
    fields = [("input", inp), ("output", out)]
    for name, src in OPTIONAL_FIELDS:
        v = per_mtok(entry.get(src))
        if v is not None:
            fields.append((name, v))
    reasoning = per_mtok(entry.get("output_cost_per_reasoning_token"))
    if reasoning is not None and decimal.Decimal(reasoning) != decimal.Decimal(out):
        fields.append(("reasoning", reasoning))
    for name, src in (("max_output", "max_output_tokens"), ("max_input", "max_input_tokens")):
        v = int_field(entry, src)
        if v is not None:
            fields.append((name, str(v)))
    return fields


def model_name(key):
    for prefix in STRIP_PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def collect(data):
    """{provider: {model: (fields, comment)}} from the LiteLLM dict."""
    table = {p: {} for p in PROVIDERS}
    for key, entry in data.items():
        if not isinstance(entry, dict) or key == "sample_spec":
            continue
        prov = entry.get("litellm_provider")
        if prov not in PROVIDERS or entry.get("mode") not in MODES:
            continue
        name = model_name(key)
        if "/" in name:
            continue
        fields = convert(entry)
        if fields is not None:
            table[prov][name] = (fields, None)
    add_aliases(table)
    return table


def add_aliases(table):
    """Undated alias for dated OpenAI/Anthropic snapshots that have no undated entry."""
    for prov in ALIAS_PROVIDERS:
        models = table[prov]
        newest = {}
        for name in models:
            m = DATED.match(name)
            if m is None or name.startswith("ft:"):
                continue
            date = m.group("date").replace("-", "")
            base = m.group("base")
            if base in models:
                continue
            if base not in newest or date > newest[base][0]:
                newest[base] = (date, name)
        for base, (_, snap) in newest.items():
            models[base] = (models[snap][0], "alias of the newest snapshot " + snap)


def yaml_key(name):
    if PLAIN_NAME.match(name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


HEADER = """\
# prices.yaml - agentkavach's price table: USD per million tokens per provider and model.
#
# GENERATED by tools/gen_prices.py on {when} from {src}
# (LiteLLM model_prices_and_context_window.json, commit {commit}; see
# shared/reference/wire-formats.md section 0). Regenerate with:
#     /usr/bin/python3 tools/gen_prices.py [path/to/model_prices_and_context_window.json]
# Prices change: local corrections belong in agentkavach.yaml `pricing.overrides`, or point
# `pricing.file` at your own copy of this file.
#
# Format (version 1):
#   version: 1
#   models:
#     <provider>:               # openai | anthropic | gemini | mistral (the wire format)
#       <model>: {{ input: USD, output: USD, cached_input: USD, cache_write: USD,
#                  reasoning: USD, max_output: TOKENS, max_input: TOKENS }}
# input and output are required: USD per million uncached input / output tokens.
# cached_input (cache reads) and cache_write (Anthropic 5-minute cache writes) default to
# input; reasoning (thinking tokens) defaults to output. max_output / max_input are the
# model's output limit and context window (0 or absent = unknown). Prices are plain decimals
# (no exponent), at most 6 decimal places. Long-context (>200k), flex/priority/batch, audio
# and image rates are not modelled.
# Look-up (pricing/pricing.c): exact name, then with a -YYYY-MM-DD / -YYYYMMDD / -MMDD /
# -latest suffix removed, then without a provider prefix (models/, openai/, ...).
"""


def render(table, src, when):
    lines = [HEADER.format(when=when, src=src, commit=LITELLM_COMMIT), "version: 1", "models:"]
    for prov in PROVIDERS:
        lines.append("  %s:" % prov)
        for name in sorted(table[prov]):
            fields, comment = table[prov][name]
            body = ", ".join("%s: %s" % kv for kv in fields)
            line = "    %s: { %s }" % (yaml_key(name), body)
            if comment:
                line += "  # " + comment
            lines.append(line)
    return "\n".join(lines) + "\n"


def main(argv):
    ap = argparse.ArgumentParser(description="Generate pricing/prices.yaml from LiteLLM data.")
    ap.add_argument("source", nargs="?", default=DEFAULT_SRC,
                    help="LiteLLM model_prices_and_context_window.json")
    ap.add_argument("-o", "--output", default=DEFAULT_OUT, help="where to write prices.yaml")
    args = ap.parse_args(argv)
    try:
        with open(args.source, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        print("gen_prices: %s: %s" % (args.source, e), file=sys.stderr)
        return 1
    table = collect(data)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = render(table, os.path.basename(args.source), when)
    tmp = args.output + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, args.output)
    except OSError as e:
        print("gen_prices: %s: %s" % (args.output, e), file=sys.stderr)
        return 1
    counts = ", ".join("%s %d" % (p, len(table[p])) for p in PROVIDERS)
    print("gen_prices: wrote %s (%s)" % (args.output, counts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
