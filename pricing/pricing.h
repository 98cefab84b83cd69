/*
 * pricing.h - the price table (pricing/prices.yaml) and cost arithmetic.
 *
 * Prices are kept as pico-USD per token (USD per million tokens x 1e6), so that a cost is
 * an exact integer sum of tokens x price, rounded once to micro-USD at the end.
 * Usage arrives normalised (core/event.h): input includes cached and cache-write tokens and
 * output includes reasoning tokens, whichever way the provider reported them; the provider
 * parsers in engine/ do that normalisation, so the arithmetic here is the same for everyone:
 *   cost = (input - cached - cache_write) * input
 *        + cached * cached_input + cache_write * cache_write
 *        + (output - reasoning) * output + reasoning * reasoning
 */
#ifndef AK_PRICING_H
#define AK_PRICING_H

#include "core/config.h"
#include "core/event.h"

struct ak_price {
    int64_t input_pico;           /* per uncached input token */
    int64_t output_pico;          /* per output token */
    int64_t cached_input_pico;    /* per cache-read token (defaults to input) */
    int64_t cache_write_pico;     /* per cache-written token (defaults to input) */
    int64_t reasoning_pico;       /* per reasoning token (defaults to output) */
    int64_t max_output_tokens;    /* the model's output limit; 0 = unknown */
    int64_t max_input_tokens;     /* context window; 0 = unknown */
};

struct ak_prices;                 /* opaque table */

/* Loads prices.yaml. err gets "file:line: message" on failure. */
enum ak_err ak_prices_load(const char *path, struct ak_prices **out, char *err, size_t errlen);
/* The process's table: cfg->pricing_file when set (relative: from the working directory,
 * else beside the config file), read with ak_prices_load unless its bytes are those the
 * compiled-in table was built from; otherwise the compiled-in table (pricing/prices_default.c). */
enum ak_err ak_prices_load_default(const struct ak_config *cfg, struct ak_prices **out,
                                   char *err, size_t errlen);
/* The table compiled in at build time from pricing/prices.yaml (static; freeing it is a no-op). */
const struct ak_prices *ak_prices_builtin(void);
/* FNV-1a 64 of a price file's bytes: how a configured file is recognised as the compiled one. */
uint64_t ak_prices_source_hash(const void *buf, size_t len);
/* Frees a loaded table; the compiled-in one is left alone. */
void ak_prices_free(struct ak_prices *p);

/* Look-up: config overrides, then the exact name, then dated snapshot names
 * (gpt-4o-2024-08-06 -> gpt-4o, claude-sonnet-4-5-20250929 -> claude-sonnet-4-5), then
 * provider prefixes (models/gemini-2.5-flash, openai/gpt-4o). cfg may be NULL.
 * Returns AK_ERR_NOTFOUND when the model is unknown. */
enum ak_err ak_price_lookup(const struct ak_prices *p, const struct ak_config *cfg,
                            enum ak_provider provider, const char *model, struct ak_price *out);

/* Cost of normalised usage in micro-USD (rounded half up). */
int64_t ak_price_cost(const struct ak_price *price, const struct ak_usage *usage);
/* Worst case for a reservation: input_tokens at the input price + max_output at the output
 * price (the larger of output and reasoning). */
int64_t ak_price_worst_case(const struct ak_price *price, int64_t input_tokens, int64_t max_output);

/* For akctl prices: calls fn for every model (sorted by provider, then name). */
typedef void (*ak_price_iter_fn)(enum ak_provider prov, const char *model,
                                 const struct ak_price *price, void *ud);
void ak_prices_each(const struct ak_prices *p, ak_price_iter_fn fn, void *ud);

#endif
