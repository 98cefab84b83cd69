# t_valgrind.sh - one real client with the shim under valgrind (memcheck): curl makes a
# metered streaming call and a refused one; no invalid read or write, no use of uninitialised
# memory, no definite leak, and the calls are recorded.
# timeout: 600
vg_case() {
    d=$(mktemp -d "$AK_TMP/vg.XXXXXX")
    printf 'version: 1\nstate_dir: %s/state\npricing:\n  file: %s/pricing/prices.yaml\nagents:\n  vg-bot:\n    budget: { type: total, limit: 0.000001 }\n' \
        "$d" "$AK_ROOT" > "$d/agentkavach.yaml"
    body='{"model":"gpt-4o-mini","stream":true,"max_tokens":8,"messages":[{"role":"user","content":"Say hi. TAG=vg1"}]}'
    for n in 1 2; do
        AGENTKAVACH_CONFIG="$d/agentkavach.yaml" AGENTKAVACH_AGENT=vg-bot LD_PRELOAD="$AK_BUILD/libakshim.so" \
        valgrind -q --error-exitcode=97 --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
            --log-file="$d/vg.$n.log" curl -sS -o "$d/out.$n" -w '%{http_code}\n' \
            -H "Authorization: Bearer akfake-valgrind-0000" -H "Content-Type: application/json" \
            -d "$body" https://api.openai.com/v1/chat/completions > "$d/code.$n" 2> "$d/err.$n"
        echo $? > "$d/rc.$n"
    done
    ak_check "valgrind: curl with the shim, a metered call: clean ($(cat "$d/code.1"))" \
        sh -c "[ \"\$(cat $d/rc.1)\" = 0 ] && [ ! -s $d/vg.1.log ]"
    ak_check "valgrind: curl with the shim, a refused call: clean ($(cat "$d/code.2"))" \
        sh -c "[ \"\$(cat $d/rc.2)\" = 0 ] && [ ! -s $d/vg.2.log ] && [ \"\$(cat $d/code.2)\" = 429 ]"
    for n in 1 2; do [ -s "$d/vg.$n.log" ] && sed 's/^/# /' "$d/vg.$n.log" | head -40; done
    n=$("$AK_BUILD/akctl" --config "$d/agentkavach.yaml" events --json | wc -l)
    ak_check "valgrind: both calls recorded ($n events)" [ "$n" = 2 ]
}
if command -v valgrind > /dev/null; then
    in_sandbox sh -c ". '$AK_IT/lib.sh'; $(type vg_case | tail -n +2); vg_case; ak_finish" || AK_FAILED=$((AK_FAILED + 1))
else
    ak_not_ok "valgrind is installed (mk/deps.sh)"
fi
ak_finish
