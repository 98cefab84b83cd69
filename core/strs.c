/*
 * strs.c - a growable list of owned strings (see strs.h): agent names, table cells.
 */
#include "core/strs.h"

#include <stdlib.h>
#include <string.h>

#define STRS_MIN_CAP 16

enum ak_err ak_strs_add(struct ak_strs *s, const char *str)
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

bool ak_strs_has(const struct ak_strs *s, const char *str)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], str) == 0)
            return true;
    return false;
}

enum ak_err ak_strs_add_unique(struct ak_strs *s, const char *str)
{
    if (ak_strs_has(s, str))
        return AK_OK;
    return ak_strs_add(s, str);
}

static int strs_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void ak_strs_sort(struct ak_strs *s)
{
    if (s->n > 1)
        qsort(s->v, s->n, sizeof *s->v, strs_cmp);
}

void ak_strs_free(struct ak_strs *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}
