/*
 * fuzz_usage.c - usage extraction (engine/usage.c). Properties: the sparse parse (one pass
 * keeping only the members usage needs) and a full cJSON parse give the same usage, model and
 * error flags for every wire format whenever both succeed (the sparse parse checks the
 * top-level members only, so it may read a body whose skipped values a full parse refuses);
 * the byte-level "worth parsing" test has no false negative; text byte counts are bounded by
 * the input.
 * Input: byte 0 = operation/provider, then one JSON payload.
 */
#include <cjson/cJSON.h>

#include "engine/usage.h"
#include "tests/fuzz/fuzz_util.h"

struct op { enum ak_operation op; enum ak_provider prov; };
static const struct op ops[] = {
    { AK_OP_CHAT, AK_PROV_OPENAI }, { AK_OP_RESPONSES, AK_PROV_OPENAI }, { AK_OP_EMBEDDINGS, AK_PROV_OPENAI },
    { AK_OP_MESSAGES, AK_PROV_ANTHROPIC }, { AK_OP_GENERATE_CONTENT, AK_PROV_GEMINI },
    { AK_OP_CHAT, AK_PROV_MISTRAL }, { AK_OP_NONE, AK_PROV_OPENAI },
};
#define N_OPS (sizeof ops / sizeof ops[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = { data, size };
    const struct op *o = &ops[fz_byte(&in) % N_OPS];
    cJSON *full = cJSON_ParseWithLength((const char *)in.p, in.n);
    cJSON *sparse = ak_usage_sparse_parse(in.p, in.n);
    struct ak_xresp a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    if (cJSON_IsObject(full)) {
        ak_usage_apply(o->op, o->prov, full, &a);
        /* (a NUL in a key makes cJSON read "usage\0x" as "usage": not JSON, no byte test) */
        if ((a.have_usage || a.error_event || a.model[0]) && !memchr(in.p, 0, in.n))
        {
            int64_t text_bytes = 0;
            FZ_CHECK(ak_usage_scan(o->op, o->prov, in.p, in.n, true, &text_bytes),
                     "usage scan: no false negative");
        }
    }
    if (sparse && cJSON_IsObject(full)) {
        ak_usage_apply(o->op, o->prov, sparse, &b);
        FZ_CHECK(a.have_usage == b.have_usage && a.error_event == b.error_event &&
                 memcmp(&a.usage, &b.usage, sizeof a.usage) == 0 &&
                 strcmp(a.model, b.model) == 0, "sparse and full parse agree");
    }
    int64_t t = 0;
    (void)ak_usage_scan(o->op, o->prov, in.p, in.n, false, &t);
    FZ_CHECK(t >= 0 && (size_t)t <= in.n, "text bytes within the payload");
    cJSON_Delete(full);
    cJSON_Delete(sparse);
    return 0;
}
