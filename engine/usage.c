/*
 * usage.c - per-provider usage, model and error extraction from response JSON, with the
 * normalisation of pricing/pricing.h (see usage.h and reference/wire-formats.md 2-5).
 */
#include "engine/usage.h"

#include <stdio.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define USAGE_MAX_TOKENS 1e15        /* larger counts are junk, ignored */
#define USAGE_SIMD_BYTES 16          /* one SSE2 compare */

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
        ak_str_copy(r->model, sizeof r->model, m->valuestring);
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

/* White space as cJSON reads it (every byte up to ' ', form feed included): the byte tests,
 * the sparse and the full parse must agree on every body (tests/fuzz/fuzz_usage.c). */
#define USAGE_WS_MAX ' '

/* After a quoted key at p[i..]: skips blanks, ':' and blanks; index of the value or n. */
static size_t usage_value_at(const unsigned char *p, size_t n, size_t i)
{
    while (i < n && p[i] <= USAGE_WS_MAX)
        i++;
    if (i >= n || p[i] != ':')
        return n;
    i++;
    while (i < n && p[i] <= USAGE_WS_MAX)
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

/* Bit j set when p[base + j] is a '"' followed by 'u', 'e', 'm' or text0 (the first letters
 * of usage, error, model and the operation's text key: a possible key of ours). 16 bytes at a
 * time where SSE2 exists (every x86-64): the scan costs a few instructions per 16 bytes and a
 * little per candidate, where a memmem per key cost more in set-up than in reading. The byte
 * after the 16 is read only when it is inside the payload. */
static inline __attribute__((always_inline)) unsigned
usage_key_mask(const unsigned char *p, size_t n, size_t base, unsigned char text0)
{
    unsigned m = 0;
#ifdef __SSE2__
    if (base + USAGE_SIMD_BYTES + 1 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + base));
        __m128i nx = _mm_loadu_si128((const __m128i *)(const void *)(p + base + 1));
        __m128i want = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(nx, _mm_set1_epi8('u')), _mm_cmpeq_epi8(nx, _mm_set1_epi8('e'))),
            _mm_or_si128(_mm_cmpeq_epi8(nx, _mm_set1_epi8('m')),
                         _mm_cmpeq_epi8(nx, _mm_set1_epi8((char)text0))));
        return (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), want));
    }
#endif
    for (size_t j = 0; j < USAGE_SIMD_BYTES && base + j + 1 < n; j++) {
        unsigned char c = p[base + j + 1];
        if (p[base + j] == '"' && (c == 'u' || c == 'e' || c == 'm' || c == text0))
            m |= 1u << j;
    }
    return m;
}

/* Does p[i..] start with lit (a short key: compared in line, not through memcmp)? */
static inline bool usage_at(const unsigned char *p, size_t n, size_t i, const char *lit, size_t len)
{
    if (n - i < len)
        return false;
    for (size_t j = 0; j < len; j++)
        if (p[i + j] != (unsigned char)lit[j])
            return false;
    return true;
}

#define USAGE_LIT(s) (s), (sizeof(s) - 1)

struct usage_scan {
    const char *tkey;             /* the text key, after its opening quote */
    size_t tlen;
    bool need_model, worth;
    int64_t text;
};

/* The quote at p[i] looked at as a possible key; returns where to go on from when it skipped
 * a text string (its closing quote), else 0. */
static size_t usage_scan_quote(struct usage_scan *s, const unsigned char *p, size_t n, size_t i)
{
    size_t k = i + 1;
    if (k >= n)
        return 0;
    unsigned char c = p[k];
    if (c == 'u' && !s->worth && usage_at(p, n, k, USAGE_LIT("usage"))) {
        size_t r = k + sizeof "usage" - 1;
        r += usage_key_rest(p + r, n - r);
        size_t v = usage_value_at(p, n, r);
        s->worth = v < n && p[v] == '{';
    } else if (c == 'e' && usage_at(p, n, k, USAGE_LIT("error\""))) {
        s->worth = true;
    } else if (c == 'm' && s->need_model && usage_at(p, n, k, USAGE_LIT("model"))) {
        s->worth = true;
    }
    if (c != (unsigned char)s->tkey[0] || !usage_at(p, n, k, s->tkey, s->tlen))
        return 0;
    size_t v = usage_value_at(p, n, k + s->tlen);
    if (v >= n || p[v] != '"')
        return 0;
    size_t end;
    s->text += (int64_t)usage_string_len(p, n, v + 1, &end);
    return end;
}

/* Every quote of the payload is looked at as a possible key (as a byte search would):
 *  - "usage" or "usageMetadata" followed by an object ("usage": null rides on every OpenAI
 *    chunk once include_usage is on: objects only), "error" (a member, or "type":"error"),
 *    "model (when need_model) make the payload worth a parse;
 *  - the text key's string values are counted (escapes as one byte) and skipped. */
bool ak_usage_scan(enum ak_operation operation, enum ak_provider provider,
                   const unsigned char *p, size_t n, bool need_model, int64_t *text_bytes)
{
    struct usage_scan s = { .tkey = usage_text_key(operation, provider) + 1,
                            .need_model = need_model };
    s.tlen = strlen(s.tkey);
    const unsigned char firsts = (unsigned char)s.tkey[0];
    size_t base = 0;
    unsigned m = p && n ? usage_key_mask(p, n, base, firsts) : 0;
    while (p && base < n) {
        if (!m) {
            base += USAGE_SIMD_BYTES;
            m = base < n ? usage_key_mask(p, n, base, firsts) : 0;
            continue;
        }
        size_t i = base + (size_t)__builtin_ctz(m);
        m &= m - 1;
        size_t resume = usage_scan_quote(&s, p, n, i);
        if (resume > i) {
            base = resume;            /* the string's closing quote is looked at again */
            m = base < n ? usage_key_mask(p, n, base, firsts) : 0;
        }
    }
    if (text_bytes)
        *text_bytes = s.text;
    return s.worth;
}

/* ---- the sparse parse of a reply body ---- */

#define SPARSE_KEY(s) { s, sizeof s - 1 }
static const struct { const char *name; size_t len; } sparse_keys[] = {
    SPARSE_KEY("model"), SPARSE_KEY("modelVersion"), SPARSE_KEY("usage"),
    SPARSE_KEY("usageMetadata"), SPARSE_KEY("type"), SPARSE_KEY("error"), SPARSE_KEY("message"),
    SPARSE_KEY("response"),
};

static bool sparse_wanted(const unsigned char *k, size_t n)
{
    for (size_t i = 0; i < AK_ARRAY_LEN(sparse_keys); i++)
        if (sparse_keys[i].len == n && memcmp(sparse_keys[i].name, k, n) == 0)
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
        else if (p[i] < ' ')
            return n;                  /* not JSON (cJSON would cut a key at a NUL): broken */
    }
    return n;
}


static size_t sparse_skip_ws(const unsigned char *p, size_t n, size_t i)
{
    while (i < n && p[i] <= USAGE_WS_MAX)
        i++;
    return i;
}

/* ---- wanted values, built without cJSON's parser where they are plain ----
 * A reply's usage is a small object of small integers; cJSON's parser reads each number with
 * strtod (and localeconv) and cost about 16 k instructions per reply. Plain values (objects of
 * non-negative integers without exponent or fraction, short strings without escapes,
 * true/false/null) are built here with the same cJSON nodes; anything else (arrays, fractions,
 * escapes, deep nesting, anything malformed) is handed to cJSON_ParseWithLengthOpts from the
 * value's first byte, so the tree and the verdict are always cJSON's own. */

#define LITE_DEPTH 4                 /* nesting built here; deeper goes to cJSON */
#define LITE_STR 256                 /* longest string built here */
#define LITE_DIGITS 15               /* integers of up to 15 digits are exact as doubles */

static cJSON *lite_value(const unsigned char *p, size_t n, size_t *i, int depth);

static cJSON *lite_number(const unsigned char *p, size_t n, size_t *i)
{
    size_t j = *i;
    double v = 0;
    while (j < n && p[j] >= '0' && p[j] <= '9' && j - *i <= LITE_DIGITS)
        v = v * 10 + (p[j++] - '0');
    size_t len = j - *i;
    if (len == 0 || len > LITE_DIGITS || (len > 1 && p[*i] == '0') ||
        (j < n && (p[j] == '.' || p[j] == 'e' || p[j] == 'E' || (p[j] >= '0' && p[j] <= '9'))))
        return NULL;
    *i = j;
    return cJSON_CreateNumber(v);
}

static cJSON *lite_string(const unsigned char *p, size_t n, size_t *i)
{
    char buf[LITE_STR];
    size_t j = *i + 1, len = 0;
    while (j < n && p[j] != '"' && p[j] != '\\' && p[j] >= 0x20 && len < sizeof buf - 1)
        buf[len++] = (char)p[j++];
    if (j >= n || p[j] != '"')
        return NULL;
    buf[len] = '\0';
    *i = j + 1;
    return cJSON_CreateString(buf);
}

static cJSON *lite_literal(const unsigned char *p, size_t n, size_t *i)
{
    static const struct { const char *text; int kind; } lits[] = {
        { "true", cJSON_True }, { "false", cJSON_False }, { "null", cJSON_NULL },
    };
    for (size_t k = 0; k < AK_ARRAY_LEN(lits); k++) {
        size_t l = strlen(lits[k].text);
        if (n - *i >= l && memcmp(p + *i, lits[k].text, l) == 0) {
            *i += l;
            return lits[k].kind == cJSON_True ? cJSON_CreateTrue()
                 : lits[k].kind == cJSON_False ? cJSON_CreateFalse() : cJSON_CreateNull();
        }
    }
    return NULL;
}

static cJSON *lite_object(const unsigned char *p, size_t n, size_t *i, int depth)
{
    char key[LITE_STR];
    size_t j = sparse_skip_ws(p, n, *i + 1);
    cJSON *obj = cJSON_CreateObject();
    if (obj && j < n && p[j] == '}') {
        *i = j + 1;
        return obj;
    }
    while (obj && j < n && p[j] == '"') {
        size_t k = j + 1, len = 0;
        while (k < n && p[k] != '"' && p[k] != '\\' && p[k] >= 0x20 && len < sizeof key - 1)
            key[len++] = (char)p[k++];
        key[len] = '\0';
        j = sparse_skip_ws(p, n, k + 1);
        if (k >= n || p[k] != '"' || j >= n || p[j] != ':')
            break;
        j = sparse_skip_ws(p, n, j + 1);
        cJSON *v = lite_value(p, n, &j, depth + 1);
        if (!v || !cJSON_AddItemToObject(obj, key, v)) {
            cJSON_Delete(v);
            break;
        }
        j = sparse_skip_ws(p, n, j);
        if (j < n && p[j] == '}') {
            *i = j + 1;
            return obj;
        }
        if (j >= n || p[j] != ',')
            break;
        j = sparse_skip_ws(p, n, j + 1);
    }
    cJSON_Delete(obj);
    return NULL;
}

/* The value at p[*i] (not white space); *i moves past it. NULL: not plain (or broken). */
static cJSON *lite_value(const unsigned char *p, size_t n, size_t *i, int depth)
{
    if (*i >= n || depth > LITE_DEPTH)
        return NULL;
    unsigned char c = p[*i];
    if (c == '{')
        return lite_object(p, n, i, depth);
    if (c == '"')
        return lite_string(p, n, i);
    if (c >= '0' && c <= '9')
        return lite_number(p, n, i);
    return lite_literal(p, n, i);
}

/* A wanted member's value: built here when plain, else parsed by cJSON. */
static cJSON *sparse_value(const unsigned char *p, size_t n, size_t v, size_t *vend)
{
    size_t j = v;
    cJSON *val = lite_value(p, n, &j, 0);
    if (val) {
        *vend = j;
        return val;
    }
    const char *end = NULL;
    val = cJSON_ParseWithLengthOpts((const char *)p + v, n - v, &end, false);
    if (!val || !end) {
        cJSON_Delete(val);
        return NULL;
    }
    *vend = (size_t)((const unsigned char *)end - p);
    return val;
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
                size_t vend = 0;
                ak_str_copy_n(key, sizeof key, (const char *)p + i + 1, end - i - 2);
                size_t v = sparse_skip_ws(p, n, colon + 1);
                cJSON *val = sparse_value(p, n, v, &vend);
                if (!val || !cJSON_AddItemToObject(root, key, val)) {
                    cJSON_Delete(val);
                    goto broken;
                }
                i = vend;
                expect_key = false;
                continue;
            }
            i = end;
            expect_key = false;
            continue;
        }
        if (ch <= USAGE_WS_MAX) {
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
