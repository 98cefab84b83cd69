#!/bin/sh
# t_collector.sh - akcollector end to end: builds the akfill helper (events into a ledger
# without the shim), then runs tests/collector/run_tests.py against loopback receivers
# (HTTP sinks and an aiosmtpd SMTP server). One line per check; exit 0 when all pass.
# Env: AK_BUILD (build dir), AK_ROOT (repo root), AK_TMP (scratch dir).
set -u
: "${AK_ROOT:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${AK_BUILD:=$AK_ROOT/build}"
: "${AK_TMP:=$(mktemp -d)}"
if [ ! -x "$AK_BUILD/akcollector" ] || [ ! -f "$AK_BUILD/libakcore.a" ]; then
    echo "not ok - collector: $AK_BUILD/akcollector or libakcore.a is missing (run make)"
    exit 1
fi
PKGS="yaml-0.1 lmdb libcjson zlib libbrotlidec libzstd libcrypto"
AKFILL="$AK_TMP/akfill"
# AK_SAN_FLAGS: set by .ci/run when AK_BUILD is the sanitizer build (the helper links its core)
if ! ${CC:-cc} -std=gnu11 -O1 -g -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE -I"$AK_ROOT" ${AK_SAN_FLAGS:-} \
        $(pkg-config --cflags $PKGS) "$AK_ROOT/tests/collector/akfill.c" "$AK_BUILD/libakcore.a" \
        $(pkg-config --libs $PKGS) -lpthread -lm -o "$AKFILL"; then
    echo "not ok - collector: cannot build the akfill helper"
    exit 1
fi
export AK_BUILD AK_ROOT AK_TMP AKFILL
exec timeout 600 /usr/bin/python3 "$AK_ROOT/tests/collector/run_tests.py"
