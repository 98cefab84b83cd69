/*
 * pricing.c - owns the price table (pricing/prices.yaml, read with libyaml: by a configured
 * pricing.file, and at build time by tools/prices_gen.c for the compiled-in table), the model-name
 * look-up and the cost arithmetic of pricing/pricing.h.
 *
 * Why integers: a price is kept as pico-USD per token. "USD per million tokens" text scaled
 * by 1e6 is exactly pico-USD per token, so the decimal text of prices.yaml is parsed as
 * such (ak_usd_parse: exact, no float) and 0.15 $/Mtok becomes 150000 pico. A cost is an
 * exact 128-bit sum of tokens x pico, rounded once, half up, to micro-USD.
 *
 * How providers report cached tokens (the shim's parsers normalise all of them to
 * struct ak_usage, where input includes cached and cache-written tokens and output includes
 * reasoning, so nothing is counted twice here):
 *   OpenAI    usage.prompt_tokens_details.cached_tokens (Responses: input_tokens_details)
 *             is a subset of prompt_tokens; reasoning_tokens is a subset of completion_tokens.
 *   Anthropic cache_read_input_tokens and cache_creation_input_tokens come OUTSIDE
 *             input_tokens; the parser adds them in to make input the total.
 *   Gemini    cachedContentTokenCount is a subset of promptTokenCount; thoughtsTokenCount is
 *             OUTSIDE candidatesTokenCount, the parser adds it in to make output the total.
 *   Mistral   reports no cache; prompt_tokens / completion_tokens only.
 *
 * Look-up, cheap enough for every metered call (no allocation; a few binary searches over
 * one array sorted by provider then name): overrides from the config match the model name
 * or any normalised form of it (see name_forms) before the table does; the table is then
 * searched for each form in order, first in the caller's provider and, for OpenAI-compatible
 * servers (which may serve any model), then in the other providers' tables.
 */
#include "pricing/pricing.h"
#include "pricing/prices_impl.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define PRICES_VERSION      1
#define FNV64_OFFSET        0xcbf29ce484222325ULL
#define FNV64_PRIME         0x100000001b3ULL
#define PICO_PER_MICRO      1000000LL      /* rounding step of a cost */
#define PICO_PER_USD_MTOK   1000000.0      /* 1 USD per Mtok = 1e6 pico-USD per token */
#define NAME_BUF            256            /* longest model name that gets normalised */
#define MAX_FORMS           8              /* normalised names tried per look-up */
#define TABLE_MIN_CAP       64

/* ------------------------------------------------------------------ loading ---------- */

struct load_ctx {
    const char *path;
    yaml_document_t *doc;
    struct ak_prices *tab;
    char *err;
    size_t errlen;
};

static enum ak_err load_fail(struct load_ctx *c, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes "file:line: message" into c->err; returns AK_ERR_PARSE. */
static enum ak_err load_fail(struct load_ctx *c, const yaml_node_t *node, const char *fmt, ...)
{
    size_t line = node ? node->start_mark.line + 1 : 0;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->err && c->errlen)
        snprintf(c->err, c->errlen, "%s:%zu: %s", c->path, line, msg);
    return AK_ERR_PARSE;
}

static const char *node_scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static bool tokens_parse(const char *s, int64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0)
        return false;
    *out = v;
    return true;
}

/* Reads one "{ input: ..., output: ... }" mapping into *p. */
static enum ak_err load_price(struct load_ctx *c, const yaml_node_t *map, enum ak_provider prov,
                              const char *model, struct ak_price *p)
{
    const char *pn = ak_provider_name(prov);
    if (map->type != YAML_MAPPING_NODE)
        return load_fail(c, map, "models.%s.%s: expected a mapping { input: ..., output: ... }",
                         pn, model);
    bool have_in = false, have_out = false, have_cached = false, have_write = false,
         have_reason = false;
    memset(p, 0, sizeof *p);
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start;
         pr < map->data.mapping.pairs.top; pr++) {
        const yaml_node_t *kn = yaml_document_get_node(c->doc, pr->key);
        const yaml_node_t *vn = yaml_document_get_node(c->doc, pr->value);
        const char *k = node_scalar(kn), *v = node_scalar(vn);
        if (!k)
            return load_fail(c, kn, "models.%s.%s: field names must be plain text", pn, model);
        if (!v)
            return load_fail(c, vn, "models.%s.%s.%s: value must be a number", pn, model, k);
        bool ok;
        if (strcmp(k, "max_output") == 0)
            ok = tokens_parse(v, &p->max_output_tokens);
        else if (strcmp(k, "max_input") == 0)
            ok = tokens_parse(v, &p->max_input_tokens);
        else {
            int64_t *dst;
            bool *seen;
            if (strcmp(k, "input") == 0)             { dst = &p->input_pico; seen = &have_in; }
            else if (strcmp(k, "output") == 0)       { dst = &p->output_pico; seen = &have_out; }
            else if (strcmp(k, "cached_input") == 0) { dst = &p->cached_input_pico; seen = &have_cached; }
            else if (strcmp(k, "cache_write") == 0)  { dst = &p->cache_write_pico; seen = &have_write; }
            else if (strcmp(k, "reasoning") == 0)    { dst = &p->reasoning_pico; seen = &have_reason; }
            else
                return load_fail(c, kn, "models.%s.%s: unknown price field '%s'", pn, model, k);
            /* USD per Mtok text read as micro-units is exactly pico-USD per token. */
            ok = *v >= '0' && *v <= '9' && ak_usd_parse(v, dst);
            *seen = true;
        }
        if (!ok)
            return load_fail(c, vn, "models.%s.%s.%s: bad number '%s' (want a plain decimal >= 0)",
                             pn, model, k, v);
    }
    if (!have_in)
        return load_fail(c, map, "models.%s.%s: 'input' price missing", pn, model);
    if (!have_out)
        return load_fail(c, map, "models.%s.%s: 'output' price missing", pn, model);
    if (!have_cached)
        p->cached_input_pico = p->input_pico;
    if (!have_write)
        p->cache_write_pico = p->input_pico;
    if (!have_reason)
        p->reasoning_pico = p->output_pico;
    return AK_OK;
}

static enum ak_err table_push(struct ak_prices *t, enum ak_provider prov, const char *name,
                              const struct ak_price *price, size_t line)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : TABLE_MIN_CAP;
        struct price_entry *v = realloc(t->own, cap * sizeof *v);
        if (!v)
            return AK_ERR_NOMEM;
        t->own = v;
        t->v = v;
        t->cap = cap;
    }
    char *dup = strdup(name);
    if (!dup)
        return AK_ERR_NOMEM;
    t->own[t->n++] = (struct price_entry){ .prov = prov, .name = dup, .price = *price, .line = line };
    return AK_OK;
}

static enum ak_err load_provider(struct load_ctx *c, enum ak_provider prov, const yaml_node_t *map)
{
    if (map->type != YAML_MAPPING_NODE)
        return load_fail(c, map, "models.%s: expected a mapping of model names",
                         ak_provider_name(prov));
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start;
         pr < map->data.mapping.pairs.top; pr++) {
        const yaml_node_t *kn = yaml_document_get_node(c->doc, pr->key);
        const yaml_node_t *vn = yaml_document_get_node(c->doc, pr->value);
        const char *model = node_scalar(kn);
        if (!model || !*model)
            return load_fail(c, kn, "models.%s: model names must be non-empty text",
                             ak_provider_name(prov));
        struct ak_price price;
        enum ak_err rc = load_price(c, vn, prov, model, &price);
        if (rc != AK_OK)
            return rc;
        rc = table_push(c->tab, prov, model, &price, kn->start_mark.line + 1);
        if (rc != AK_OK)
            return rc;
    }
    return AK_OK;
}

static enum ak_err load_models(struct load_ctx *c, const yaml_node_t *map)
{
    if (map->type != YAML_MAPPING_NODE)
        return load_fail(c, map, "models: expected a mapping of providers");
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start;
         pr < map->data.mapping.pairs.top; pr++) {
        const yaml_node_t *kn = yaml_document_get_node(c->doc, pr->key);
        const char *name = node_scalar(kn);
        enum ak_provider prov = ak_provider_parse(name);
        if (prov == AK_PROV_NONE)
            return load_fail(c, kn, "unknown provider '%s' (openai|anthropic|gemini|mistral)",
                             name ? name : "?");
        enum ak_err rc = load_provider(c, prov, yaml_document_get_node(c->doc, pr->value));
        if (rc != AK_OK)
            return rc;
    }
    return AK_OK;
}

static enum ak_err load_root(struct load_ctx *c)
{
    const yaml_node_t *root = yaml_document_get_root_node(c->doc);
    if (!root || root->type != YAML_MAPPING_NODE)
        return load_fail(c, root, "expected a mapping with 'version' and 'models'");
    const yaml_node_t *models = NULL;
    bool have_version = false;
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
         pr < root->data.mapping.pairs.top; pr++) {
        const yaml_node_t *kn = yaml_document_get_node(c->doc, pr->key);
        const yaml_node_t *vn = yaml_document_get_node(c->doc, pr->value);
        const char *k = node_scalar(kn);
        if (k && strcmp(k, "version") == 0) {
            const char *v = node_scalar(vn);
            if (!v || strtol(v, NULL, 10) != PRICES_VERSION || strspn(v, "0123456789") != strlen(v))
                return load_fail(c, vn, "unsupported version '%s' (want 1)", v ? v : "?");
            have_version = true;
        } else if (k && strcmp(k, "models") == 0) {
            models = vn;
        } else {
            return load_fail(c, kn, "unknown key '%s' (want version, models)", k ? k : "?");
        }
    }
    if (!have_version)
        return load_fail(c, root, "'version: 1' missing");
    if (!models)
        return load_fail(c, root, "'models' missing");
    return load_models(c, models);
}

static int entry_cmp(const void *a, const void *b)
{
    const struct price_entry *x = a, *y = b;
    if (x->prov != y->prov)
        return x->prov < y->prov ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Sorts the table and refuses a model listed twice for one provider. */
static enum ak_err table_finish(struct load_ctx *c)
{
    struct ak_prices *t = c->tab;
    if (t->n > 0)
        qsort(t->own, t->n, sizeof *t->own, entry_cmp);
    for (size_t i = 1; i < t->n; i++) {
        if (entry_cmp(&t->v[i - 1], &t->v[i]) == 0) {
            size_t line = t->v[i - 1].line > t->v[i].line ? t->v[i - 1].line : t->v[i].line;
            if (c->err && c->errlen)
                snprintf(c->err, c->errlen, "%s:%zu: model '%s' listed twice for %s", c->path,
                         line, t->v[i].name, ak_provider_name(t->v[i].prov));
            return AK_ERR_PARSE;
        }
    }
    return AK_OK;
}

enum ak_err ak_prices_load(const char *path, struct ak_prices **out, char *err, size_t errlen)
{
    enum ak_err rc = AK_OK;
    FILE *f = NULL;
    bool parser_ok = false, doc_ok = false;
    yaml_parser_t parser;
    yaml_document_t doc;
    struct ak_prices *tab = NULL;

    if (!path || !out)
        return AK_ERR_INVAL;
    f = fopen(path, "rb");
    if (!f) {
        if (err && errlen)
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
        rc = AK_ERR_IO;
        goto out;
    }
    tab = calloc(1, sizeof *tab);
    if (!tab || !yaml_parser_initialize(&parser)) {
        rc = AK_ERR_NOMEM;
        goto out;
    }
    parser_ok = true;
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        if (err && errlen)
            snprintf(err, errlen, "%s:%zu: %s", path, parser.problem_mark.line + 1,
                     parser.problem ? parser.problem : "YAML syntax error");
        rc = AK_ERR_PARSE;
        goto out;
    }
    doc_ok = true;
    struct load_ctx c = { .path = path, .doc = &doc, .tab = tab, .err = err, .errlen = errlen };
    rc = load_root(&c);
    if (rc == AK_OK)
        rc = table_finish(&c);
    if (rc == AK_OK) {
        *out = tab;
        tab = NULL;
    }
out:
    if (doc_ok)
        yaml_document_delete(&doc);
    if (parser_ok)
        yaml_parser_delete(&parser);
    if (f)
        fclose(f);
    ak_prices_free(tab);
    return rc;
}

uint64_t ak_prices_source_hash(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint64_t h = FNV64_OFFSET;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= FNV64_PRIME;
    }
    return h;
}

void ak_prices_free(struct ak_prices *p)
{
    if (!p || p->compiled)
        return;
    for (size_t i = 0; i < p->n && p->own; i++)
        free((char *)p->own[i].name);
    free(p->own);
    free(p);
}

/* ------------------------------------------------------------------ look-up ---------- */

/* Provider prefixes that clients or gateways put before a model name. tunedModels/ is not
 * one: a tuned Gemini model is priced differently and has no entry. */
static const char *const name_prefixes[] = {
    "models/", "openai/", "anthropic/", "gemini/", "google/", "mistral/", "mistralai/",
};

#define LATEST_SUFFIX "-latest"

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* Length of name without a snapshot suffix (-YYYY-MM-DD, -YYYYMMDD, -MMDD, -latest);
 * 0 when it has none. */
static size_t snapshot_base_len(const char *name, size_t len)
{
    static const size_t digit_runs[] = { 8, 4 };   /* -YYYYMMDD, -MMDD (gpt-4-0613) */
    const size_t dashed = 11;                        /* "-YYYY-MM-DD" */
    const size_t latest = sizeof LATEST_SUFFIX - 1;
    if (len > latest && strcmp(name + len - latest, LATEST_SUFFIX) == 0)
        return len - latest;
    if (len > dashed) {
        const char *s = name + len - dashed;
        if (s[0] == '-' && all_digits(s + 1, 4) && s[5] == '-' && all_digits(s + 6, 2) &&
            s[8] == '-' && all_digits(s + 9, 2))
            return len - dashed;
    }
    for (size_t i = 0; i < AK_ARRAY_LEN(digit_runs); i++) {
        size_t n = digit_runs[i] + 1;
        if (len > n && name[len - n] == '-' && all_digits(name + len - n + 1, n - 1))
            return len - n;
    }
    return 0;
}

struct name_forms {
    char s[MAX_FORMS][NAME_BUF];
    size_t n;
};

static void forms_add(struct name_forms *f, const char *name, size_t len, const char *suffix)
{
    size_t slen = suffix ? strlen(suffix) : 0;
    if (f->n >= MAX_FORMS || len + slen >= NAME_BUF)
        return;
    memcpy(f->s[f->n], name, len);
    if (slen)
        memcpy(f->s[f->n] + len, suffix, slen);
    f->s[f->n][len + slen] = '\0';
    f->n++;
}

/* name, name without its snapshot suffix, that base + "-latest" (mistral-large-2502 ->
 * mistral-large-latest). */
static void forms_add_snapshots(struct name_forms *f, const char *name, size_t len)
{
    forms_add(f, name, len, NULL);
    size_t base = snapshot_base_len(name, len);
    if (base == 0)
        return;
    bool was_latest = strncmp(name + base, LATEST_SUFFIX, len - base) == 0;
    forms_add(f, name, base, NULL);
    if (!was_latest)
        forms_add(f, name, base, LATEST_SUFFIX);
}

/* Every name the model may be priced under, most specific first. A fine-tuned OpenAI
 * model "ft:BASE:org::id" is priced as "ft:BASE". */
static void name_forms_build(const char *model, struct name_forms *f)
{
    size_t len = strlen(model);
    f->n = 0;
    if (strncmp(model, "ft:", 3) == 0) {
        const char *colon = strchr(model + 3, ':');
        if (colon)
            len = (size_t)(colon - model);
    }
    forms_add_snapshots(f, model, len);
    for (size_t i = 0; i < AK_ARRAY_LEN(name_prefixes); i++) {
        size_t plen = strlen(name_prefixes[i]);
        if (len > plen && strncmp(model, name_prefixes[i], plen) == 0) {
            forms_add_snapshots(f, model + plen, len - plen);
            break;
        }
    }
}

static int64_t override_pico(double per_mtok, int64_t fallback)
{
    if (!(per_mtok >= 0) || !isfinite(per_mtok))
        return fallback;
    return llround(per_mtok * PICO_PER_USD_MTOK);
}

static const struct ak_price_override *override_find(const struct ak_config *cfg,
                                                     const struct name_forms *f)
{
    for (size_t i = 0; i < f->n; i++)
        for (size_t j = 0; j < cfg->n_price_overrides; j++) {
            const struct ak_price_override *o = &cfg->price_overrides[j];
            if (o->model && strcmp(o->model, f->s[i]) == 0)
                return o;
        }
    return NULL;
}

static const struct price_entry *table_find(const struct ak_prices *p, enum ak_provider prov,
                                            const char *name)
{
    struct price_entry key = { .prov = prov, .name = name };
    if (!p || p->n == 0)
        return NULL;
    return bsearch(&key, p->v, p->n, sizeof *p->v, entry_cmp);
}

static const struct price_entry *table_find_forms(const struct ak_prices *p,
                                                  enum ak_provider prov,
                                                  const struct name_forms *f)
{
    for (size_t i = 0; i < f->n; i++) {
        const struct price_entry *e = table_find(p, prov, f->s[i]);
        if (e)
            return e;
    }
    return NULL;
}

/* The caller's provider first; an OpenAI-compatible server (or an unknown wire format) may
 * serve any provider's model, so those also search the other tables. */
static const struct price_entry *table_search(const struct ak_prices *p, enum ak_provider prov,
                                              const struct name_forms *f)
{
    static const enum ak_provider all[] = {
        AK_PROV_OPENAI, AK_PROV_ANTHROPIC, AK_PROV_GEMINI, AK_PROV_MISTRAL,
    };
    const struct price_entry *e = NULL;
    if (prov != AK_PROV_NONE)
        e = table_find_forms(p, prov, f);
    if (e || (prov != AK_PROV_OPENAI && prov != AK_PROV_NONE))
        return e;
    for (size_t i = 0; i < AK_ARRAY_LEN(all) && !e; i++)
        if (all[i] != prov)
            e = table_find_forms(p, all[i], f);
    return e;
}

static void override_apply(const struct ak_price_override *o, const struct price_entry *limits,
                           struct ak_price *out)
{
    memset(out, 0, sizeof *out);
    out->input_pico = override_pico(o->input_per_mtok, 0);
    out->output_pico = override_pico(o->output_per_mtok, 0);
    out->cached_input_pico = override_pico(o->cached_input_per_mtok, out->input_pico);
    out->cache_write_pico = override_pico(o->cache_write_per_mtok, out->input_pico);
    out->reasoning_pico = override_pico(o->reasoning_per_mtok, out->output_pico);
    if (limits) {
        out->max_output_tokens = limits->price.max_output_tokens;
        out->max_input_tokens = limits->price.max_input_tokens;
    }
}

enum ak_err ak_price_lookup(const struct ak_prices *p, const struct ak_config *cfg,
                            enum ak_provider provider, const char *model, struct ak_price *out)
{
    if (!model || !*model || !out || provider > AK_PROV_MISTRAL)
        return AK_ERR_INVAL;
    bool overrides = cfg && cfg->n_price_overrides > 0 && cfg->price_overrides;
    if (!overrides) {
        /* Fast path: the exact name in the caller's provider, without building forms. */
        const struct price_entry *e = provider != AK_PROV_NONE ? table_find(p, provider, model)
                                                               : NULL;
        if (e) {
            *out = e->price;
            return AK_OK;
        }
    }
    struct name_forms forms;
    name_forms_build(model, &forms);
    const struct price_entry *e = table_search(p, provider, &forms);
    if (overrides) {
        const struct ak_price_override *o = override_find(cfg, &forms);
        if (o) {
            override_apply(o, e, out);
            return AK_OK;
        }
    }
    if (!e)
        return AK_ERR_NOTFOUND;
    *out = e->price;
    return AK_OK;
}

/* --------------------------------------------------------------- arithmetic ---------- */

static int64_t clamp0(int64_t v)
{
    return v < 0 ? 0 : v;
}

/* pico-USD (never negative) -> micro-USD rounded half up, saturated at INT64_MAX. */
static int64_t pico_to_micros(__int128 pico)
{
    __int128 micros = (pico + PICO_PER_MICRO / 2) / PICO_PER_MICRO;
    return micros > INT64_MAX ? INT64_MAX : (int64_t)micros;
}

int64_t ak_price_cost(const struct ak_price *price, const struct ak_usage *u)
{
    if (!price || !u)
        return 0;
    int64_t cached = clamp0(u->cached_input_tokens);
    int64_t written = clamp0(u->cache_write_tokens);
    int64_t reasoning = clamp0(u->reasoning_tokens);
    int64_t uncached = clamp0(clamp0(u->input_tokens) - cached - written);
    int64_t text_out = clamp0(clamp0(u->output_tokens) - reasoning);
    __int128 pico = (__int128)uncached * clamp0(price->input_pico)
                  + (__int128)cached * clamp0(price->cached_input_pico)
                  + (__int128)written * clamp0(price->cache_write_pico)
                  + (__int128)text_out * clamp0(price->output_pico)
                  + (__int128)reasoning * clamp0(price->reasoning_pico);
    return pico_to_micros(pico);
}

/* max_output <= 0 (the request set no limit) uses the model's own output limit. */
int64_t ak_price_worst_case(const struct ak_price *price, int64_t input_tokens, int64_t max_output)
{
    if (!price)
        return 0;
    int64_t out_tokens = max_output > 0 ? max_output : clamp0(price->max_output_tokens);
    int64_t out_pico = price->output_pico > price->reasoning_pico ? price->output_pico
                                                                  : price->reasoning_pico;
    /* an input token costs at most the dearest of its kinds (Anthropic cache writes: 1.25x) */
    int64_t in_pico = price->input_pico;
    if (price->cache_write_pico > in_pico)
        in_pico = price->cache_write_pico;
    if (price->cached_input_pico > in_pico)
        in_pico = price->cached_input_pico;
    __int128 pico = (__int128)clamp0(input_tokens) * clamp0(in_pico)
                  + (__int128)out_tokens * clamp0(out_pico);
    return pico_to_micros(pico);
}

void ak_prices_each(const struct ak_prices *p, ak_price_iter_fn fn, void *ud)
{
    if (!p || !fn)
        return;
    for (size_t i = 0; i < p->n; i++)
        fn(p->v[i].prov, p->v[i].name, &p->v[i].price, ud);
}
