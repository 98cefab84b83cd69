# lib.sh - shared shell helpers of the integration tests; run.sh sources it for every test.
#
# It owns the namespace rig: `in_sandbox CMD...` runs CMD inside a private mount + network
# namespace (unshare -m -n, root) where the real provider host names resolve to 127.0.0.1,
# the test CA is part of the system trust bundle, and the mock provider listens on :443 and
# :8443. Nothing can leave the machine (the namespace has only a loopback interface) and the
# shim sees the real host names, so its built-in host table is what gets tested.
# Also: ok/not-ok reporting (one line per check) and the paths everyone needs.
# Environment contract (run.sh exports these): AK_ROOT, AK_BUILD, AK_TMP and the pinned clock
# AGENTKAVACH_FAKE_NOW_MS (sourced by hand, lib.sh pins one itself; tests/akclock.py).
# shellcheck shell=sh

AK_ROOT=${AK_ROOT:-$(pwd)}          # run.sh sets it; by hand, source lib.sh from the repo root
AK_BUILD=${AK_BUILD:-$AK_ROOT/build}
AK_TMP=${AK_TMP:-/tmp/ak-integration.$$}
AK_IT=$AK_ROOT/tests/integration
AK_CACHE=$AK_ROOT/tests/.cache
AK_PY=/usr/bin/python3
AK_MOCK_PORTS=${AK_MOCK_PORTS:-443,8443}
# Host names that point at the mock inside the sandbox: the four providers, an
# OpenAI-compatible server for config `hosts` tests, and a non-LLM TLS host.
AK_SANDBOX_HOSTS="api.openai.com api.anthropic.com generativelanguage.googleapis.com \
api.mistral.ai llm.internal example.test"
AK_SYSTEM_BUNDLE=/etc/ssl/certs/ca-certificates.crt
AK_MOCK_READY_TRIES=400          # x 0.05 s = 20 s for the mock to bind its ports (a loaded machine)
AK_FAILED=${AK_FAILED:-0}
PYTHONDONTWRITEBYTECODE=1           # no __pycache__ in the tree
export AK_ROOT AK_BUILD AK_TMP AK_IT AK_CACHE AK_PY PYTHONDONTWRITEBYTECODE
if [ -z "${AGENTKAVACH_FAKE_NOW_MS:-}" ]; then
    AGENTKAVACH_FAKE_NOW_MS=$("$AK_PY" "$AK_ROOT/tests/akclock.py" pin "${AK_TEST_NOW:-}")
    export AGENTKAVACH_FAKE_NOW_MS
fi
mkdir -p "$AK_TMP"

ak_ok() { echo "ok - $*"; }
ak_not_ok() { echo "not ok - $*"; AK_FAILED=$((AK_FAILED + 1)); }
# ak_check DESCRIPTION CMD... : one check line from CMD's exit status.
ak_check() {
    _desc=$1; shift
    if "$@"; then ak_ok "$_desc"; else ak_not_ok "$_desc"; fi
}
# ak_finish: the exit status of a test script (non-zero when a check failed).
ak_finish() { [ "$AK_FAILED" -eq 0 ]; }

# Is the preloaded shim built? (Tests run the rig on its own when it is not, see run.sh.)
ak_have_shim() { [ -f "$AK_BUILD/libakshim.so" ] && [ -f "$AK_BUILD/libakengine.so" ]; }

# in_sandbox CMD... : run CMD (and a mock provider) inside one fresh namespace.
# Inside, MOCK_LOG names the mock's request log and AK_SANDBOX=1. Nested calls just run CMD.
in_sandbox() {
    if [ "${AK_SANDBOX:-0}" = 1 ]; then "$@"; return; fi
    if [ "$(id -u)" != 0 ]; then
        echo "in_sandbox: needs root (unshare -m -n)" >&2
        return 2
    fi
    [ -f "$AK_CACHE/ca/server.pem" ] || sh "$AK_IT/setup.sh" --no-node || return 2
    unshare -m -n -- /bin/sh -c '. "$AK_IT/lib.sh" && ak_sandbox_inner "$@"' ak-sandbox "$@"
}

# The part of in_sandbox that runs inside the namespace.
ak_sandbox_inner() {
    AK_SANDBOX=1
    _sb=$(mktemp -d "$AK_TMP/sandbox.XXXXXX") || return 2
    ip link set lo up || return 2
    {
        echo "127.0.0.1 localhost"
        echo "::1 localhost"
        for _h in $AK_SANDBOX_HOSTS; do echo "127.0.0.1 $_h"; done
    } > "$_sb/hosts"
    mount --bind "$_sb/hosts" /etc/hosts || return 2
    cat "$AK_SYSTEM_BUNDLE" "$AK_CACHE/ca/ca.pem" > "$_sb/ca-bundle.crt" || return 2
    mount --bind "$_sb/ca-bundle.crt" "$AK_SYSTEM_BUNDLE" || return 2
    # Belt and braces for clients that look elsewhere first.
    SSL_CERT_FILE=$AK_SYSTEM_BUNDLE
    REQUESTS_CA_BUNDLE=$AK_SYSTEM_BUNDLE
    CURL_CA_BUNDLE=$AK_SYSTEM_BUNDLE
    NODE_EXTRA_CA_CERTS=$AK_CACHE/ca/ca.pem
    MOCK_LOG=${MOCK_LOG:-$_sb/mock.log}
    : >> "$MOCK_LOG"
    export AK_SANDBOX SSL_CERT_FILE REQUESTS_CA_BUNDLE CURL_CA_BUNDLE NODE_EXTRA_CA_CERTS MOCK_LOG
    ak_mock_start "$_sb" || return 2
    "$@"
    _rc=$?
    ak_mock_stop
    return $_rc
}

# ak_mock_start DIR : start the mock provider in the background and wait until it listens.
ak_mock_start() {
    rm -f "$1/mock.ready"
    "$AK_PY" "$AK_IT/mock/mock_provider.py" --ports "$AK_MOCK_PORTS" \
        --cert "$AK_CACHE/ca/server.pem" --key "$AK_CACHE/ca/server.key" \
        --log "$MOCK_LOG" --ready-file "$1/mock.ready" 2> "$1/mock.stderr" &
    AK_MOCK_PID=$!
    _i=0
    while [ ! -s "$1/mock.ready" ]; do
        _i=$((_i + 1))
        if [ "$_i" -gt "$AK_MOCK_READY_TRIES" ] || ! kill -0 "$AK_MOCK_PID" 2>/dev/null; then
            echo "in_sandbox: mock provider did not start:" >&2
            cat "$1/mock.stderr" >&2
            return 1
        fi
        sleep 0.05
    done
}

ak_mock_stop() {
    [ -n "${AK_MOCK_PID:-}" ] || return 0
    kill "$AK_MOCK_PID" 2>/dev/null
    wait "$AK_MOCK_PID" 2>/dev/null
    AK_MOCK_PID=
}

# ak_check_py ARGS... : run the Python check driver (tests/integration/akcheck.py) in a sandbox;
# it prints the ok / not ok lines itself.
ak_check_py() {
    in_sandbox "$AK_PY" "$AK_IT/akcheck.py" "$@" || AK_FAILED=$((AK_FAILED + 1))
}
