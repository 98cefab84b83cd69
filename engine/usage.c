/*
 * usage.c - per-provider usage, model and error extraction from response JSON, with the
 * normalisation of pricing/pricing.h (see usage.h and reference/wire-formats.md 2-5).
 */
#include "engine/usage.h"

#include <stdio.h>
#include <string.h>

#define USAGE_MAX_TOKENS 1e15        /* larger counts are junk, ignored */

/* A non-negative integer member, or -1 when absent or not a sane number. */
static int64_t usage_num(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > USAGE_MAX_TOKENS)
        return -1;
    return (int64_t)v->valuedouble;
}

static int64_t usage_nz(int64_t v)
{
    return v < 0 ? 0 : v;
}

static const cJSON *usage_obj(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsObject(v) ? v : NULL;
}

/* Keeps the subsets inside their totals so that no price term goes negative. */
static void usage_settle(struct ak_usage *u)
{
    if (u->input_tokens < u->cached_input_tokens + u->cache_write_tokens)
        u->input_tokens = u->cached_input_tokens + u->cache_write_tokens;
    if (u->output_tokens < u->reasoning_tokens)
        u->output_tokens = u->reasoning_tokens;
}

/* OpenAI chat and Mistral: prompt_tokens includes cached; completion includes reasoning. */
static bool usage_chat(const cJSON *u, struct ak_usage *out)
{
    int64_t in = usage_num(u, "prompt_tokens"), o = usage_num(u, "completion_tokens");
    if (in < 0 && o < 0)
        return false;
    const cJSON *pd = usage_obj(u, "prompt_tokens_details");
    const cJSON *cd = usage_obj(u, "completion_tokens_details");
    *out = (struct ak_usage){
        .input_tokens = usage_nz(in), .output_tokens = usage_nz(o),
        .cached_input_tokens = usage_nz(usage_num(pd, "cached_tokens")),
        .cache_write_tokens = usage_nz(usage_num(pd, "cache_write_tokens")),
        .reasoning_tokens = usage_nz(usage_num(cd, "reasoning_tokens")),
    };
    return true;
}

/* OpenAI responses: input_tokens includes cached; output_tokens includes reasoning. */
static bool usage_responses(const cJSON *u, struct ak_usage *out)
{
    int64_t in = usage_num(u, "input_tokens"), o = usage_num(u, "output_tokens");
    if (in < 0 && o < 0)
        return false;
    const cJSON *id = usage_obj(u, "input_tokens_details");
    const cJSON *od = usage_obj(u, "output_tokens_details");
    *out = (struct ak_usage){
        .input_tokens = usage_nz(in), .output_tokens = usage_nz(o),
        .cached_input_tokens = usage_nz(usage_num(id, "cached_tokens")),
        .cache_write_tokens = usage_nz(usage_num(id, "cache_write_tokens")),
        .reasoning_tokens = usage_nz(usage_num(od, "reasoning_tokens")),
    };
    return true;
}

/* OpenAI embeddings: prompt tokens only. */
static bool usage_embeddings(const cJSON *u, struct ak_usage *out)
{
    int64_t in = usage_num(u, "prompt_tokens");
    if (in < 0)
        return false;
    *out = (struct ak_usage){ .input_tokens = in };
    return true;
}

/* Anthropic: input_tokens EXCLUDES cache reads and writes. In a stream, message_delta's
 * usage is cumulative and may repeat (or null) the input fields: a field present here
 * replaces the one seen before, an absent one keeps it. */
static bool usage_anthropic(const cJSON *u, struct ak_usage *acc, bool have)
{
    int64_t in = usage_num(u, "input_tokens"), o = usage_num(u, "output_tokens");
    int64_t rd = usage_num(u, "cache_read_input_tokens");
    int64_t wr = usage_num(u, "cache_creation_input_tokens");
    if (in < 0 && o < 0 && rd < 0 && wr < 0)
        return false;
    struct ak_usage old = have ? *acc : (struct ak_usage){ 0 };
    int64_t old_uncached = old.input_tokens - old.cached_input_tokens - old.cache_write_tokens;
    int64_t uncached = in >= 0 ? in : usage_nz(old_uncached);
    acc->cached_input_tokens = rd >= 0 ? rd : old.cached_input_tokens;
    acc->cache_write_tokens = wr >= 0 ? wr : old.cache_write_tokens;
    acc->input_tokens = uncached + acc->cached_input_tokens + acc->cache_write_tokens;
    acc->output_tokens = o >= 0 ? o : old.output_tokens;
    const cJSON *od = usage_obj(u, "output_tokens_details");
    int64_t think = usage_num(od, "thinking_tokens");
    acc->reasoning_tokens = think >= 0 ? think : old.reasoning_tokens;
    return true;
}

/* Gemini: promptTokenCount includes cached; thoughts are separate from candidates;
 * tool-use prompt tokens count as input. */
static bool usage_gemini(const cJSON *u, struct ak_usage *out)
{
    int64_t in = usage_num(u, "promptTokenCount"), o = usage_num(u, "candidatesTokenCount");
    int64_t th = usage_num(u, "thoughtsTokenCount"), tool = usage_num(u, "toolUsePromptTokenCount");
    if (in < 0 && o < 0 && th < 0)
        return false;
    *out = (struct ak_usage){
        .input_tokens = usage_nz(in) + usage_nz(tool),
        .output_tokens = usage_nz(o) + usage_nz(th),
        .cached_input_tokens = usage_nz(usage_num(u, "cachedContentTokenCount")),
        .reasoning_tokens = usage_nz(th),
    };
    return true;
}

static void usage_model(const cJSON *root, struct ak_xresp *r)
{
    static const char *const holders[] = { "message", "response" };
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "model");
    for (size_t i = 0; !cJSON_IsString(m) && i < AK_ARRAY_LEN(holders); i++)
        m = cJSON_GetObjectItemCaseSensitive(usage_obj(root, holders[i]), "model");
    if (!cJSON_IsString(m))
        m = cJSON_GetObjectItemCaseSensitive(root, "modelVersion");
    if (cJSON_IsString(m) && m->valuestring[0])
        snprintf(r->model, sizeof r->model, "%s", m->valuestring);
}

static void usage_error(const cJSON *root, struct ak_xresp *r)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "type");
    if ((e && !cJSON_IsNull(e)) ||
        (cJSON_IsString(t) && (strcmp(t->valuestring, "error") == 0 ||
                               strcmp(t->valuestring, "response.failed") == 0)))
        r->error_event = true;
}

/* The wire format of a reply: its request's operation, else the provider's usual one. */
static enum ak_operation usage_format(enum ak_operation operation, enum ak_provider provider)
{
    if (operation != AK_OP_NONE)
        return operation;
    if (provider == AK_PROV_ANTHROPIC)
        return AK_OP_MESSAGES;
    if (provider == AK_PROV_GEMINI)
        return AK_OP_GENERATE_CONTENT;
    return AK_OP_CHAT;
}

void ak_usage_apply(enum ak_operation operation, enum ak_provider provider, const cJSON *root,
                    struct ak_xresp *r)
{
    if (!cJSON_IsObject(root))
        return;
    usage_model(root, r);
    usage_error(root, r);
    enum ak_operation fmt = usage_format(operation, provider);
    struct ak_usage u = r->usage;
    bool got = false;
    if (fmt == AK_OP_MESSAGES) {
        const cJSON *uo = usage_obj(root, "usage");
        if (!uo)
            uo = usage_obj(usage_obj(root, "message"), "usage");
        got = uo && usage_anthropic(uo, &u, r->have_usage);
    } else if (fmt == AK_OP_GENERATE_CONTENT) {
        const cJSON *uo = usage_obj(root, "usageMetadata");
        got = uo && usage_gemini(uo, &u);
    } else if (fmt == AK_OP_RESPONSES) {
        const cJSON *uo = usage_obj(root, "usage");
        if (!uo)
            uo = usage_obj(usage_obj(root, "response"), "usage");
        got = uo && usage_responses(uo, &u);
    } else if (fmt == AK_OP_EMBEDDINGS) {
        const cJSON *uo = usage_obj(root, "usage");
        got = uo && usage_embeddings(uo, &u);
    } else {
        const cJSON *uo = usage_obj(root, "usage");
        got = uo && usage_chat(uo, &u);
    }
    if (!got)
        return;
    usage_settle(&u);
    r->usage = u;
    r->have_usage = true;
}

/* After a quoted key at p[i..]: skips blanks, ':' and blanks; index of the value or n. */
static size_t usage_value_at(const unsigned char *p, size_t n, size_t i)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    if (i >= n || p[i] != ':')
        return n;
    i++;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    return i;
}

/* After the "usage prefix: the rest of a "usage" or "usageMetadata" key, else 0. */
static size_t usage_key_rest(const unsigned char *p, size_t n)
{
    static const char *const rests[] = { "\"", "Metadata\"" };
    for (size_t i = 0; i < AK_ARRAY_LEN(rests); i++) {
        size_t l = strlen(rests[i]);
        if (n >= l && memcmp(p, rests[i], l) == 0)
            return l;
    }
    return 0;
}

/* Does a member named key (quoted, e.g. "\"usage\"") start a value whose first byte is
 * in `starts`? */
static bool usage_has_member(const unsigned char *p, size_t n, const char *key,
                             const char *starts)
{
    size_t klen = strlen(key), off = 0;
    while (off < n) {
        const unsigned char *hit = memmem(p + off, n - off, key, klen);
        if (!hit)
            return false;
        size_t k = (size_t)(hit - p) + klen;
        k += usage_key_rest(p + k, n - k);
        size_t v = usage_value_at(p, n, k);
        if (v < n && strchr(starts, p[v]))
            return true;
        off = (size_t)(hit - p) + klen;
    }
    return false;
}

#define USAGE_LIT(s) (s), (sizeof(s) - 1)

bool ak_usage_worth_parsing(const unsigned char *p, size_t n, bool need_model)
{
    if (!p || !n)
        return false;
    /* "usage": null rides on every OpenAI chunk once include_usage is on: objects only.
     * One search for the prefix serves "usage" and "usageMetadata". */
    if (usage_has_member(p, n, "\"usage", "{"))
        return true;
    /* an "error" member, or "type":"error" (Anthropic, Responses) */
    if (memmem(p, n, USAGE_LIT("\"error\"")))
        return true;
    return need_model && memmem(p, n, USAGE_LIT("\"model"));
}

/* Length of the JSON string body starting at p[i] (just after its opening quote). */
static size_t usage_string_len(const unsigned char *p, size_t n, size_t i, size_t *end)
{
    size_t count = 0;
    while (i < n && p[i] != '"') {
        if (p[i] == '\\' && i + 1 < n)
            i++;
        i++;
        count++;
    }
    *end = i;
    return count;
}

/* The member that carries generated text in a stream event of each wire format. */
static const char *usage_text_key(enum ak_operation operation, enum ak_provider provider)
{
    enum ak_operation fmt = usage_format(operation, provider);
    if (fmt == AK_OP_RESPONSES)
        return "\"delta\"";
    if (fmt == AK_OP_MESSAGES || fmt == AK_OP_GENERATE_CONTENT)
        return "\"text\"";
    return "\"content\"";
}

int64_t ak_usage_text_bytes(enum ak_operation operation, enum ak_provider provider,
                            const unsigned char *p, size_t n)
{
    const char *key = usage_text_key(operation, provider);
    size_t klen = strlen(key), off = 0;
    int64_t total = 0;
    if (!p)
        return 0;
    while (off < n) {
        const unsigned char *hit = memmem(p + off, n - off, key, klen);
        if (!hit)
            break;
        size_t v = usage_value_at(p, n, (size_t)(hit - p) + klen);
        off = (size_t)(hit - p) + klen;
        if (v < n && p[v] == '"') {
            size_t end;
            total += (int64_t)usage_string_len(p, n, v + 1, &end);
            off = end;
        }
    }
    return total;
}

/* ---- the sparse parse of a reply body ---- */

static const char *const sparse_keys[] = {
    "model", "modelVersion", "usage", "usageMetadata", "type", "error", "message", "response",
};

static bool sparse_wanted(const unsigned char *k, size_t n)
{
    for (size_t i = 0; i < AK_ARRAY_LEN(sparse_keys); i++)
        if (strlen(sparse_keys[i]) == n && memcmp(sparse_keys[i], k, n) == 0)
            return true;
    return false;
}

/* Index just past the string whose opening quote is at p[i]; n when it never closes. */
static size_t sparse_skip_string(const unsigned char *p, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        if (p[i] == '\\')
            i++;
        else if (p[i] == '"')
            return i + 1;
    }
    return n;
}

static size_t sparse_skip_ws(const unsigned char *p, size_t n, size_t i)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

cJSON *ak_usage_sparse_parse(const unsigned char *p, size_t n)
{
    size_t i = sparse_skip_ws(p, n, 0);
    if (i >= n || p[i] != '{')
        return NULL;
    cJSON *root = cJSON_CreateObject();
    int depth = 0;
    bool expect_key = false;
    while (root && i < n) {
        unsigned char ch = p[i];
        if (ch == '"') {
            size_t end = sparse_skip_string(p, n, i);
            size_t colon = sparse_skip_ws(p, n, end);
            if (depth == 1 && expect_key && colon < n && p[colon] == ':' &&
                sparse_wanted(p + i + 1, end - i - 2)) {
                char key[16];
                const char *vend = NULL;
                snprintf(key, sizeof key, "%.*s", (int)(end - i - 2), (const char *)p + i + 1);
                size_t v = sparse_skip_ws(p, n, colon + 1);
                cJSON *val = cJSON_ParseWithLengthOpts((const char *)p + v, n - v, &vend, false);
                if (!val || !vend || !cJSON_AddItemToObject(root, key, val)) {
                    cJSON_Delete(val);
                    goto broken;
                }
                i = (size_t)((const unsigned char *)vend - p);
                expect_key = false;
                continue;
            }
            i = end;
            expect_key = false;
            continue;
        }
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
            i++;                       /* white space changes nothing */
            continue;
        }
        if (ch == '{' || ch == '[')
            depth++;
        else if (ch == '}' || ch == ']')
            depth--;
        expect_key = depth == 1 && (ch == '{' || ch == ',');
        i++;
        if (depth == 0)
            break;
    }
    if (depth != 0 || sparse_skip_ws(p, n, i) != n)
        goto broken;
    return root;
broken:
    cJSON_Delete(root);
    return NULL;
}
