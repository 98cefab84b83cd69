/*
 * fuzz_ledger.c - ledger records as found on disk (core/ledger*.c): any bytes under any key
 * in any table, as a newer version, a bug or a hostile neighbour could leave them. Every read
 * path (budgets, agents, history, reservations, reclaim, events, cursors, meta) must treat a
 * bad record as absent, and a metered call's reserve and commit on top of it must still work.
 * Input: byte 0 = table, byte 1 = key length, then the key, then the value.
 */
#include <stdlib.h>
#include <unistd.h>

#include "core/ledger_impl.h"
#include "tests/fuzz/fuzz_util.h"

static struct ak_ledger *L;
static char dir[] = "/tmp/akfuzz_ledger_XXXXXX";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    setenv("AGENTKAVACH_LOG", "off", 1);
    if (!mkdtemp(dir) || ak_ledger_open(dir, &L) != AK_OK)
        abort();
    return 0;
}

static MDB_dbi table(uint8_t sel)
{
    MDB_dbi t[] = { L->db_budgets, L->db_agents, L->db_res, L->db_hist,
                    L->db_events, L->db_cursors, L->db_meta };
    return t[sel % 7];
}

static void put_raw(MDB_dbi dbi, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, bool drop)
{
    MDB_txn *txn;
    FZ_CHECK(mdb_txn_begin(L->env, NULL, 0, &txn) == 0, "begin");
    if (drop) {
        FZ_CHECK(mdb_drop(txn, dbi, 0) == 0, "drop");
    } else {
        MDB_val key = { kl, (void *)k }, val = { vl, (void *)v };
        if (mdb_put(txn, dbi, &key, &val, 0) != 0) {
            mdb_txn_abort(txn);
            return;
        }
    }
    FZ_CHECK(mdb_txn_commit(txn) == 0, "commit");
}

static void visit_budget(enum ak_scope s, const char *n, enum ak_period_type t,
                         const struct ak_budget_state *st, void *ud)
{
    (void)s; (void)n; (void)t; (void)st; (void)ud;
}

static void visit_agent(const char *a, const struct ak_agent_flags *f, void *ud)
{
    (void)a; (void)f; (void)ud;
}

static int visit_event(uint64_t seq, const char *json, size_t len, void *ud)
{
    (void)seq; (void)json; (void)len; (void)ud;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = { data, size };
    uint8_t sel = fz_byte(&in);
    size_t kl = fz_byte(&in) % 64 + 1;
    if (kl > in.n || in.n - kl > 4096)
        return 0;
    MDB_dbi dbi = table(sel);
    if ((dbi == L->db_res || dbi == L->db_events) && kl != sizeof(uint64_t))
        kl = in.n >= sizeof(uint64_t) ? sizeof(uint64_t) : kl;   /* integer keys */
    if ((dbi == L->db_res || dbi == L->db_events) && kl != sizeof(uint64_t))
        return 0;
    put_raw(dbi, in.p, kl, in.p + kl, in.n - kl, false);
    char name[80];
    snprintf(name, sizeof name, "%.*s", (int)(kl > 60 ? 60 : kl - 1), (const char *)in.p + 1);
    const char *agent = name[0] ? name : "bot";
    if (!ledger_name_ok(agent))
        agent = "bot";
    const int64_t now = 1795000000000;
    struct ak_budget_ref b = { .scope = AK_SCOPE_AGENT, .name = agent, .type = AK_PERIOD_DAILY,
                               .limit_micros = 1000000, .max_calls = 1000 };
    struct ak_budget_state st;
    struct ak_agent_flags f;
    struct ak_history_entry h[AK_HISTORY_MAX];
    size_t n = 0, live = 0, reclaimed = 0;
    uint64_t seq = 0, pending = 0;
    char meta[64];
    ak_ledger_budget_get(L, &b, now, &st);
    ak_ledger_agent_get(L, agent, &f);
    ak_ledger_history(L, agent, h, AK_HISTORY_MAX, &n);
    FZ_CHECK(n <= AK_HISTORY_MAX, "history bounded");
    ak_ledger_reservations(L, &live);
    ak_ledger_reclaim_dead(L, &reclaimed);
    ak_ledger_budgets_each(L, visit_budget, NULL);
    ak_ledger_agents_each(L, visit_agent, NULL);
    ak_ledger_events_scan(L, 0, 100, visit_event, NULL);
    ak_ledger_events_last_seq(L, &seq);
    ak_ledger_cursor_get(L, agent, &seq);
    ak_ledger_outbox_pending(L, &pending);
    ak_ledger_meta_get(L, "k", meta, sizeof meta);
    struct ak_reserve r = { .agent = agent, .budgets = &b, .n_budgets = 1, .amount_micros = 10,
                            .pid = (int)getpid(), .now_ms = now };
    struct ak_reserve_result rr;
    enum ak_err e = ak_ledger_reserve(L, &r, &rr);
    FZ_CHECK(e == AK_OK || e == AK_ERR_LIMIT, "a reservation over any record");
    struct ak_commit c = { .res_id = e == AK_OK ? rr.res_id : 0, .agent = agent, .budgets = &b,
                           .n_budgets = 1, .cost_micros = 1, .count_call = true,
                           .event_json = "{}", .event_len = 2, .now_ms = now };
    FZ_CHECK(ak_ledger_commit(L, &c, NULL) == AK_OK, "a commit over any record");
    FZ_CHECK(ak_ledger_budget_get(L, &b, now, &st) == AK_OK, "the budget reads after it");
    MDB_dbi all[] = { L->db_budgets, L->db_agents, L->db_res, L->db_hist, L->db_events,
                      L->db_cursors };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        put_raw(all[i], NULL, 0, NULL, 0, true);
    return 0;
}
