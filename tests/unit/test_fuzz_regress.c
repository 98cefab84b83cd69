/*
 * test_fuzz_regress.c - what the fuzz targets of tests/fuzz found, one test each, so that
 * `make unit` keeps them fixed without a fuzzer (their inputs are also in tests/fuzz/corpus/
 * <target>/regress-*):
 *   - usage: a form feed before a colon, a NUL in a key and control bytes as white space made
 *     the sparse parse and the byte test disagree with cJSON (audit: usage.c ~330);
 *   - decode: bytes decoded before a corrupt byte were dropped, so a reply read in one piece
 *     and one read in many gave different usage; a pre-1.0 zstd frame decoded or not
 *     depending on the read split;
 *   - ledger: an events table ahead of its counter made every later commit fail (spend lost),
 *     and budget arithmetic on damaged records overflowed (UBSan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/ledger_impl.h"
#include "engine/decode.h"
#include "engine/usage.h"

#define NFTW_FDS 8
#define NOW_MS 1795000000000LL
#define GZIP_WBITS (15 + 16)
#define PLAIN_PREFIX 256

/* ---- usage: sparse and full parse agree ---- */

static void same_usage(const char *body, size_t len)
{
    cJSON *full = cJSON_ParseWithLength(body, len);
    cJSON *sp = ak_usage_sparse_parse((const unsigned char *)body, len);
    struct ak_xresp a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    assert_non_null(full);
    ak_usage_apply(AK_OP_CHAT, AK_PROV_OPENAI, full, &a);
    int64_t text_bytes = 0;
    assert_true(ak_usage_scan(AK_OP_CHAT, AK_PROV_OPENAI, (const unsigned char *)body, len, true,
                              &text_bytes));
    if (sp) {
        ak_usage_apply(AK_OP_CHAT, AK_PROV_OPENAI, sp, &b);
        assert_int_equal(a.have_usage, b.have_usage);
        assert_int_equal(a.usage.input_tokens, b.usage.input_tokens);
        assert_string_equal(a.model, b.model);
    }
    cJSON_Delete(full);
    cJSON_Delete(sp);
}

static void test_usage_white_space_as_cjson(void **state)
{
    (void)state;
    static const char ff[] = "{\"model\" \f: \"gpt-x\",\"usage\":{\"prompt_tokens\":3}}";
    same_usage(ff, sizeof ff - 1);
    static const char ctl[] = "{\"usage\": \x06\x01{\"prompt_tokens\":5}}";
    same_usage(ctl, sizeof ctl - 1);
    static const char nul[] = "{\"model\0junk\":\"gpt-y\",\"usage\":{\"prompt_tokens\":7}}";
    same_usage(nul, sizeof nul - 1);
}

/* ---- decode: what came before a bad byte is delivered ---- */

static enum ak_err to_buf(void *ud, const unsigned char *p, size_t n)
{
    return ak_buf_append(ud, p, n, 0);
}

static void test_decode_prefix_before_corruption(void **state)
{
    (void)state;
    unsigned char plain[4096], packed[8192];
    for (size_t i = 0; i < sizeof plain; i++)
        plain[i] = (unsigned char)("usage tokens "[i % 13] + (i / 512));
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, GZIP_WBITS, 8,
                                  Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = plain;
    z.avail_in = sizeof plain;
    z.next_out = packed;
    z.avail_out = sizeof packed;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t n = sizeof packed - z.avail_out;
    deflateEnd(&z);
    memset(packed + n / 2, 0xff, n - n / 2);        /* the second half is garbage */
    struct ak_buf whole = { 0 }, split = { 0 };
    struct ak_decoder *d = ak_decoder_new(AK_ENC_GZIP);
    assert_int_not_equal(ak_decoder_feed(d, packed, n, to_buf, &whole), AK_OK);
    ak_decoder_free(d);
    d = ak_decoder_new(AK_ENC_GZIP);
    enum ak_err e = AK_OK;
    for (size_t i = 0; i < n && e == AK_OK; i++)
        e = ak_decoder_feed(d, packed + i, 1, to_buf, &split);
    ak_decoder_free(d);
    assert_int_not_equal(e, AK_OK);
    assert_true(whole.len > 0);
    assert_int_equal(whole.len, split.len);
    assert_memory_equal(whole.data, split.data, whole.len);
    assert_true(whole.len >= PLAIN_PREFIX);                 /* the good half, at least */
    assert_memory_equal(whole.data, plain, PLAIN_PREFIX);
    ak_buf_free(&whole);
    ak_buf_free(&split);
}

/* A pre-1.0 zstd frame decoded only when its magic came in one piece: now always refused. */
static void test_decode_legacy_zstd_refused(void **state)
{
    (void)state;
    static const unsigned char legacy[] = { 0x27, 0xb5, 0x2f, 0xfd, 0x04, 0x28, 0x70, 0x00, 0x00 };
    struct ak_buf out = { 0 };
    assert_int_not_equal(ak_decode_all(AK_ENC_ZSTD, legacy, sizeof legacy, &out, 0), AK_OK);
    struct ak_decoder *d = ak_decoder_new(AK_ENC_ZSTD);
    enum ak_err e = AK_OK;
    for (size_t i = 0; i < sizeof legacy && e == AK_OK; i++)
        e = ak_decoder_feed(d, legacy + i, 1, to_buf, &out);
    if (e == AK_OK)
        e = ak_decoder_finish(d);
    ak_decoder_free(d);
    assert_int_not_equal(e, AK_OK);
    ak_buf_free(&out);
}

/* ---- ledger: damaged records ---- */

struct fx { char dir[64]; struct ak_ledger *l; };

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ak_fzreg_XXXXXX");
    if (!mkdtemp(f->dir) || ak_ledger_open(f->dir, &f->l) != AK_OK) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    ak_ledger_close(f->l);
    nftw(f->dir, rm_one, NFTW_FDS, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void put_raw(struct ak_ledger *l, MDB_dbi dbi, const void *k, size_t kl, const void *v,
                    size_t vl)
{
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(l->env, NULL, 0, &txn), 0);
    MDB_val key = { kl, (void *)k }, val = { vl, (void *)v };
    assert_int_equal(mdb_put(txn, dbi, &key, &val, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
}

static enum ak_err commit_event(struct ak_ledger *l, uint64_t *seq)
{
    struct ak_budget_ref b = { .scope = AK_SCOPE_AGENT, .name = "bot", .type = AK_PERIOD_DAILY,
                               .limit_micros = -1 };
    struct ak_commit c = { .agent = "bot", .budgets = &b, .n_budgets = 1, .cost_micros = 3,
                           .count_call = true, .event_json = "{}", .event_len = 2,
                           .now_ms = NOW_MS };
    return ak_ledger_commit(l, &c, seq);
}

static void test_events_ahead_of_counter(void **state)
{
    struct fx *f = *state;
    uint64_t seq = 0, far = 7;
    assert_int_equal(commit_event(f->l, &seq), AK_OK);
    assert_int_equal(seq, 1);
    put_raw(f->l, f->l->db_events, &far, sizeof far, "{\"x\":1}", 7);
    assert_int_equal(commit_event(f->l, &seq), AK_OK);      /* was MDB_KEYEXIST for ever */
    assert_int_equal(seq, 8);
    assert_int_equal(commit_event(f->l, &seq), AK_OK);
    assert_int_equal(seq, 9);
    far = UINT64_MAX;                                       /* no sequence number left */
    put_raw(f->l, f->l->db_events, &far, sizeof far, "{\"x\":2}", 7);
    assert_int_equal(commit_event(f->l, &seq), AK_OK);      /* the spend is still kept */
    assert_int_equal(seq, 0);
}

static void test_budget_arithmetic_saturates(void **state)
{
    struct fx *f = *state;
    struct ak_budget_ref b = { .scope = AK_SCOPE_AGENT, .name = "bot", .type = AK_PERIOD_DAILY,
                               .limit_micros = 1000, .max_calls = 10 };
    struct ak_budget_state st;
    assert_int_equal(ak_ledger_budget_get(f->l, &b, NOW_MS, &st), AK_OK);
    char key[64];
    int kl = snprintf(key, sizeof key, "abot%c%s", 0, st.period);
    struct ledger_budget_rec rec = { .version = LEDGER_REC_VERSION, .type = AK_PERIOD_DAILY,
                                     .spent = INT64_MAX, .reserved = INT64_MAX,
                                     .calls = INT64_MAX, .reserved_calls = 1 };
    put_raw(f->l, f->l->db_budgets, key, (size_t)kl, &rec, sizeof rec);
    struct ak_reserve r = { .agent = "bot", .budgets = &b, .n_budgets = 1, .amount_micros = 5,
                            .pid = (int)getpid(), .now_ms = NOW_MS };
    struct ak_reserve_result rr;
    assert_int_equal(ak_ledger_reserve(f->l, &r, &rr), AK_ERR_LIMIT);   /* spent, no UB */
    struct ak_commit c = { .budgets = &b, .n_budgets = 1, .cost_micros = 5, .count_call = true,
                           .now_ms = NOW_MS };
    assert_int_equal(ak_ledger_commit(f->l, &c, NULL), AK_OK);
    assert_int_equal(ak_ledger_budget_get(f->l, &b, NOW_MS, &st), AK_OK);
    assert_true(st.spent_micros == INT64_MAX);
}

int main(void)
{
    setenv("AGENTKAVACH_LOG", "off", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_white_space_as_cjson),
        cmocka_unit_test(test_decode_prefix_before_corruption),
        cmocka_unit_test(test_decode_legacy_zstd_refused),
        cmocka_unit_test_setup_teardown(test_events_ahead_of_counter, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_budget_arithmetic_saturates, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
