/*
 * akctl_util.c - the small shared pieces of akctl: string lists, the aligned table printer
 * (colour only when asked), --since and count parsing, and the set of known agents
 * (configured ones plus those the ledger has seen).
 */
#include "tools/akctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define STRS_MIN_CAP 16
#define MS_PER_S 1000LL
#define S_PER_MIN 60LL
#define S_PER_HOUR 3600LL
#define S_PER_DAY 86400LL

/* ---- string lists ---- */

enum ak_err akctl_strs_add(struct akctl_strs *s, const char *str)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : STRS_MIN_CAP;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return AK_ERR_NOMEM;
        s->v = v;
        s->cap = cap;
    }
    char *copy = strdup(str ? str : "");
    if (!copy)
        return AK_ERR_NOMEM;
    s->v[s->n++] = copy;
    return AK_OK;
}

bool akctl_strs_has(const struct akctl_strs *s, const char *str)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], str) == 0)
            return true;
    return false;
}

enum ak_err akctl_strs_add_unique(struct akctl_strs *s, const char *str)
{
    if (akctl_strs_has(s, str))
        return AK_OK;
    return akctl_strs_add(s, str);
}

static int strs_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void akctl_strs_sort(struct akctl_strs *s)
{
    if (s->n > 1)
        qsort(s->v, s->n, sizeof *s->v, strs_cmp);
}

void akctl_strs_free(struct akctl_strs *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* ---- tables ---- */

void akctl_table_init(struct akctl_table *t, size_t ncols)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols > AKCTL_TABLE_MAX_COLS ? AKCTL_TABLE_MAX_COLS : ncols;
}

enum ak_err akctl_table_add(struct akctl_table *t, enum akctl_color color, const char *const *cells)
{
    if (t->nrows == t->cap_rows) {
        size_t cap = t->cap_rows ? t->cap_rows * 2 : STRS_MIN_CAP;
        enum akctl_color *c = realloc(t->colors, cap * sizeof *c);
        if (!c)
            return AK_ERR_NOMEM;
        t->colors = c;
        t->cap_rows = cap;
    }
    for (size_t i = 0; i < t->ncols; i++) {
        enum ak_err rc = akctl_strs_add(&t->cells, cells[i]);
        if (rc != AK_OK) {
            while (t->cells.n > t->nrows * t->ncols)
                free(t->cells.v[--t->cells.n]);
            return rc;
        }
    }
    t->colors[t->nrows++] = color;
    return AK_OK;
}

static const char *color_code(enum akctl_color c)
{
    switch (c) {
    case AKCTL_RED: return "\033[31m";
    case AKCTL_YELLOW: return "\033[33m";
    case AKCTL_PLAIN: break;
    }
    return "";
}

void akctl_table_print(const struct akctl_table *t, FILE *out, bool use_color)
{
    size_t width[AKCTL_TABLE_MAX_COLS] = { 0 };
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t l = strlen(t->cells.v[r * t->ncols + c]);
            if (l > width[c])
                width[c] = l;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        bool colored = use_color && t->colors[r] != AKCTL_PLAIN;
        if (colored)
            fputs(color_code(t->colors[r]), out);
        for (size_t c = 0; c < t->ncols; c++) {
            const char *cell = t->cells.v[r * t->ncols + c];
            if (c + 1 == t->ncols)
                fputs(cell, out);              /* no trailing blanks */
            else
                fprintf(out, "%-*s  ", (int)width[c], cell);
        }
        if (colored)
            fputs("\033[0m", out);
        fputc('\n', out);
    }
}

void akctl_table_free(struct akctl_table *t)
{
    akctl_strs_free(&t->cells);
    free(t->colors);
    memset(t, 0, sizeof *t);
}

/* ---- parsing ---- */

int akctl_opt_error(const char *cmd, int c, char **argv)
{
    const char *opt = optind > 0 ? argv[optind - 1] : "?";
    if (c == ':')
        return akctl_usage(cmd, "option '%s' needs a value", opt);
    return akctl_usage(cmd, "unknown option '%s'", opt);
}

bool akctl_parse_count(const char *s, long *out)
{
    char *end = NULL;
    if (!s || !*s || *s == '-')
        return false;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

bool akctl_parse_since(const char *s, int64_t now_ms, int64_t *ms)
{
    if (ak_time_parse(s, ms))
        return true;
    char *end = NULL;
    if (!s || !*s || *s == '-')
        return false;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || end[0] == '\0' || end[1] != '\0')
        return false;
    int64_t unit;
    switch (*end) {
    case 's': unit = 1; break;
    case 'm': unit = S_PER_MIN; break;
    case 'h': unit = S_PER_HOUR; break;
    case 'd': unit = S_PER_DAY; break;
    default: return false;
    }
    *ms = now_ms - (int64_t)v * unit * MS_PER_S;
    return true;
}

int akctl_opt_since(const char *cmd, const char *arg, int64_t *ms)
{
    if (akctl_parse_since(arg, ak_now_ms(), ms))
        return AKCTL_EXIT_OK;
    return akctl_usage(cmd, "'%s' is not a time (use RFC 3339, a date or 15m/2h/7d)", arg);
}

double akctl_usd(int64_t micros)
{
    return (double)micros / (double)AK_MICROS_PER_USD;
}

/* ---- known agents ---- */

struct collect {
    struct akctl_strs *out;
    enum ak_err rc;
};

static void collect_add(struct collect *c, const char *name)
{
    if (c->rc == AK_OK && name && strcmp(name, AK_AGENT_ALL) != 0)
        c->rc = akctl_strs_add_unique(c->out, name);
}

static void collect_budget(enum ak_scope scope, const char *name, enum ak_period_type type,
                           const struct ak_budget_state *st, void *ud)
{
    if (scope == AK_SCOPE_AGENT)
        collect_add(ud, name);
}

static void collect_flags(const char *agent, const struct ak_agent_flags *f, void *ud)
{
    collect_add(ud, agent);
}

enum ak_err akctl_agents_collect(struct akctl *ctx, struct akctl_strs *out)
{
    struct collect c = { out, AK_OK };
    for (size_t i = 0; i < ctx->cfg->n_agents; i++)
        collect_add(&c, ctx->cfg->agents[i].name);
    enum ak_err rc = ak_ledger_budgets_each(ctx->ledger, collect_budget, &c);
    if (rc == AK_OK)
        rc = ak_ledger_agents_each(ctx->ledger, collect_flags, &c);
    if (rc == AK_OK)
        rc = c.rc;
    akctl_strs_sort(out);
    return rc;
}

bool akctl_agent_known(struct akctl *ctx, const char *agent)
{
    struct akctl_strs all = { 0 };
    bool known = akctl_agents_collect(ctx, &all) == AK_OK && akctl_strs_has(&all, agent);
    akctl_strs_free(&all);
    return known;
}
