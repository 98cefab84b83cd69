/*
 * prices_impl.h - the layout of a price table, private to pricing/: pricing.c builds one from
 * YAML, the build generates the compiled-in one (build/gen/prices_table.c, written by
 * tools/prices_gen.c from pricing/prices.yaml) in the same layout, sorted the same way.
 */
#ifndef AK_PRICES_IMPL_H
#define AK_PRICES_IMPL_H

#include "pricing/pricing.h"

struct price_entry {
    enum ak_provider prov;
    const char *name;
    struct ak_price price;
    size_t line;                  /* for the duplicate message (0 in the compiled table) */
};

struct ak_prices {
    const struct price_entry *v;  /* sorted by (prov, strcmp(name)) */
    size_t n;
    struct price_entry *own;      /* the loaded copy behind v */
    size_t cap;
    bool compiled;                /* the compiled-in table: static, never freed */
};

/* The compiled-in table (build/gen/prices_table.c), and the length and
 * ak_prices_source_hash of the prices.yaml it was generated from. */
extern const struct ak_prices ak_prices_compiled;
extern const size_t ak_prices_compiled_source_len;
extern const uint64_t ak_prices_compiled_source_hash;

#endif
