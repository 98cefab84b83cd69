/*
 * strs.h - a growable list of owned strings (agent names for status and alerts, table cells).
 */
#ifndef AK_STRS_H
#define AK_STRS_H

#include "core/ak.h"

struct ak_strs {
    char **v;
    size_t n, cap;
};

enum ak_err ak_strs_add(struct ak_strs *s, const char *str);
/* Adds str unless already present. */
enum ak_err ak_strs_add_unique(struct ak_strs *s, const char *str);
bool ak_strs_has(const struct ak_strs *s, const char *str);
void ak_strs_sort(struct ak_strs *s);
void ak_strs_free(struct ak_strs *s);

#endif
