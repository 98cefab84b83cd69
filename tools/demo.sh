#!/bin/sh
# make demo: agentkavach end to end on a laptop-sized scale. A demo agent (tools/demo_agent.py,
# plain Python urllib) calls a local mock of the OpenAI API through the shim; its tiny daily
# budget lets two calls through and refuses the third with OpenAI's own 429 shape; akctl shows
# the spend; akcollector writes the JSONL audit log and fires a Slack-shaped alert to a local
# receiver. Everything runs on loopback in a scratch directory, removed at the end.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
B="$root/build"
PY=/usr/bin/python3
MOCK_PORT=8443
HOOK_PORT=18080
work=$(mktemp -d /tmp/agentkavach-demo.XXXXXX)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT INT TERM

say() { printf '\n== %s\n' "$*"; }

say "a throwaway CA and a certificate for localhost"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/ca.key" -out "$work/ca.crt" -days 2 \
    -subj /CN=agentkavach-demo-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$work/srv.key" -out "$work/srv.csr" -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost\n' > "$work/san.ext"
openssl x509 -req -in "$work/srv.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial \
    -out "$work/srv.crt" -days 2 -extfile "$work/san.ext" 2>/dev/null
echo "  $work/ca.crt"

say "a mock OpenAI API on https://localhost:$MOCK_PORT and a Slack stand-in on :$HOOK_PORT"
$PY "$root/tests/integration/mock/mock_provider.py" --ports $MOCK_PORT --cert "$work/srv.crt" \
    --key "$work/srv.key" --log "$work/mock.log" --ready-file "$work/ready" &
pids="$pids $!"
$PY "$root/tools/demo_receiver.py" $HOOK_PORT > "$work/slack.out" 2>&1 &
pids="$pids $!"
i=0; while [ ! -f "$work/ready" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done

cat > "$work/agentkavach.yaml" <<YAML
version: 1
state_dir: $work/state
mode: enforce
hosts:
  - { host: localhost, port: $MOCK_PORT, provider: openai }   # an OpenAI-compatible server
channels:
  slack: { type: slack, webhook_url: "http://127.0.0.1:$HOOK_PORT/hook" }
agents:
  demo-agent:
    budget: { type: daily, limit: 0.0015 }                     # USD
    alerts:
      - { threshold: 0.5, channels: [slack] }
exporters:
  jsonl: { path: $work/events.jsonl }
YAML
echo "  config: $work/agentkavach.yaml (daily budget \$0.0015 for demo-agent)"

say "the agent runs under the shim: akrun --agent demo-agent -- python3 demo_agent.py"
SSL_CERT_FILE="$work/ca.crt" "$B/akrun" --agent demo-agent --config "$work/agentkavach.yaml" -- \
    $PY "$root/tools/demo_agent.py" "https://localhost:$MOCK_PORT"
echo "  (the mock received $(wc -l < "$work/mock.log") requests: the refused one never left the process)"

say "akctl status"
"$B/akctl" --config "$work/agentkavach.yaml" status

say "akctl events"
"$B/akctl" --config "$work/agentkavach.yaml" events

say "akcollector --once: the JSONL audit log and the alerts"
"$B/akcollector" --config "$work/agentkavach.yaml" --once || true
sleep 0.3
echo "  $work/events.jsonl:"
sed 's/^/    /' "$work/events.jsonl"
echo "  alerts received:"
cat "$work/slack.out"
