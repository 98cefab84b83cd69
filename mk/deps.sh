#!/bin/sh
# Installs the Debian packages agentkavach needs to build and test. As root it runs apt-get;
# otherwise it prints the one apt-get line that is missing and fails.
set -e
PKGS="build-essential pkg-config libyaml-dev liblmdb-dev lmdb-utils libcjson-dev libcmocka-dev \
libcurl4-openssl-dev zlib1g-dev libbrotli-dev libzstd-dev libhttp-parser-dev libssl-dev openssl \
curl python3 python3-requests python3-httpx python3-aiohttp python3-aiosmtpd python3-yaml ruby php-cli php-curl \
iproute2 util-linux faketime libmicrohttpd-dev libjs-chart.js chromium python3-websocket \
clang libclang-rt-14-dev libhiredis-dev redis-server valgrind libevent-dev golang-go \
libnghttp2-dev python3-h2"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "deps: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  echo "deps: missing packages; run: sudo apt-get install -y$missing" >&2
  exit 1
fi
