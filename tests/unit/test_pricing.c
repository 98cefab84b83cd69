/*
 * test_pricing.c - the price table and look-up (pricing/pricing.c): the shipped
 * prices.yaml, each look-up rule, each provider's arithmetic against hand-computed costs
 * from the public prices, rounding, defaults and refusal of malformed files.
 *
 * Expected costs are worked out by hand in the comments (USD per Mtok x tokens = micro-USD).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pricing/pricing.h"

#define ERRLEN 512

/* ---- helpers ---- */

/* The shipped table: pricing/prices.yaml found from the test binary (build/tests/) or cwd. */
static struct ak_prices *load_shipped(void)
{
    char exe[PATH_MAX], path[PATH_MAX + 64], err[ERRLEN] = "";
    struct ak_prices *p = NULL;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    assert_true(n > 0);
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    snprintf(path, sizeof path, "%s/../../pricing/prices.yaml", exe);
    if (access(path, R_OK) != 0)
        snprintf(path, sizeof path, "pricing/prices.yaml");
    enum ak_err rc = ak_prices_load(path, &p, err, sizeof err);
    if (rc != AK_OK)
        print_error("load %s: %s\n", path, err);
    assert_int_equal(rc, AK_OK);
    return p;
}

/* Writes text to a fresh temporary file; path must hold 64 bytes. */
static void write_temp(const char *text, char *path)
{
    strcpy(path, "/tmp/ak_test_prices_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

static enum ak_err load_text(const char *text, struct ak_prices **p, char *err)
{
    char path[64];
    write_temp(text, path);
    enum ak_err rc = ak_prices_load(path, p, err, ERRLEN);
    unlink(path);
    return rc;
}

static const char fixture[] =
    "version: 1\n"
    "models:\n"
    "  openai:\n"
    "    gpt-4o: { input: 2.5, output: 10, cached_input: 1.25, max_output: 16384 }\n"
    "    gpt-4: { input: 30, output: 60 }\n"
    "    \"ft:gpt-4o-mini-2024-07-18\": { input: 0.3, output: 1.2 }\n"
    "    cheap: { input: 0.15, output: 0.5 }\n"
    "    tiny: { input: 0.499999, output: 0.0000005 }\n"
    "  anthropic:\n"
    "    claude-sonnet-4-5: { input: 3, output: 15, cached_input: 0.3, cache_write: 3.75 }\n"
    "  gemini:\n"
    "    gemini-2.5-flash: { input: 0.3, output: 2.5, cached_input: 0.03 }\n"
    "  mistral:\n"
    "    mistral-large-latest: { input: 2, output: 6 }\n";

static int setup_fixture(void **state)
{
    char err[ERRLEN] = "";
    struct ak_prices *p = NULL;
    if (load_text(fixture, &p, err) != AK_OK) {
        print_error("fixture: %s\n", err);
        return -1;
    }
    *state = p;
    return 0;
}

static int setup_shipped(void **state)
{
    *state = load_shipped();
    return 0;
}

static int teardown_prices(void **state)
{
    ak_prices_free(*state);
    return 0;
}

/* Input price in pico of the entry `model` resolves to, or -1 when not found. */
static int64_t input_of(const struct ak_prices *p, const struct ak_config *cfg,
                        enum ak_provider prov, const char *model)
{
    struct ak_price pr;
    if (ak_price_lookup(p, cfg, prov, model, &pr) != AK_OK)
        return -1;
    return pr.input_pico;
}

static int64_t cost_of(const struct ak_prices *p, enum ak_provider prov, const char *model,
                       struct ak_usage u)
{
    struct ak_price pr;
    assert_int_equal(ak_price_lookup(p, NULL, prov, model, &pr), AK_OK);
    return ak_price_cost(&pr, &u);
}

/* ---- the shipped table ---- */

struct seen { const char *names[16]; bool found[16]; size_t n_names, total; int last_prov;
              char last_name[256]; bool sorted; };

static void each_cb(enum ak_provider prov, const char *model, const struct ak_price *pr, void *ud)
{
    struct seen *s = ud;
    if ((int)prov < s->last_prov || ((int)prov == s->last_prov && strcmp(model, s->last_name) <= 0))
        s->sorted = false;
    s->last_prov = (int)prov;
    snprintf(s->last_name, sizeof s->last_name, "%s", model);
    s->total++;
    for (size_t i = 0; i < s->n_names; i++)
        if (strcmp(model, s->names[i]) == 0 && pr->input_pico > 0)
            s->found[i] = true;
}

static void test_shipped_has_key_models(void **state)
{
    struct seen s = { .names = { "gpt-4o", "gpt-4o-mini", "o3", "o1", "text-embedding-3-small",
                                 "claude-sonnet-4-5", "claude-3-5-haiku", "gemini-2.5-flash",
                                 "gemini-2.5-pro", "mistral-large-latest",
                                 "mistral-small-latest" },
                      .n_names = 11, .last_prov = -1, .sorted = true };
    ak_prices_each(*state, each_cb, &s);
    for (size_t i = 0; i < s.n_names; i++) {
        if (!s.found[i])
            print_error("missing from prices.yaml: %s\n", s.names[i]);
        assert_true(s.found[i]);
    }
    assert_true(s.sorted);
    assert_true(s.total > 100);
}

static void test_shipped_public_prices(void **state)
{
    struct ak_price pr;
    /* gpt-4o: $2.50 in, $1.25 cached, $10 out per Mtok; 16384 max output, 128k window */
    assert_int_equal(ak_price_lookup(*state, NULL, AK_PROV_OPENAI, "gpt-4o", &pr), AK_OK);
    assert_int_equal(pr.input_pico, 2500000);
    assert_int_equal(pr.cached_input_pico, 1250000);
    assert_int_equal(pr.output_pico, 10000000);
    assert_int_equal(pr.reasoning_pico, pr.output_pico);
    assert_int_equal(pr.max_output_tokens, 16384);
    assert_int_equal(pr.max_input_tokens, 128000);
    /* gpt-4o-mini $0.15 in: exactly 150000 pico, no float drift */
    assert_int_equal(input_of(*state, NULL, AK_PROV_OPENAI, "gpt-4o-mini"), 150000);
    /* gpt-5-nano cache read $0.005 */
    assert_int_equal(ak_price_lookup(*state, NULL, AK_PROV_OPENAI, "gpt-5-nano", &pr), AK_OK);
    assert_int_equal(pr.cached_input_pico, 5000);
    /* gemini-2.5-pro cache read $0.3125 */
    assert_int_equal(ak_price_lookup(*state, NULL, AK_PROV_GEMINI, "gemini-2.5-pro", &pr), AK_OK);
    assert_int_equal(pr.cached_input_pico, 312500);
}

static void test_load_default_finds_table(void **state)
{
    char err[ERRLEN] = "";
    struct ak_prices *p = NULL;
    assert_int_equal(ak_prices_load_default(NULL, &p, err, sizeof err), AK_OK);
    assert_int_equal(input_of(p, NULL, AK_PROV_OPENAI, "gpt-4o"), 2500000);
    ak_prices_free(p);
}

static void test_load_default_uses_config_file(void **state)
{
    char path[64], err[ERRLEN] = "";
    struct ak_prices *p = NULL;
    write_temp("version: 1\nmodels:\n  openai:\n    only-here: { input: 7, output: 8 }\n", path);
    struct ak_config cfg = { .pricing_file = path };
    enum ak_err rc = ak_prices_load_default(&cfg, &p, err, sizeof err);
    unlink(path);
    assert_int_equal(rc, AK_OK);
    assert_int_equal(input_of(p, NULL, AK_PROV_OPENAI, "only-here"), 7000000);
    assert_int_equal(input_of(p, NULL, AK_PROV_OPENAI, "gpt-4o"), -1);
    ak_prices_free(p);

    /* a configured file that is missing is an error, not a silent fallback */
    cfg.pricing_file = "/nonexistent/prices.yaml";
    assert_int_equal(ak_prices_load_default(&cfg, &p, err, sizeof err), AK_ERR_IO);
    assert_non_null(strstr(err, "/nonexistent/prices.yaml"));
}

/* ---- the compiled-in table (build/gen/prices_table.c) ---- */

struct rows { enum ak_provider prov[1024]; char name[1024][128]; struct ak_price pr[1024]; size_t n; };

static void rows_cb(enum ak_provider prov, const char *model, const struct ak_price *pr, void *ud)
{
    struct rows *r = ud;
    assert_true(r->n < 1024 && strlen(model) < 128);
    r->prov[r->n] = prov;
    snprintf(r->name[r->n], sizeof r->name[r->n], "%s", model);
    r->pr[r->n++] = *pr;
}

/* Every model, every price and limit, in the same order: the compiled table is prices.yaml. */
static void test_compiled_equals_yaml(void **state)
{
    struct ak_prices *yaml = load_shipped();
    struct rows *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    ak_prices_each(yaml, rows_cb, a);
    ak_prices_each(ak_prices_builtin(), rows_cb, b);
    assert_true(a->n > 100);
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->prov[i], b->prov[i]);
        assert_string_equal(a->name[i], b->name[i]);
        assert_memory_equal(&a->pr[i], &b->pr[i], sizeof a->pr[i]);
    }
    free(a);
    free(b);
    ak_prices_free(yaml);
}

static void copy_shipped(const char *extra, char *path)
{
    char exe[PATH_MAX], src[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    assert_true(n > 0);
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    snprintf(src, sizeof src, "%s/../../pricing/prices.yaml", exe);
    if (access(src, R_OK) != 0)
        snprintf(src, sizeof src, "pricing/prices.yaml");
    FILE *f = fopen(src, "rb");
    assert_non_null(f);
    static char text[1 << 20];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    strncat(text, extra, sizeof text - len - 1);
    write_temp(text, path);
}

/* Without pricing.file no file is read; a configured copy of prices.yaml is recognised by its
 * bytes, and a file that differs by one byte is parsed (and prices what it says). */
static void test_load_default_compiled_unless_file_differs(void **state)
{
    char path[64], err[ERRLEN] = "";
    struct ak_prices *p = NULL;
    assert_int_equal(ak_prices_load_default(NULL, &p, err, sizeof err), AK_OK);
    assert_ptr_equal(p, ak_prices_builtin());
    ak_prices_free(p);                       /* a no-op on the compiled table */
    assert_int_equal(input_of(ak_prices_builtin(), NULL, AK_PROV_OPENAI, "gpt-4o"), 2500000);

    copy_shipped("", path);
    struct ak_config cfg = { .pricing_file = path };
    assert_int_equal(ak_prices_load_default(&cfg, &p, err, sizeof err), AK_OK);
    unlink(path);
    assert_ptr_equal(p, ak_prices_builtin());

    copy_shipped("    zz-local-model: { input: 1, output: 2 }\n", path);
    assert_int_equal(ak_prices_load_default(&cfg, &p, err, sizeof err), AK_OK);
    unlink(path);
    assert_ptr_not_equal(p, ak_prices_builtin());
    assert_int_equal(input_of(p, NULL, AK_PROV_MISTRAL, "zz-local-model"), 1000000);
    assert_int_equal(input_of(p, NULL, AK_PROV_OPENAI, "gpt-4o"), 2500000);
    ak_prices_free(p);
}

static int setup_compiled(void **state)
{
    *state = (void *)ak_prices_builtin();
    return 0;
}

/* ---- look-up rules (fixture table) ---- */

static void test_lookup_exact(void **state)
{
    assert_int_equal(input_of(*state, NULL, AK_PROV_OPENAI, "gpt-4o"), 2500000);
    assert_int_equal(input_of(*state, NULL, AK_PROV_OPENAI, "gpt-4"), 30000000);
    assert_int_equal(input_of(*state, NULL, AK_PROV_MISTRAL, "mistral-large-latest"), 2000000);
}

static void test_lookup_dated_snapshots(void **state)
{
    /* OpenAI -YYYY-MM-DD and -MMDD, Anthropic -YYYYMMDD */
    assert_int_equal(input_of(*state, NULL, AK_PROV_OPENAI, "gpt-4o-2024-08-06"), 2500000);
    assert_int_equal(input_of(*state, NULL, AK_PROV_OPENAI, "gpt-4-0613"), 30000000);
    assert_int_equal(input_of(*state, NULL, AK_PROV_ANTHROPIC, "claude-sonnet-4-5-20250929"),
                     3000000);
    /* a Mistral snapshot falls back to the -latest alias */
    assert_int_equal(input_of(*state, NULL, AK_PROV_MISTRAL, "mistral-large-2411"), 2000000);
    /* a -latest name of a model listed undated */
    assert_int_equal(input_of(*state, NULL, AK_PROV_OPENAI, "gpt-4o-latest"), 2500000);
    /* not a date: no match */
    assert_int_equal(input_of(*state, NULL, AK_PROV_OPENAI, "gpt-4o-2024-8-6"), -1);
}

static void test_lookup_prefixes(void **state)
{
    assert_int_equal(input_of(*state, NULL, AK_PROV_GEMINI, "models/gemini-2.5-flash"), 300000);
    assert_int_equal(input_of(*state, NULL, AK_PROV_OPENAI, "openai/gpt-4o"), 2500000);
    assert_int_equal(input_of(*state, NULL, AK_PROV_OPENAI, "openai/gpt-4o-2024-11-20"), 2500000);
    assert_int_equal(input_of(*state, NULL, AK_PROV_ANTHROPIC, "anthropic/claude-sonnet-4-5"),
                     3000000);
    assert_int_equal(input_of(*state, NULL, AK_PROV_GEMINI, "tunedModels/gemini-2.5-flash"), -1);
}

static void test_lookup_fine_tuned(void **state)
{
    assert_int_equal(input_of(*state, NULL, AK_PROV_OPENAI,
                              "ft:gpt-4o-mini-2024-07-18:acme::abc123"), 300000);
}

static void test_lookup_unknown(void **state)
{
    struct ak_price pr;
    assert_int_equal(ak_price_lookup(*state, NULL, AK_PROV_OPENAI, "no-such-model", &pr),
                     AK_ERR_NOTFOUND);
    /* an Anthropic host does not serve OpenAI models */
    assert_int_equal(ak_price_lookup(*state, NULL, AK_PROV_ANTHROPIC, "gpt-4o", &pr),
                     AK_ERR_NOTFOUND);
    assert_int_equal(ak_price_lookup(*state, NULL, AK_PROV_OPENAI, "", &pr), AK_ERR_INVAL);
    assert_int_equal(ak_price_lookup(*state, NULL, AK_PROV_OPENAI, NULL, &pr), AK_ERR_INVAL);
}

static void test_lookup_openai_compatible_any_model(void **state)
{
    /* an OpenAI-compatible gateway serving Claude and Gemini models */
    assert_int_equal(input_of(*state, NULL, AK_PROV_OPENAI, "claude-sonnet-4-5"), 3000000);
    assert_int_equal(input_of(*state, NULL, AK_PROV_OPENAI, "gemini-2.5-flash"), 300000);
    assert_int_equal(input_of(*state, NULL, AK_PROV_NONE, "mistral-large-latest"), 2000000);
}

static void test_lookup_override_wins(void **state)
{
    struct ak_price_override ov[] = {
        { .model = "gpt-4o", .input_per_mtok = 1.1, .output_per_mtok = 2.2,
          .cached_input_per_mtok = -1, .cache_write_per_mtok = -1, .reasoning_per_mtok = 9.5 },
        { .model = "my-finetune", .input_per_mtok = 3.0, .output_per_mtok = 12.0,
          .cached_input_per_mtok = 0.75, .cache_write_per_mtok = -1, .reasoning_per_mtok = -1 },
    };
    struct ak_config cfg = { .price_overrides = ov, .n_price_overrides = AK_ARRAY_LEN(ov) };
    struct ak_price pr;

    assert_int_equal(ak_price_lookup(*state, &cfg, AK_PROV_OPENAI, "gpt-4o", &pr), AK_OK);
    assert_int_equal(pr.input_pico, 1100000);
    assert_int_equal(pr.output_pico, 2200000);
    assert_int_equal(pr.cached_input_pico, 1100000);     /* not given: input */
    assert_int_equal(pr.cache_write_pico, 1100000);
    assert_int_equal(pr.reasoning_pico, 9500000);
    assert_int_equal(pr.max_output_tokens, 16384);       /* limits still from the table */
    /* the override also covers the model's snapshots */
    assert_int_equal(input_of(*state, &cfg, AK_PROV_OPENAI, "gpt-4o-2024-08-06"), 1100000);

    assert_int_equal(ak_price_lookup(*state, &cfg, AK_PROV_OPENAI, "my-finetune", &pr), AK_OK);
    assert_int_equal(pr.input_pico, 3000000);
    assert_int_equal(pr.cached_input_pico, 750000);
    assert_int_equal(pr.reasoning_pico, 12000000);      /* not given: output */
    assert_int_equal(pr.max_output_tokens, 0);

    /* other models are unaffected; a config without overrides changes nothing */
    assert_int_equal(input_of(*state, &cfg, AK_PROV_OPENAI, "gpt-4"), 30000000);
    struct ak_config empty = { 0 };
    assert_int_equal(input_of(*state, &empty, AK_PROV_OPENAI, "gpt-4o"), 2500000);
}

static void test_defaults_for_missing_fields(void **state)
{
    struct ak_price pr;
    assert_int_equal(ak_price_lookup(*state, NULL, AK_PROV_OPENAI, "gpt-4", &pr), AK_OK);
    assert_int_equal(pr.cached_input_pico, pr.input_pico);
    assert_int_equal(pr.cache_write_pico, pr.input_pico);
    assert_int_equal(pr.reasoning_pico, pr.output_pico);
    assert_int_equal(pr.max_output_tokens, 0);
    assert_int_equal(pr.max_input_tokens, 0);
    /* gpt-4o has cached_input but no cache_write: that one defaults to input */
    assert_int_equal(ak_price_lookup(*state, NULL, AK_PROV_OPENAI, "gpt-4o", &pr), AK_OK);
    assert_int_equal(pr.cached_input_pico, 1250000);
    assert_int_equal(pr.cache_write_pico, 2500000);
}

/* ---- arithmetic (shipped table, public prices) ---- */

static void test_cost_openai_cached_and_reasoning(void **state)
{
    /* o3: $2 in, $0.50 cached, $8 out. 10000 prompt tokens of which 4000 cached; 3000
     * completion tokens of which 2000 reasoning (billed as output):
     * 6000*2 + 4000*0.5 + 3000*8 = 12000 + 2000 + 24000 = 38000 micro-USD */
    struct ak_usage u = { .input_tokens = 10000, .cached_input_tokens = 4000,
                          .output_tokens = 3000, .reasoning_tokens = 2000 };
    assert_int_equal(cost_of(*state, AK_PROV_OPENAI, "o3", u), 38000);
}

static void test_cost_anthropic_cache_read_and_write(void **state)
{
    /* claude-sonnet-4-5: $3 in, $0.30 cache read, $3.75 cache write, $15 out.
     * input_tokens 1000 + cache_read 20000 + cache_creation 5000 (normalised to 26000 input),
     * 800 output: 1000*3 + 20000*0.3 + 5000*3.75 + 800*15 = 3000+6000+18750+12000 = 39750 */
    struct ak_usage u = { .input_tokens = 26000, .cached_input_tokens = 20000,
                          .cache_write_tokens = 5000, .output_tokens = 800 };
    assert_int_equal(cost_of(*state, AK_PROV_ANTHROPIC, "claude-sonnet-4-5-20250929", u), 39750);
}

static void test_cost_gemini_thoughts(void **state)
{
    /* gemini-2.5-flash: $0.30 in, $0.03 cached, $2.50 out and thinking.
     * promptTokenCount 12000 (8000 cached), candidates 700 + thoughts 1300 = 2000 output:
     * 4000*0.3 + 8000*0.03 + 2000*2.5 = 1200 + 240 + 5000 = 6440 */
    struct ak_usage u = { .input_tokens = 12000, .cached_input_tokens = 8000,
                          .output_tokens = 2000, .reasoning_tokens = 1300 };
    assert_int_equal(cost_of(*state, AK_PROV_GEMINI, "models/gemini-2.5-flash", u), 6440);
    /* gemini-2.5-flash-preview-04-17 bills thinking apart: $0.15 in, $0.60 out, $3.50
     * thinking. 1000 in, 1500 out of which 1000 thoughts: 150 + 500*0.6 + 3500 = 3950 */
    struct ak_usage v = { .input_tokens = 1000, .output_tokens = 1500, .reasoning_tokens = 1000 };
    assert_int_equal(cost_of(*state, AK_PROV_GEMINI, "gemini-2.5-flash-preview-04-17", v), 3950);
}

static void test_cost_mistral(void **state)
{
    /* mistral-large-latest: $2 in, $6 out. 1234*2 + 567*6 = 2468 + 3402 = 5870 */
    struct ak_usage u = { .input_tokens = 1234, .output_tokens = 567 };
    assert_int_equal(cost_of(*state, AK_PROV_MISTRAL, "mistral-large-latest", u), 5870);
}

static void test_cost_embedding(void **state)
{
    /* text-embedding-3-small: $0.02 per Mtok. 123456 tokens = 2469.12 micro -> 2469 */
    struct ak_usage u = { .input_tokens = 123456 };
    assert_int_equal(cost_of(*state, AK_PROV_OPENAI, "text-embedding-3-small", u), 2469);
    struct ak_usage none = { 0 };
    assert_int_equal(cost_of(*state, AK_PROV_OPENAI, "text-embedding-3-small", none), 0);
}

static void test_cost_rounding(void **state)
{
    /* cheap: 0.15 in (150000 pico), 0.5 out (500000 pico) */
    struct ak_usage u3 = { .input_tokens = 3 };     /* 0.45 micro -> 0 */
    struct ak_usage u4 = { .input_tokens = 4 };     /* 0.60 micro -> 1 */
    struct ak_usage half = { .output_tokens = 1 };  /* 0.50 micro -> 1 (half up) */
    struct ak_usage u10 = { .input_tokens = 10 };   /* 1.50 micro -> 2 */
    assert_int_equal(cost_of(*state, AK_PROV_OPENAI, "cheap", u3), 0);
    assert_int_equal(cost_of(*state, AK_PROV_OPENAI, "cheap", u4), 1);
    assert_int_equal(cost_of(*state, AK_PROV_OPENAI, "cheap", half), 1);
    assert_int_equal(cost_of(*state, AK_PROV_OPENAI, "cheap", u10), 2);
    /* tiny: 0.499999 in = 499999 pico -> 0 micro; 0.0000005 out rounds to 1 pico */
    struct ak_price pr;
    assert_int_equal(ak_price_lookup(*state, NULL, AK_PROV_OPENAI, "tiny", &pr), AK_OK);
    assert_int_equal(pr.input_pico, 499999);
    assert_int_equal(pr.output_pico, 1);
    struct ak_usage one = { .input_tokens = 1 };
    assert_int_equal(ak_price_cost(&pr, &one), 0);
    /* the sum is rounded once, not each bucket: 1 in + 1 out = 500000 pico -> 1 micro */
    struct ak_usage both = { .input_tokens = 1, .output_tokens = 1 };
    assert_int_equal(ak_price_cost(&pr, &both), 1);
}

static void test_cost_clamps_bad_usage(void **state)
{
    /* gpt-4o with cached (150) > input (100): uncached clamps to 0, the cached tokens are
     * still billed: 150 * 1.25 = 187.5 micro -> 188 */
    struct ak_usage u = { .input_tokens = 100, .cached_input_tokens = 150 };
    assert_int_equal(cost_of(*state, AK_PROV_OPENAI, "gpt-4o", u), 188);
    /* reasoning (50) > output (20) and negative counts: no negative cost */
    struct ak_usage v = { .input_tokens = -5, .output_tokens = 20, .reasoning_tokens = 50 };
    assert_int_equal(cost_of(*state, AK_PROV_OPENAI, "gpt-4o", v), 500);  /* 50 * 10 */
    /* a huge count does not overflow */
    struct ak_usage big = { .input_tokens = INT64_MAX };
    assert_true(cost_of(*state, AK_PROV_OPENAI, "gpt-4o", big) > 0);
}

static void test_worst_case(void **state)
{
    struct ak_price pr;
    /* o3: 1000 in at $2 + 500 out at $8 = 2000 + 4000 = 6000 */
    assert_int_equal(ak_price_lookup(*state, NULL, AK_PROV_OPENAI, "o3", &pr), AK_OK);
    assert_int_equal(ak_price_worst_case(&pr, 1000, 500), 6000);
    /* no max_tokens in the request: the model's limit (o3: 100000) = 2000 + 800000 */
    assert_int_equal(ak_price_worst_case(&pr, 1000, 0), 802000);
    /* thinking dearer than output: the larger one. 1000*0.15 + 100*3.5 = 150 + 350 */
    assert_int_equal(ak_price_lookup(*state, NULL, AK_PROV_GEMINI,
                                     "gemini-2.5-flash-preview-04-17", &pr), AK_OK);
    assert_int_equal(ak_price_worst_case(&pr, 1000, 100), 500);
    /* worst case is never below the real cost of the same call */
    assert_int_equal(ak_price_lookup(*state, NULL, AK_PROV_ANTHROPIC, "claude-sonnet-4-5", &pr),
                     AK_OK);
    struct ak_usage u = { .input_tokens = 26000, .cached_input_tokens = 20000,
                          .cache_write_tokens = 5000, .output_tokens = 800 };
    assert_true(ak_price_worst_case(&pr, 26000, 800) >= ak_price_cost(&pr, &u));
}

/* ---- malformed files ---- */

static void expect_refused(const char *text, const char *line_tag, const char *words)
{
    char err[ERRLEN] = "";
    struct ak_prices *p = NULL;
    assert_int_equal(load_text(text, &p, err), AK_ERR_PARSE);
    assert_null(p);
    if (!strstr(err, line_tag) || !strstr(err, words))
        print_error("unexpected message: %s\n", err);
    assert_non_null(strstr(err, "/tmp/ak_test_prices_"));
    assert_non_null(strstr(err, line_tag));
    assert_non_null(strstr(err, words));
}

static void test_malformed_refused_with_line(void **state)
{
    static const char head[] = "version: 1\nmodels:\n  openai:\n";
    char text[512];
    snprintf(text, sizeof text, "%s    a: { input: 1, output: 2 }\n    b: { input: abc, output: 2 }\n",
             head);
    expect_refused(text, ":5:", "abc");
    snprintf(text, sizeof text, "%s    a: { input: 1 }\n", head);
    expect_refused(text, ":4:", "output");
    snprintf(text, sizeof text, "%s    a: { input: 1, output: 2, ouput: 3 }\n", head);
    expect_refused(text, ":4:", "ouput");
    snprintf(text, sizeof text, "%s    a: { input: -1, output: 2 }\n", head);
    expect_refused(text, ":4:", "-1");
    snprintf(text, sizeof text, "%s    a: { input: 1e-6, output: 2 }\n", head);
    expect_refused(text, ":4:", "1e-6");
    snprintf(text, sizeof text, "%s    a: { input: 1, output: 2, max_output: lots }\n", head);
    expect_refused(text, ":4:", "lots");
    snprintf(text, sizeof text, "%s    a: { input: 1, output: 2 }\n    a: { input: 1, output: 3 }\n",
             head);
    expect_refused(text, ":5:", "twice");
    snprintf(text, sizeof text, "%s    a: { input: 1, output: 2\n    b: [\n", head);
    expect_refused(text, ":", "");
    expect_refused("version: 1\nmodels:\n  cohere:\n    a: { input: 1, output: 2 }\n", ":3:",
                   "cohere");
    expect_refused("version: 2\nmodels: {}\n", ":1:", "version");
    expect_refused("models:\n  openai: {}\n", ":1:", "version");
}

static void test_missing_file(void **state)
{
    char err[ERRLEN] = "";
    struct ak_prices *p = NULL;
    assert_int_equal(ak_prices_load("/nonexistent/prices.yaml", &p, err, sizeof err), AK_ERR_IO);
    assert_null(p);
    assert_non_null(strstr(err, "/nonexistent/prices.yaml"));
}

int main(void)
{
    const struct CMUnitTest shipped[] = {
        cmocka_unit_test(test_shipped_has_key_models),
        cmocka_unit_test(test_shipped_public_prices),
        cmocka_unit_test(test_cost_openai_cached_and_reasoning),
        cmocka_unit_test(test_cost_anthropic_cache_read_and_write),
        cmocka_unit_test(test_cost_gemini_thoughts),
        cmocka_unit_test(test_cost_mistral),
        cmocka_unit_test(test_cost_embedding),
        cmocka_unit_test(test_cost_clamps_bad_usage),
        cmocka_unit_test(test_worst_case),
    };
    const struct CMUnitTest fixture_tests[] = {
        cmocka_unit_test(test_lookup_exact),
        cmocka_unit_test(test_lookup_dated_snapshots),
        cmocka_unit_test(test_lookup_prefixes),
        cmocka_unit_test(test_lookup_fine_tuned),
        cmocka_unit_test(test_lookup_unknown),
        cmocka_unit_test(test_lookup_openai_compatible_any_model),
        cmocka_unit_test(test_lookup_override_wins),
        cmocka_unit_test(test_defaults_for_missing_fields),
        cmocka_unit_test(test_cost_rounding),
    };
    const struct CMUnitTest files[] = {
        cmocka_unit_test(test_load_default_finds_table),
        cmocka_unit_test(test_compiled_equals_yaml),
        cmocka_unit_test(test_load_default_compiled_unless_file_differs),
        cmocka_unit_test(test_load_default_uses_config_file),
        cmocka_unit_test(test_malformed_refused_with_line),
        cmocka_unit_test(test_missing_file),
    };
    int failed = cmocka_run_group_tests_name("pricing_shipped", shipped, setup_shipped,
                                             teardown_prices);
    /* the same checks of the shipped prices against the table processes actually use */
    failed += cmocka_run_group_tests_name("pricing_compiled", shipped, setup_compiled,
                                          teardown_prices);
    failed += cmocka_run_group_tests_name("pricing_lookup", fixture_tests, setup_fixture,
                                          teardown_prices);
    failed += cmocka_run_group_tests_name("pricing_files", files, NULL, NULL);
    return failed ? 1 : 0;
}
