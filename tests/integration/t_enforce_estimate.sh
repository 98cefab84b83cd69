# t_enforce_estimate.sh - the input-token estimate behind reservations vs the mock's input
# tokens, for short, long, JSON-heavy, code and non-English prompts (enforce/estimate.c, built
# here against build/libakengine.a). It prints the table; the check is that no prompt is
# under-estimated by more than 30 % (an under-estimate is what could let concurrent calls
# overspend; an over-estimate only refuses a little early).
UNDER_LIMIT_PCT=-30
_est=$AK_TMP/estimate
# shellcheck disable=SC2046
if cc -std=gnu11 -Wall -Wextra -D_GNU_SOURCE -I"$AK_ROOT" $(pkg-config --cflags libcjson) \
    -o "$_est" "$AK_IT/enforce/estimate.c" "$AK_BUILD/libakengine.a" "$AK_BUILD/libakcore.a" \
    $(pkg-config --libs yaml-0.1 lmdb libcjson zlib libbrotlidec libzstd libcrypto) \
    -lhttp_parser -lm -ldl -lpthread; then
    ak_ok "estimate.c builds against libakengine.a"
else
    ak_not_ok "estimate.c builds against libakengine.a"
fi
if "$_est" > "$AK_TMP/estimate.out"; then
    sed 's/^/# /' "$AK_TMP/estimate.out"
    ak_check "input estimate: no prompt under-estimated by more than ${UNDER_LIMIT_PCT#-} %" \
        awk -v lim="$UNDER_LIMIT_PCT" 'NR > 1 && $NF ~ /%$/ && $1 != "error" {
            v = $NF; sub(/%/, "", v); if (v + 0 < lim) bad = 1 } END { exit bad }' \
        "$AK_TMP/estimate.out"
else
    ak_not_ok "input estimate: the request parser took every prompt"
fi
ak_finish
