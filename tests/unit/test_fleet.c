/*
 * test_fleet.c - this host's side of fleet budgets (core/ledger_fleet.c, core/policy.c,
 * core/config_load.c): a reservation against a fleet budget is held against the lease, the
 * refusal says whether a top-up may come, an expired lease counts as spent, hold and open
 * when Redis cannot be reached, the collector's sync/down/shrink and the engine's want, a
 * host budget's record keeps its old size, and the config keys. Every test gets a fresh
 * mkdtemp directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/ledger.h"
#include "core/period.h"
#include "core/policy.h"

#define USD AK_MICROS_PER_USD
#define NFTW_FDS 8
#define T0_TEXT "2026-11-22T08:00:00Z"
#define LIMIT (100 * USD)
#define LEASE (5 * USD)
#define TTL_MS 15000
#define HOST_REC_SIZE 40          /* the record layout before fleets (ledger_impl.h) */
#define FLEET_REC_SIZE 72

struct fx {
    char dir[64];
    struct ak_ledger *l;
    int64_t t0;
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/ak_fleet_XXXXXX");
    if (!mkdtemp(f->dir) || !ak_time_parse(T0_TEXT, &f->t0) ||
        ak_ledger_open(f->dir, &f->l) != AK_OK) {
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

static struct ak_budget_ref fleet_ref(uint8_t mode)
{
    return (struct ak_budget_ref){ .scope = AK_SCOPE_SHARED, .name = "team",
                                   .type = AK_PERIOD_DAILY, .limit_micros = LIMIT,
                                   .fleet = mode };
}

static enum ak_err try_reserve(struct fx *f, const struct ak_budget_ref *b, int64_t amount,
                               int64_t now, bool final, struct ak_reserve_result *rr)
{
    struct ak_reserve r = { .agent = "a1", .budgets = b, .n_budgets = 1, .amount_micros = amount,
                            .pid = (int)getpid(), .now_ms = now, .fleet_final = final };
    return ak_ledger_reserve(f->l, &r, rr);
}

static void commit(struct fx *f, const struct ak_budget_ref *b, uint64_t res, int64_t cost)
{
    struct ak_commit c = { .res_id = res, .budgets = b, .n_budgets = 1, .cost_micros = cost,
                           .count_call = true, .now_ms = f->t0 };
    assert_int_equal(ak_ledger_commit(f->l, &c, NULL), AK_OK);
}

static void grant(struct fx *f, const struct ak_budget_ref *b, int64_t lease, int64_t free_)
{
    assert_int_equal(ak_ledger_fleet_sync(f->l, b, f->t0, lease, free_, f->t0 + TTL_MS, 0), AK_OK);
}

/* The lease is the limit: what it covers goes through, one micro-USD more does not. */
static void test_reserve_against_lease(void **state)
{
    struct fx *f = *state;
    struct ak_budget_ref b = fleet_ref(AK_REF_FLEET_HOLD);
    struct ak_reserve_result rr;
    grant(f, &b, LEASE, LIMIT - LEASE);
    assert_int_equal(try_reserve(f, &b, 3 * USD, f->t0, false, &rr), AK_OK);
    commit(f, &b, rr.res_id, 2 * USD);
    assert_int_equal(try_reserve(f, &b, 3 * USD, f->t0, false, &rr), AK_OK);
    uint64_t held = rr.res_id;
    assert_int_equal(try_reserve(f, &b, 1, f->t0, false, &rr), AK_ERR_LIMIT);
    assert_true(rr.failed_on_lease);
    assert_true(rr.lease_may_grow);                    /* the fleet had room: wait for it */
    assert_int_equal(rr.lease_target, 2 * USD + 3 * USD + 1);
    assert_int_equal(rr.leased_micros, LEASE);
    assert_int_equal(ak_ledger_release(f->l, held), AK_OK);
    /* the collector tops up: the same call fits now */
    grant(f, &b, 2 * LEASE, LIMIT - 2 * LEASE);
    assert_int_equal(try_reserve(f, &b, 8 * USD, f->t0, false, &rr), AK_OK);
}

/* A lease short while the fleet is short too: refused without waiting. */
static void test_fleet_short_no_wait(void **state)
{
    struct fx *f = *state;
    struct ak_budget_ref b = fleet_ref(AK_REF_FLEET_HOLD);
    struct ak_reserve_result rr;
    grant(f, &b, LEASE, USD);
    assert_int_equal(try_reserve(f, &b, LEASE + 2 * USD, f->t0, false, &rr), AK_ERR_LIMIT);
    assert_true(rr.failed_on_lease);
    assert_false(rr.lease_may_grow);
    /* more than the whole limit: refused as by a host budget, not on the lease */
    assert_int_equal(try_reserve(f, &b, LIMIT + 1, f->t0, false, &rr), AK_ERR_LIMIT);
    assert_false(rr.failed_on_lease);
}

/* Never synced: wait for the collector; after the wait, hold refuses and open lets through. */
static void test_never_synced(void **state)
{
    struct fx *f = *state;
    struct ak_budget_ref hold = fleet_ref(AK_REF_FLEET_HOLD), open = fleet_ref(AK_REF_FLEET_OPEN);
    struct ak_reserve_result rr;
    assert_int_equal(try_reserve(f, &hold, USD, f->t0, false, &rr), AK_ERR_LIMIT);
    assert_true(rr.lease_may_grow);
    assert_int_equal(try_reserve(f, &hold, USD, f->t0, true, &rr), AK_ERR_LIMIT);
    assert_false(rr.lease_may_grow);
    assert_int_equal(try_reserve(f, &open, USD, f->t0, false, &rr), AK_ERR_LIMIT);
    assert_int_equal(try_reserve(f, &open, USD, f->t0, true, &rr), AK_OK);
    assert_int_equal(rr.fleet_open, 1);
}

/* An expired lease (no sync for ttl / 2) counts as spent: another host may hold it now. */
static void test_expired_lease_is_spent(void **state)
{
    struct fx *f = *state;
    struct ak_budget_ref b = fleet_ref(AK_REF_FLEET_HOLD);
    struct ak_reserve_result rr;
    grant(f, &b, LEASE, LIMIT - LEASE);
    assert_int_equal(try_reserve(f, &b, USD, f->t0 + TTL_MS, false, &rr), AK_OK);
    assert_int_equal(ak_ledger_release(f->l, rr.res_id), AK_OK);
    assert_int_equal(try_reserve(f, &b, USD, f->t0 + TTL_MS + 1, false, &rr), AK_ERR_LIMIT);
    assert_true(rr.failed_on_lease);
    assert_false(rr.lease_may_grow);                   /* the collector is gone: no wait */
    assert_int_equal(rr.leased_micros, 0);
}

/* Redis down: the lease is spent as usual; beyond it hold refuses, open lets through. */
static void test_down_hold_open(void **state)
{
    struct fx *f = *state;
    struct ak_budget_ref hold = fleet_ref(AK_REF_FLEET_HOLD), open = fleet_ref(AK_REF_FLEET_OPEN);
    struct ak_reserve_result rr;
    grant(f, &hold, LEASE, LIMIT - LEASE);
    assert_int_equal(ak_ledger_fleet_down(f->l, &hold, f->t0), AK_OK);
    assert_int_equal(try_reserve(f, &hold, LEASE, f->t0, false, &rr), AK_OK);
    commit(f, &hold, rr.res_id, LEASE);
    assert_int_equal(try_reserve(f, &hold, 1, f->t0, false, &rr), AK_ERR_LIMIT);
    assert_false(rr.lease_may_grow);
    assert_int_equal(try_reserve(f, &open, USD, f->t0, false, &rr), AK_OK);
    assert_int_equal(rr.fleet_open, 1);
    commit(f, &open, rr.res_id, USD);
    struct ak_fleet_local loc;
    assert_int_equal(ak_ledger_fleet_get(f->l, &hold, f->t0, &loc), AK_OK);
    assert_true(loc.down);
    assert_int_equal(loc.spent, LEASE + USD);           /* counted whatever happened */
    grant(f, &hold, 2 * LEASE, LIMIT - 2 * LEASE);      /* Redis back */
    assert_int_equal(ak_ledger_fleet_get(f->l, &hold, f->t0, &loc), AK_OK);
    assert_false(loc.down);
}

/* want: kept at its highest; a sync clears what the collector asked for, not a newer one. */
static void test_want_and_sync(void **state)
{
    struct fx *f = *state;
    struct ak_budget_ref b = fleet_ref(AK_REF_FLEET_HOLD);
    struct ak_fleet_local loc;
    assert_int_equal(ak_ledger_fleet_want(f->l, &b, f->t0, 7 * USD), AK_OK);
    assert_int_equal(ak_ledger_fleet_want(f->l, &b, f->t0, 6 * USD), AK_OK);
    assert_int_equal(ak_ledger_fleet_get(f->l, &b, f->t0, &loc), AK_OK);
    assert_int_equal(loc.want, 7 * USD);
    assert_int_equal(ak_ledger_fleet_sync(f->l, &b, f->t0, LEASE, 0, f->t0 + TTL_MS, 6 * USD), AK_OK);
    assert_int_equal(ak_ledger_fleet_get(f->l, &b, f->t0, &loc), AK_OK);
    assert_int_equal(loc.want, 7 * USD);                 /* written after the ask: stays */
    assert_int_equal(ak_ledger_fleet_sync(f->l, &b, f->t0, LEASE, 0, f->t0 + TTL_MS, 7 * USD), AK_OK);
    assert_int_equal(ak_ledger_fleet_get(f->l, &b, f->t0, &loc), AK_OK);
    assert_int_equal(loc.want, 0);
    assert_int_equal(loc.leased, LEASE);
    assert_int_equal(loc.lease_until_ms, f->t0 + TTL_MS);
    assert_int_equal(ak_ledger_fleet_sync(f->l, &b, f->t0, -1, 0, 0, 0), AK_ERR_INVAL);
}

/* Shrink keeps exactly what is spent and in flight. */
static void test_shrink(void **state)
{
    struct fx *f = *state;
    struct ak_budget_ref b = fleet_ref(AK_REF_FLEET_HOLD);
    struct ak_reserve_result rr;
    struct ak_fleet_local kept;
    grant(f, &b, LEASE, LIMIT - LEASE);
    assert_int_equal(try_reserve(f, &b, USD, f->t0, false, &rr), AK_OK);
    commit(f, &b, rr.res_id, USD / 2);
    assert_int_equal(try_reserve(f, &b, USD, f->t0, false, &rr), AK_OK);
    assert_int_equal(ak_ledger_fleet_shrink(f->l, &b, f->t0, &kept), AK_OK);
    assert_int_equal(kept.leased, USD / 2 + USD);
    assert_int_equal(kept.spent, USD / 2);
    assert_int_equal(kept.reserved, USD);
    struct ak_reserve_result rr2;
    assert_int_equal(try_reserve(f, &b, 1, f->t0, false, &rr2), AK_ERR_LIMIT);
    commit(f, &b, rr.res_id, USD);                       /* the call in flight still commits */
}

static size_t record_size(struct fx *f, const char *name)
{
    char path[128];
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    unsigned char key[64];
    size_t n = strlen(name), size = 0;
    key[0] = 's';
    memcpy(key + 1, name, n);
    key[1 + n] = '\0';
    memcpy(key + 2 + n, "2026-11-22", 10);
    MDB_val k = { .mv_size = 12 + n, .mv_data = key }, v;
    snprintf(path, sizeof path, "%s/state.mdb", f->dir);
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
    assert_int_equal(mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    if (mdb_dbi_open(txn, "budgets", 0, &dbi) == 0 && mdb_get(txn, dbi, &k, &v) == 0)
        size = v.mv_size;
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return size;
}

/* A host budget's record keeps the layout older engines read; a fleet one is the long one. */
static void test_record_sizes(void **state)
{
    struct fx *f = *state;
    struct ak_budget_ref host = { .scope = AK_SCOPE_SHARED, .name = "hostb",
                                  .type = AK_PERIOD_DAILY, .limit_micros = LIMIT };
    struct ak_budget_ref b = fleet_ref(AK_REF_FLEET_HOLD);
    struct ak_reserve_result rr;
    assert_int_equal(try_reserve(f, &host, USD, f->t0, false, &rr), AK_OK);
    commit(f, &host, rr.res_id, USD);
    grant(f, &b, LEASE, 0);
    ak_ledger_close(f->l);
    f->l = NULL;
    assert_int_equal(record_size(f, "hostb"), HOST_REC_SIZE);
    assert_int_equal(record_size(f, "team"), FLEET_REC_SIZE);
    assert_int_equal(ak_ledger_open(f->dir, &f->l), AK_OK);
    struct ak_budget_state st;
    assert_int_equal(ak_ledger_budget_get(f->l, &host, f->t0, &st), AK_OK);
    assert_int_equal(st.spent_micros, USD);
}

/* ---- config and policy ---- */

static struct ak_config *load_text(const char *text, char *err, size_t errlen)
{
    char path[] = "/tmp/ak_fleet_cfg_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct ak_config *cfg = NULL;
    if (ak_config_load(path, &cfg, err, errlen) != AK_OK)
        cfg = NULL;
    unlink(path);
    return cfg;
}

static void test_config_fleet(void **state)
{
    (void)state;
    char err[AK_CONFIG_ERRLEN];
    struct ak_config *cfg = load_text(
        "version: 1\n"
        "agents:\n  a1: { budget: { type: daily, limit: 10, scope: fleet } }\n  a2: {}\n"
        "shared_budgets:\n  team: { budget: { type: monthly, limit: 500, scope: fleet }, agents: [a1, a2] }\n"
        "  local: { budget: { type: monthly, limit: 50 }, agents: [a2] }\n"
        "fleet:\n  redis: { url: \"redis://r:6379\", password: pw, key_prefix: \"x:\", connect_timeout_ms: 200 }\n"
        "  lease: { chunk_usd: 2, low_water: 0.5, wait_ms: 50, ttl: 9 }\n"
        "  on_fleet_error: open\n  host_id: h7\n", err, sizeof err);
    assert_non_null(cfg);
    assert_string_equal(cfg->fleet.redis_url, "redis://r:6379");
    assert_string_equal(cfg->fleet.redis_password, "pw");
    assert_string_equal(cfg->fleet.key_prefix, "x:");
    assert_int_equal(cfg->fleet.connect_timeout_ms, 200);
    assert_int_equal(cfg->fleet.chunk_micros, 2 * USD);
    assert_int_equal(cfg->fleet.wait_ms, 50);
    assert_int_equal(cfg->fleet.ttl_s, 9);
    assert_int_equal(cfg->fleet.on_error, AK_FLEET_OPEN);
    assert_string_equal(cfg->fleet.host_id, "h7");
    struct ak_budget_ref refs[4];
    size_t n = ak_policy_budgets(cfg, NULL, "a1", NULL, refs, 4);
    assert_int_equal(n, 2);
    assert_int_equal(refs[0].fleet, AK_REF_FLEET_OPEN);
    assert_int_equal(refs[1].fleet, AK_REF_FLEET_OPEN);
    n = ak_policy_budgets(cfg, NULL, "a2", NULL, refs, 4);
    assert_int_equal(n, 3);
    assert_int_equal(refs[0].fleet, AK_REF_HOST);      /* no budget of its own */
    assert_int_equal(refs[2].fleet, AK_REF_HOST);      /* scope: host by default */
    /* an override changes the limit, not the scope */
    struct ak_agent_flags fl = { .has_budget_override = true,
                                 .budget_override = { .set = true, .type = AK_PERIOD_DAILY,
                                                      .limit_micros = 3 * USD } };
    n = ak_policy_budgets(cfg, NULL, "a1", &fl, refs, 4);
    assert_int_equal(refs[0].limit_micros, 3 * USD);
    assert_int_equal(refs[0].fleet, AK_REF_FLEET_OPEN);
    ak_config_free(cfg);

    cfg = load_text("version: 1\nagents:\n  a1: { budget: { type: daily, limit: 10, scope: fleet } }\n",
                    err, sizeof err);
    assert_null(cfg);
    assert_non_null(strstr(err, "needs fleet.redis.url"));
    cfg = load_text("version: 1\nfleet:\n  redis: { url: \"redis://r\" }\n  lease: { low_water: 1.5 }\n",
                    err, sizeof err);
    assert_null(cfg);
    assert_non_null(strstr(err, "fleet.lease.low_water"));
    cfg = load_text("version: 1\nagents:\n  a1: { budget: { limit: 1, scope: planet } }\n", err, sizeof err);
    assert_null(cfg);
    assert_non_null(strstr(err, "scope"));
    cfg = load_text("version: 1\n", err, sizeof err);   /* the defaults */
    assert_non_null(cfg);
    assert_int_equal(cfg->fleet.wait_ms, 100);
    assert_int_equal(cfg->fleet.on_error, AK_FLEET_HOLD);
    assert_null(cfg->fleet.redis_url);
    ak_config_free(cfg);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
    ak_log_init();
    const struct CMUnitTest tests[] = {
        T(test_reserve_against_lease),
        T(test_fleet_short_no_wait),
        T(test_never_synced),
        T(test_expired_lease_is_spent),
        T(test_down_hold_open),
        T(test_want_and_sync),
        T(test_shrink),
        T(test_record_sizes),
        cmocka_unit_test(test_config_fleet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
