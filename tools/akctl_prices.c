/*
 * akctl_prices.c - `akctl prices [MODEL]` (the price table, or one model's resolved price
 * and the rule that resolved it) and `akctl config check FILE` (load a configuration as the
 * shim would and report the refusal, file:line and key, or a one-line summary).
 */
#include "tools/akctl.h"

#include <stdlib.h>
#include <string.h>

#include "pricing/pricing.h"

#define PICO_PER_USD_MTOK 1000000.0   /* pico-USD per token in one USD per million tokens */
#define PRICE_TEXT 32
#define MIN_DECIMALS 2

struct price_entry {
    enum ak_provider prov;
    char *model;
    struct ak_price price;
};

struct price_list {
    struct price_entry *v;
    size_t n, cap;
    enum ak_err rc;
};

static void list_add(enum ak_provider prov, const char *model, const struct ak_price *price, void *ud)
{
    struct price_list *l = ud;
    if (l->rc != AK_OK)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        struct price_entry *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->rc = AK_ERR_NOMEM;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    struct price_entry *e = &l->v[l->n];
    e->model = strdup(model);
    if (!e->model) {
        l->rc = AK_ERR_NOMEM;
        return;
    }
    e->prov = prov;
    e->price = *price;
    l->n++;
}

static void list_free(struct price_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].model);
    free(l->v);
}

/* USD per million tokens: "$2.50", "$0.075" (trailing zeros trimmed to two decimals). */
static void price_text(int64_t pico, char *buf, size_t len)
{
    snprintf(buf, len, "$%.6f", (double)pico / PICO_PER_USD_MTOK);
    char *dot = strchr(buf, '.');
    if (!dot)
        return;
    char *end = buf + strlen(buf) - 1;
    while (end > dot + MIN_DECIMALS && *end == '0')
        *end-- = '\0';
}

static bool price_equal(const struct ak_price *a, const struct ak_price *b)
{
    return a->input_pico == b->input_pico && a->output_pico == b->output_pico &&
           a->cached_input_pico == b->cached_input_pico &&
           a->cache_write_pico == b->cache_write_pico && a->reasoning_pico == b->reasoning_pico;
}

/* The table entry that a look-up without overrides resolved to: the exact name, else the
 * longest entry name inside MODEL with the same price. */
static const struct price_entry *entry_matched(const struct price_list *l, const char *model,
                                               const struct ak_price *p)
{
    const struct price_entry *best = NULL;
    for (size_t i = 0; i < l->n; i++) {
        const struct price_entry *e = &l->v[i];
        if (strcmp(e->model, model) == 0)
            return e;
        if (price_equal(&e->price, p) && strstr(model, e->model) &&
            (!best || strlen(e->model) > strlen(best->model)))
            best = e;
    }
    return best;
}

static void rule_describe(const struct price_entry *e, const char *model, char *buf, size_t len)
{
    if (!e) {
        snprintf(buf, len, "price table");
        return;
    }
    const char *at = strstr(model, e->model);
    bool prefixed = at && at != model;
    bool snapshot = at && at[strlen(e->model)] != '\0';
    const char *how = strcmp(e->model, model) == 0 ? "exact name"
                      : prefixed && snapshot       ? "provider prefix and dated snapshot"
                      : prefixed                   ? "provider prefix"
                      : snapshot                   ? "dated snapshot"
                                                   : "name form";
    snprintf(buf, len, "%s of %s/%s", how, ak_provider_name(e->prov), e->model);
}

static void price_show(const char *model, const struct ak_price *p, const char *rule)
{
    char in[PRICE_TEXT], out[PRICE_TEXT], cached[PRICE_TEXT], cw[PRICE_TEXT], rs[PRICE_TEXT];
    price_text(p->input_pico, in, sizeof in);
    price_text(p->output_pico, out, sizeof out);
    price_text(p->cached_input_pico, cached, sizeof cached);
    price_text(p->cache_write_pico, cw, sizeof cw);
    price_text(p->reasoning_pico, rs, sizeof rs);
    printf("model:          %s\n", model);
    printf("matched:        %s\n", rule);
    printf("input:          %s per 1M tokens\n", in);
    printf("output:         %s per 1M tokens\n", out);
    printf("cached input:   %s per 1M tokens\n", cached);
    printf("cache write:    %s per 1M tokens\n", cw);
    printf("reasoning:      %s per 1M tokens\n", rs);
    if (p->max_output_tokens > 0)
        printf("max output:     %lld tokens\n", (long long)p->max_output_tokens);
    if (p->max_input_tokens > 0)
        printf("context window: %lld tokens\n", (long long)p->max_input_tokens);
}

static int prices_one(struct akctl *ctx, const struct ak_prices *table,
                      const struct price_list *l, const char *model)
{
    struct ak_price with_cfg, plain;
    char rule[AK_EV_HOST];
    enum ak_err rc = ak_price_lookup(table, ctx->cfg, AK_PROV_NONE, model, &with_cfg);
    if (rc == AK_ERR_NOTFOUND)
        return akctl_fail("prices: unknown model '%s'", model);
    if (rc != AK_OK)
        return akctl_fail("prices: %s: %s", model, ak_strerror(rc));
    enum ak_err rc_plain = ak_price_lookup(table, NULL, AK_PROV_NONE, model, &plain);
    if (rc_plain != AK_OK || !price_equal(&plain, &with_cfg))
        snprintf(rule, sizeof rule, "config override (pricing.overrides in %s)",
                 ctx->cfg->path ? ctx->cfg->path : "the configuration");
    else
        rule_describe(entry_matched(l, model, &plain), model, rule, sizeof rule);
    price_show(model, &with_cfg, rule);
    return AKCTL_EXIT_OK;
}

static enum ak_err prices_all(const struct price_list *l)
{
    static const char *const head[] = {
        "PROVIDER", "MODEL", "INPUT", "OUTPUT", "CACHED IN", "CACHE WRITE", "MAX OUTPUT",
    };
    struct akctl_table t;
    akctl_table_init(&t, AK_ARRAY_LEN(head));
    enum ak_err rc = akctl_table_add(&t, AKCTL_PLAIN, head);
    for (size_t i = 0; i < l->n && rc == AK_OK; i++) {
        const struct ak_price *p = &l->v[i].price;
        char in[PRICE_TEXT], out[PRICE_TEXT], cached[PRICE_TEXT], cw[PRICE_TEXT], mo[PRICE_TEXT];
        price_text(p->input_pico, in, sizeof in);
        price_text(p->output_pico, out, sizeof out);
        price_text(p->cached_input_pico, cached, sizeof cached);
        price_text(p->cache_write_pico, cw, sizeof cw);
        snprintf(mo, sizeof mo, "%lld", (long long)p->max_output_tokens);
        const char *cells[] = {
            ak_provider_name(l->v[i].prov), l->v[i].model, in, out, cached, cw,
            p->max_output_tokens > 0 ? mo : "-",
        };
        rc = akctl_table_add(&t, AKCTL_PLAIN, cells);
    }
    if (rc == AK_OK) {
        printf("USD per million tokens\n");
        akctl_table_print(&t, stdout, false);
    }
    akctl_table_free(&t);
    return rc;
}

int akctl_cmd_prices(struct akctl *ctx, int argc, char **argv)
{
    struct ak_prices *table = NULL;
    struct price_list list = { 0 };
    char err[AK_CONFIG_ERRLEN] = "";
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-')
            return akctl_usage("prices", "unknown option '%s'", argv[i]);
    if (argc > 2)
        return akctl_usage("prices", "give at most one MODEL");
    int code = akctl_config(ctx);
    if (code != AKCTL_EXIT_OK)
        return code;
    enum ak_err rc = ak_prices_load_default(ctx->cfg, &table, err, sizeof err);
    if (rc != AK_OK)
        return akctl_fail("prices: %s", err[0] ? err : ak_strerror(rc));
    ak_prices_each(table, list_add, &list);
    if (list.rc != AK_OK)
        code = akctl_fail("prices: %s", ak_strerror(list.rc));
    else if (argc == 2)
        code = prices_one(ctx, table, &list, argv[1]);
    else if ((rc = prices_all(&list)) != AK_OK)
        code = akctl_fail("prices: %s", ak_strerror(rc));
    list_free(&list);
    ak_prices_free(table);
    return code;
}

int akctl_cmd_config(struct akctl *ctx, int argc, char **argv)
{
    struct ak_config *cfg = NULL;
    char err[AK_CONFIG_ERRLEN] = "";
    if (argc < 2 || strcmp(argv[1], "check") != 0)
        return akctl_usage("config", "expected 'check FILE'");
    if (argc != 3 || argv[2][0] == '-')
        return akctl_usage("config", "'config check' takes one FILE");
    const char *path = argv[2];
    enum ak_err rc = ak_config_resolve(path, &cfg, err, sizeof err);
    if (rc != AK_OK) {
        if (err[0])
            fprintf(stderr, "%s\n", err);
        else
            fprintf(stderr, "%s: %s\n", path, ak_strerror(rc));
        return AKCTL_EXIT_REFUSED;
    }
    printf("%s: ok (mode %s, %zu agents, %zu shared budgets, %zu channels, state_dir %s)\n",
           path, cfg->mode == AK_MODE_ENFORCE ? "enforce" : cfg->mode == AK_MODE_MONITOR ? "monitor" : "off",
           cfg->n_agents, cfg->n_shared, cfg->n_channels, ak_config_state_dir(cfg));
    ak_config_free(cfg);
    return AKCTL_EXIT_OK;
}
