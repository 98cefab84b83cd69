# preload_checks.sh - runs inside the sandbox for t_shim_preload.sh (see there).
# The real /etc/ld.so.preload is never written: a test list is bind-mounted over it inside this
# mount namespace (an empty file is created first when the host has none, and removed after).
. "$AK_IT/lib.sh"

BODY='{"model":"gpt-4o-mini","max_tokens":12,"messages":[{"role":"user","content":"hi TAG=preload"}]}'

preload_main() {
    d=$(mktemp -d "$AK_TMP/preload.XXXXXX")
    chmod 755 "$d"
    echo "$AK_BUILD/libakshim.so" > "$d/ld.so.preload"
    created=0
    if [ ! -e /etc/ld.so.preload ]; then
        : > /etc/ld.so.preload && created=1
    fi
    if ! mount --bind "$d/ld.so.preload" /etc/ld.so.preload; then
        ak_not_ok "ld.so.preload: bind-mount a test preload list"
        [ $created = 1 ] && rm -f /etc/ld.so.preload
        return 1
    fi
    printf 'version: 1\nstate_dir: %s/state\n' "$d" > "$d/agentkavach.yaml"
    mkdir -m 777 "$d/state"

    env -i PATH=/usr/bin:/bin AGENTKAVACH_CONFIG="$d/agentkavach.yaml" AGENTKAVACH_AGENT=host-wide \
        curl -sS -o /dev/null -H "Content-Type: application/json" -d "$BODY" \
        https://api.openai.com/v1/chat/completions
    n=$("$AK_BUILD/akctl" --config "$d/agentkavach.yaml" events --json --agent host-wide | wc -l)
    ak_check "ld.so.preload: a program started with no preload environment is metered" [ "$n" = 1 ]

    # secure mode: a setuid-root copy of curl run by nobody; the shim must stay out of it
    s=$(mktemp -d /tmp/ak-suid.XXXXXX) && chmod 755 "$s"   # a folder nobody can reach
    cp /usr/bin/curl "$s/curl-suid" && chown root "$s/curl-suid" && chmod 4755 "$s/curl-suid"
    code=$(setpriv --reuid=nobody --regid=nogroup --clear-groups env -i PATH=/usr/bin:/bin \
        AGENTKAVACH_CONFIG="$d/agentkavach.yaml" AGENTKAVACH_AGENT=suid-agent \
        "$s/curl-suid" -sS -w '%{http_code}' -o /dev/null -H "Content-Type: application/json" \
        -d "$BODY" https://api.openai.com/v1/chat/completions 2>&1)
    n=$("$AK_BUILD/akctl" --config "$d/agentkavach.yaml" events --json --agent suid-agent | wc -l)
    ak_check "secure mode: a setuid program works (status $code) and the shim stays out" \
        [ "$code" = 200 -a "$n" = 0 ]
    rm -rf "$s"

    # one ledger for the group: root made it first, nobody in the group records into it too,
    # nobody outside it cannot touch it (as make install lays it out, with the group `users`
    # standing in for agentkavach: a test must not add groups to the host)
    shared=$(mktemp -d /tmp/ak-shared.XXXXXX) && chmod 755 "$shared"
    printf 'version: 1\nstate_dir: %s/state\n' "$shared" > "$shared/agentkavach.yaml"
    chmod 644 "$shared/agentkavach.yaml" && mkdir "$shared/state" && chgrp users "$shared/state" \
        && chmod 2770 "$shared/state"
    for who in root nobody-in-group nobody; do
        case $who in
        root) ids="--reuid=root --regid=root --clear-groups" ;;
        nobody-in-group) ids="--reuid=nobody --regid=nogroup --groups=users" ;;
        nobody) ids="--reuid=nobody --regid=nogroup --clear-groups" ;;
        esac
        # shellcheck disable=SC2086
        setpriv $ids env -i PATH=/usr/bin:/bin AGENTKAVACH_CONFIG="$shared/agentkavach.yaml" \
            AGENTKAVACH_AGENT=user-$who AGENTKAVACH_LOG=off curl -sS -o /dev/null \
            -H "Content-Type: application/json" -d "$BODY" https://api.openai.com/v1/chat/completions
    done
    n=$("$AK_BUILD/akctl" --config "$shared/agentkavach.yaml" events --json | grep -c '"decision":"allowed"')
    ak_check "one ledger for the group: root and a member both recorded, an outsider not ($n events)" \
        [ "$n" = 2 ]
    modes=$(stat -c '%a %G' "$shared/state/state.mdb" "$shared/state/state.mdb-lock" | sort -u)
    ak_check "ledger files are 660 with the directory's group, nothing for others ($modes)" \
        [ "$modes" = "660 users" ]
    rm -rf "$shared"

    umount /etc/ld.so.preload
    [ $created = 1 ] && rm -f /etc/ld.so.preload
    return 0
}

preload_main
ak_finish
