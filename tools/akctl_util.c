/*
 * akctl_util.c - the small shared pieces of akctl: string lists, the aligned table printer
 * (colour only when asked), --since and count parsing, and the set of known agents
 * (configured ones plus those the ledger has seen).
 */
#include "tools/akctl.h"
#include "core/status.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define STRS_MIN_CAP 16

/* ---- string lists ---- */

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
        enum ak_err rc = ak_strs_add(&t->cells, cells[i]);
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
    ak_strs_free(&t->cells);
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
    return ak_since_parse(s, now_ms, ms);
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

enum ak_err akctl_agents_collect(struct akctl *ctx, struct ak_strs *out)
{
    return ak_status_agents(ctx->cfg, ctx->ledger, out);
}

bool akctl_agent_known(struct akctl *ctx, const char *agent)
{
    struct ak_strs all = { 0 };
    bool known = akctl_agents_collect(ctx, &all) == AK_OK && ak_strs_has(&all, agent);
    ak_strs_free(&all);
    return known;
}
