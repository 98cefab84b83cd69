#!/bin/sh
# The stub's dlopen wrapper must keep the caller's RUNPATH ($ORIGIN) meaning intact, and must
# clear RTLD_DEEPBIND for objects that need libssl (PHP's ext-curl case), so the hooks still run.
set -u
d="$AK_TMP/stub_dlopen"
rm -rf "$d" && mkdir -p "$d/lib"
cc -shared -fPIC -o "$d/lib/libakrpath.so" "$AK_ROOT/tests/stub/runpath_lib.c" -lssl || exit 1
cc -o "$d/prog" "$AK_ROOT/tests/stub/runpath_main.c" -Wl,--enable-new-dtags -Wl,-rpath,'$ORIGIN/lib' -ldl || exit 1
fail=0
check() { # name expected command...
    name=$1; want=$2; shift 2
    got=$("$@" 2>&1)
    case "$got" in
        *"$want"*) echo "ok - $name" ;;
        *) echo "not ok - $name (got: $got)"; fail=1 ;;
    esac
}
check "RUNPATH lookup without the shim" "loaded" "$d/prog"
check "RUNPATH lookup through the shim's dlopen" "loaded" env LD_PRELOAD="$AK_BUILD/libakshim.so" "$d/prog"
check "DEEPBIND kept for a bare name (no file to inspect)" "library's own" \
    env LD_PRELOAD="$AK_BUILD/libakshim.so" "$d/prog" deepbind
check "DEEPBIND cleared by the shim for an object needing libssl" "global (hookable)" \
    env LD_PRELOAD="$AK_BUILD/libakshim.so" "$d/prog" deepbind "$d/lib/libakrpath.so"
check "no DEEPBIND: global binding" "global (hookable)" env LD_PRELOAD="$AK_BUILD/libakshim.so" "$d/prog"
exit $fail
