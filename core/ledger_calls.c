/*
 * ledger_calls.c - budgets and the life of one call in the ledger: reserve, then commit or
 * release; reclaiming what dead processes reserved; the per-agent history ring; and the
 * budget listing for akctl. Record layouts are in ledger_impl.h.
 *
 * A budget record exists per (scope, name, period key). The current period's record is
 * made on first use; records of past periods stay for reports.
 */
#include "core/ledger_impl.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Budget arithmetic saturates: a damaged record (any int64 can be on disk) must not overflow
 * (tests/fuzz/fuzz_ledger.c found it); a saturated budget simply reads as spent. */
static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    return __builtin_add_overflow(a, b, &r) ? (b > 0 ? INT64_MAX : INT64_MIN) : r;
}

static int64_t sat_sub(int64_t a, int64_t b)
{
    int64_t r;
    return __builtin_sub_overflow(a, b, &r) ? (b < 0 ? INT64_MAX : INT64_MIN) : r;
}

#define DATE_TEXT_LEN 32
#define MONTH_KEY_LEN 7  /* "2026-11" */
#define DAY_KEY_LEN 10   /* "2026-11-22" */

/* ---- budget keys and records ---- */

struct budget_key {
    unsigned char buf[LEDGER_KEY_MAX];
    MDB_val val;
};

static void budget_key_make(struct budget_key *k, enum ak_scope scope, const char *name,
                            const char *period)
{
    size_t n = strlen(name), p = strlen(period);
    k->buf[0] = scope == AK_SCOPE_SHARED ? LEDGER_SCOPE_SHARED : LEDGER_SCOPE_AGENT;
    memcpy(k->buf + 1, name, n);
    k->buf[1 + n] = '\0';
    memcpy(k->buf + 2 + n, period, p);
    k->val.mv_size = 2 + n + p;
    k->val.mv_data = k->buf;
}

static void budget_key_now(struct budget_key *k, const struct ak_budget_ref *b, int64_t now_ms)
{
    char period[AK_PERIOD_KEY_LEN];
    ak_period_key(b->type, now_ms, period);
    budget_key_make(k, b->scope, b->name, period);
}

static bool budget_refs_ok(const struct ak_budget_ref *b, size_t n)
{
    if (n > 0 && !b)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!ledger_name_ok(b[i].name))
            return false;
    return true;
}

/* Reads a budget record; absent or corrupt = zeroes (AK_OK either way). */
static enum ak_err budget_read(struct ak_ledger *l, MDB_txn *txn, const MDB_val *key,
                               struct ledger_budget_rec *rec)
{
    MDB_val data;
    int rc = mdb_get(txn, l->db_budgets, (MDB_val *)key, &data);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return ledger_mdb_fail(l, rc, "budgets");
    if (rc == 0 && ledger_budget_decode(&data, rec))
        return AK_OK;
    if (rc == 0)
        ledger_corrupt(l, "budgets", key);
    memset(rec, 0, sizeof *rec);
    rec->version = LEDGER_REC_VERSION;
    return AK_OK;
}

static enum ak_err budget_write(struct ak_ledger *l, MDB_txn *txn, const MDB_val *key,
                                const struct ledger_budget_rec *rec)
{
    MDB_val data = { .mv_size = ledger_budget_size(rec), .mv_data = (void *)rec };
    int rc = mdb_put(txn, l->db_budgets, (MDB_val *)key, &data, 0);
    return rc ? ledger_mdb_fail(l, rc, "write budget") : AK_OK;
}

static void budget_state_fill(struct ak_budget_state *st, const struct ledger_budget_rec *rec,
                              const char *period, enum ak_period_type type, int64_t start_ms)
{
    memset(st, 0, sizeof *st);
    snprintf(st->period, sizeof st->period, "%s", period);
    st->spent_micros = rec->spent;
    st->reserved_micros = rec->reserved;
    st->calls = rec->calls;
    st->reserved_calls = rec->reserved_calls;
    st->resets_at_ms = ak_period_reset_ms(type, start_ms);
}

struct budget_get_ctx { const struct ak_budget_ref *b; int64_t now_ms; struct ak_budget_state *out; };

static enum ak_err budget_get_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    struct budget_get_ctx *c = vctx;
    struct budget_key k;
    struct ledger_budget_rec rec;
    char period[AK_PERIOD_KEY_LEN];
    ak_period_key(c->b->type, c->now_ms, period);
    budget_key_make(&k, c->b->scope, c->b->name, period);
    enum ak_err err = budget_read(l, txn, &k.val, &rec);
    if (err == AK_OK)
        budget_state_fill(c->out, &rec, period, c->b->type, c->now_ms);
    return err;
}

enum ak_err ak_ledger_budget_get(struct ak_ledger *l, const struct ak_budget_ref *b,
                                 int64_t now_ms, struct ak_budget_state *out)
{
    if (!b || !out || !budget_refs_ok(b, 1))
        return AK_ERR_INVAL;
    struct budget_get_ctx c = { .b = b, .now_ms = now_ms, .out = out };
    return ledger_read(l, budget_get_fn, &c);
}

/* ---- reservations ---- */

/* A parsed reservation: header plus pointers to the budget keys inside `data`. */
struct res_view {
    struct ledger_res_hdr hdr;
    MDB_val keys[LEDGER_RES_MAX_BUDGETS];
};

static bool res_parse(const MDB_val *data, struct res_view *v)
{
    const unsigned char *p = data->mv_data, *end = p + data->mv_size;
    if (data->mv_size < sizeof v->hdr)
        return false;
    memcpy(&v->hdr, p, sizeof v->hdr);
    if (v->hdr.version != LEDGER_REC_VERSION)
        return false;
    p += sizeof v->hdr;
    for (unsigned i = 0; i < v->hdr.n_budgets; i++) {
        uint16_t len;
        if ((size_t)(end - p) < sizeof len)
            return false;
        memcpy(&len, p, sizeof len);
        p += sizeof len;
        if ((size_t)(end - p) < len || len == 0 || len > LEDGER_KEY_MAX)
            return false;
        v->keys[i].mv_size = len;
        v->keys[i].mv_data = (void *)p;
        p += len;
    }
    return p == end;
}

/* Takes a reservation's amounts back off the budgets it counted against and deletes it.
 * AK_ERR_NOTFOUND when it does not exist (already committed, released or reclaimed). */
static enum ak_err res_drop(struct ak_ledger *l, MDB_txn *txn, uint64_t res_id)
{
    MDB_val key = { .mv_size = sizeof res_id, .mv_data = &res_id }, data;
    struct res_view *v = malloc(sizeof *v); /* 4 KiB: kept off small thread stacks */
    enum ak_err err = AK_OK;
    if (!v)
        return AK_ERR_NOMEM;
    int rc = mdb_get(txn, l->db_res, &key, &data);
    if (rc == MDB_NOTFOUND) {
        err = AK_ERR_NOTFOUND;
        goto out;
    }
    if (rc != 0) {
        err = ledger_mdb_fail(l, rc, "read reservation");
        goto out;
    }
    if (!res_parse(&data, v)) {
        ledger_corrupt(l, "reservations", &key);
        v->hdr.n_budgets = 0; /* nothing trustworthy to give back; drop the record */
    }
    for (unsigned i = 0; i < v->hdr.n_budgets && err == AK_OK; i++) {
        struct ledger_budget_rec rec;
        unsigned char kb[LEDGER_KEY_MAX];
        MDB_val bk = { .mv_size = v->keys[i].mv_size, .mv_data = kb };
        memcpy(kb, v->keys[i].mv_data, bk.mv_size); /* data may move once we write */
        v->keys[i] = bk;
        err = budget_read(l, txn, &bk, &rec);
        if (err != AK_OK)
            break;
        rec.reserved = rec.reserved > v->hdr.amount ? sat_sub(rec.reserved, v->hdr.amount) : 0;
        rec.reserved_calls = rec.reserved_calls > v->hdr.calls ? sat_sub(rec.reserved_calls, v->hdr.calls) : 0;
        err = budget_write(l, txn, &bk, &rec);
    }
    if (err == AK_OK && (rc = mdb_del(txn, l->db_res, &key, NULL)) != 0)
        err = ledger_mdb_fail(l, rc, "delete reservation");
out:
    free(v);
    return err;
}

struct reserve_ctx { const struct ak_reserve *r; struct ak_reserve_result *res; };

/* Checks every budget; fills res and returns AK_ERR_LIMIT at the first that does not fit. */
static enum ak_err reserve_check(struct ak_ledger *l, MDB_txn *txn, struct reserve_ctx *c)
{
    const struct ak_reserve *r = c->r;
    for (size_t i = 0; i < r->n_budgets; i++) {
        const struct ak_budget_ref *b = &r->budgets[i];
        struct budget_key k;
        struct ledger_budget_rec rec;
        budget_key_now(&k, b, r->now_ms);
        enum ak_err err = budget_read(l, txn, &k.val, &rec);
        if (err != AK_OK)
            return err;
        bool money = b->fleet ? ledger_fleet_over(b, i, &rec, r, c->res)
                              : b->limit_micros >= 0 &&
                                sat_add(sat_add(rec.spent, rec.reserved), r->amount_micros) >
                                    b->limit_micros;
        bool calls = b->max_calls > 0 && sat_add(rec.calls, rec.reserved_calls) >= b->max_calls;
        if (!money && !calls)
            continue;
        c->res->failed = (int)i;
        c->res->failed_on_calls = !money;
        char period[AK_PERIOD_KEY_LEN];
        ak_period_key(b->type, r->now_ms, period);
        budget_state_fill(&c->res->state, &rec, period, b->type, r->now_ms);
        return AK_ERR_LIMIT;
    }
    return AK_OK;
}

static enum ak_err reserve_record(struct ak_ledger *l, MDB_txn *txn, const struct ak_reserve *r,
                                  uint64_t res_id)
{
    size_t size = sizeof(struct ledger_res_hdr);
    struct budget_key *keys = calloc(r->n_budgets ? r->n_budgets : 1, sizeof *keys);
    unsigned char *buf = NULL;
    enum ak_err err = AK_ERR_NOMEM;
    if (!keys)
        goto out;
    for (size_t i = 0; i < r->n_budgets; i++) {
        budget_key_now(&keys[i], &r->budgets[i], r->now_ms);
        size += sizeof(uint16_t) + keys[i].val.mv_size;
    }
    buf = malloc(size);
    if (!buf)
        goto out;
    struct ledger_res_hdr hdr = {
        .version = LEDGER_REC_VERSION, .n_budgets = (uint8_t)r->n_budgets,
        .pid = r->pid > 0 ? r->pid : (int32_t)getpid(), .amount = r->amount_micros,
        .calls = 1, .created_ms = r->now_ms,
    };
    unsigned char *p = buf;
    memcpy(p, &hdr, sizeof hdr);
    p += sizeof hdr;
    for (size_t i = 0; i < r->n_budgets; i++) {
        uint16_t len = (uint16_t)keys[i].val.mv_size;
        memcpy(p, &len, sizeof len);
        memcpy(p + sizeof len, keys[i].buf, len);
        p += sizeof len + len;
    }
    MDB_val key = { .mv_size = sizeof res_id, .mv_data = &res_id };
    MDB_val data = { .mv_size = size, .mv_data = buf };
    int rc = mdb_put(txn, l->db_res, &key, &data, 0);
    err = rc ? ledger_mdb_fail(l, rc, "write reservation") : AK_OK;
out:
    free(buf);
    free(keys);
    return err;
}

static enum ak_err reserve_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    struct reserve_ctx *c = vctx;
    const struct ak_reserve *r = c->r;
    uint64_t res_id = 0;
    memset(c->res, 0, sizeof *c->res);
    c->res->failed = -1;
    enum ak_err err = reserve_check(l, txn, c);
    if (err != AK_OK)
        return err;
    for (size_t i = 0; i < r->n_budgets; i++) {
        struct budget_key k;
        struct ledger_budget_rec rec;
        budget_key_now(&k, &r->budgets[i], r->now_ms);
        if ((err = budget_read(l, txn, &k.val, &rec)) != AK_OK)
            return err;
        rec.type = (uint8_t)r->budgets[i].type;
        rec.reserved = sat_add(rec.reserved, r->amount_micros);
        rec.reserved_calls = sat_add(rec.reserved_calls, 1);
        if ((err = budget_write(l, txn, &k.val, &rec)) != AK_OK)
            return err;
    }
    if ((err = ledger_meta_u64_get(l, txn, LEDGER_META_RES_ID, &res_id)) != AK_OK ||
        (err = ledger_meta_u64_put(l, txn, LEDGER_META_RES_ID, res_id + 1)) != AK_OK ||
        (err = reserve_record(l, txn, r, res_id + 1)) != AK_OK)
        return err;
    c->res->res_id = res_id + 1;
    return AK_OK;
}

enum ak_err ak_ledger_reserve(struct ak_ledger *l, const struct ak_reserve *r,
                              struct ak_reserve_result *res)
{
    if (!r || !res || r->amount_micros < 0 || r->n_budgets > LEDGER_RES_MAX_BUDGETS ||
        !budget_refs_ok(r->budgets, r->n_budgets))
        return AK_ERR_INVAL;
    struct reserve_ctx c = { .r = r, .res = res };
    enum ak_err err = ledger_write(l, reserve_fn, &c);
    if (err != AK_OK)
        res->res_id = 0;
    return err;
}

static enum ak_err release_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    return res_drop(l, txn, *(const uint64_t *)vctx);
}

static void *release_copy(void *vctx)
{
    uint64_t *mine = malloc(sizeof *mine);
    if (mine)
        *mine = *(const uint64_t *)vctx;
    return mine;
}

enum ak_err ak_ledger_release(struct ak_ledger *l, uint64_t res_id)
{
    if (res_id == 0)
        return AK_ERR_INVAL;
    return ledger_write_deferrable(l, release_fn, &res_id, release_copy, free);
}

/* ---- history ring ---- */

static enum ak_err history_append(struct ak_ledger *l, MDB_txn *txn, const struct ak_commit *c)
{
    MDB_val key = ledger_text_val(c->agent), data;
    struct ledger_hist_hdr hdr = { .version = LEDGER_REC_VERSION };
    const unsigned char *old = NULL;
    int rc = mdb_get(txn, l->db_hist, &key, &data);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return ledger_mdb_fail(l, rc, "read history");
    if (rc == 0) {
        struct ledger_hist_hdr h;
        if (data.mv_size >= sizeof h)
            memcpy(&h, data.mv_data, sizeof h);
        if (data.mv_size < sizeof h || h.version != LEDGER_REC_VERSION || h.n > AK_HISTORY_MAX ||
            data.mv_size != sizeof h + h.n * sizeof(struct ledger_hist_rec))
            ledger_corrupt(l, "history", &key);
        else {
            hdr.n = h.n;
            old = (const unsigned char *)data.mv_data + sizeof h;
        }
    }
    uint32_t keep = hdr.n < AK_HISTORY_MAX ? hdr.n : AK_HISTORY_MAX - 1;
    size_t rec_sz = sizeof(struct ledger_hist_rec);
    unsigned char buf[sizeof hdr + AK_HISTORY_MAX * sizeof(struct ledger_hist_rec)];
    struct ledger_hist_rec rec = { .ts_ms = c->now_ms, .cost_micros = c->cost_micros,
                                   .body_hash = c->body_hash, .is_error = c->is_error };
    if (keep)
        memcpy(buf + sizeof hdr, old + (hdr.n - keep) * rec_sz, keep * rec_sz);
    memcpy(buf + sizeof hdr + keep * rec_sz, &rec, rec_sz);
    hdr.n = keep + 1;
    memcpy(buf, &hdr, sizeof hdr);
    MDB_val nv = { .mv_size = sizeof hdr + hdr.n * rec_sz, .mv_data = buf };
    rc = mdb_put(txn, l->db_hist, &key, &nv, 0);
    return rc ? ledger_mdb_fail(l, rc, "write history") : AK_OK;
}

struct history_ctx { const char *agent; struct ak_history_entry *out; size_t max, *n; };

static enum ak_err history_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    struct history_ctx *c = vctx;
    MDB_val key = ledger_text_val(c->agent), data;
    struct ledger_hist_hdr h;
    *c->n = 0;
    int rc = mdb_get(txn, l->db_hist, &key, &data);
    if (rc == MDB_NOTFOUND)
        return AK_OK;
    if (rc != 0)
        return ledger_mdb_fail(l, rc, "read history");
    if (data.mv_size >= sizeof h)
        memcpy(&h, data.mv_data, sizeof h);
    if (data.mv_size < sizeof h || h.version != LEDGER_REC_VERSION || h.n > AK_HISTORY_MAX ||
        data.mv_size != sizeof h + h.n * sizeof(struct ledger_hist_rec)) {
        ledger_corrupt(l, "history", &key);
        return AK_OK;
    }
    size_t take = h.n < c->max ? h.n : c->max;
    const unsigned char *p = (const unsigned char *)data.mv_data + sizeof h +
                             (h.n - take) * sizeof(struct ledger_hist_rec);
    for (size_t i = 0; i < take; i++) {
        struct ledger_hist_rec r;
        memcpy(&r, p + i * sizeof r, sizeof r);
        c->out[i] = (struct ak_history_entry){ .ts_ms = r.ts_ms, .cost_micros = r.cost_micros,
                                               .body_hash = r.body_hash, .is_error = r.is_error };
    }
    *c->n = take;
    return AK_OK;
}

enum ak_err ak_ledger_history(struct ak_ledger *l, const char *agent,
                              struct ak_history_entry *out, size_t max, size_t *n)
{
    if (!ledger_name_ok(agent) || !n || (max && !out))
        return AK_ERR_INVAL;
    struct history_ctx c = { .agent = agent, .out = out, .max = max, .n = n };
    return ledger_read(l, history_fn, &c);
}

/* ---- commit ---- */

struct commit_ctx { const struct ak_commit *c; uint64_t seq; };

static enum ak_err commit_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    struct commit_ctx *cc = vctx;
    const struct ak_commit *c = cc->c;
    enum ak_err err = AK_OK;
    cc->seq = 0;
    if (c->res_id != 0 && (err = res_drop(l, txn, c->res_id)) != AK_OK && err != AK_ERR_NOTFOUND)
        return err;
    for (size_t i = 0; i < c->n_budgets; i++) {
        struct budget_key k;
        struct ledger_budget_rec rec;
        budget_key_now(&k, &c->budgets[i], c->now_ms);
        if ((err = budget_read(l, txn, &k.val, &rec)) != AK_OK)
            return err;
        rec.type = (uint8_t)c->budgets[i].type;
        rec.spent = sat_add(rec.spent, c->cost_micros);
        rec.calls = sat_add(rec.calls, c->count_call ? 1 : 0);
        if ((err = budget_write(l, txn, &k.val, &rec)) != AK_OK)
            return err;
    }
    if (c->agent && (err = history_append(l, txn, c)) != AK_OK)
        return err;
    if (c->event_json)
        return ledger_events_append(l, txn, c->event_json, c->event_len, &cc->seq);
    return AK_OK;
}

/* A commit that outlives its caller (the ledger was busy) owns a copy of everything it
 * writes: one allocation holding the ctx, the commit, the budget refs and the strings. */
struct commit_copy {
    struct commit_ctx cc;
    struct ak_commit c;
    struct ak_budget_ref budgets[];
};

static char *copy_text(char **at, const char *s, size_t n)
{
    char *d = *at;
    memcpy(d, s, n);
    d[n] = '\0';
    *at += n + 1;
    return d;
}

static void *commit_copy(void *vctx)
{
    const struct ak_commit *c = ((struct commit_ctx *)vctx)->c;
    size_t refs = c->n_budgets * sizeof c->budgets[0], text = 0;
    for (size_t i = 0; i < c->n_budgets; i++)
        text += strlen(c->budgets[i].name) + 1;
    text += (c->agent ? strlen(c->agent) + 1 : 0) + (c->event_json ? c->event_len + 1 : 0);
    struct commit_copy *m = malloc(sizeof *m + refs + text);
    if (!m)
        return NULL;
    char *at = (char *)m->budgets + refs;
    m->c = *c;
    for (size_t i = 0; i < c->n_budgets; i++) {
        m->budgets[i] = c->budgets[i];
        m->budgets[i].name = copy_text(&at, c->budgets[i].name, strlen(c->budgets[i].name));
    }
    m->c.budgets = m->budgets;
    m->c.agent = c->agent ? copy_text(&at, c->agent, strlen(c->agent)) : NULL;
    m->c.event_json = c->event_json ? copy_text(&at, c->event_json, c->event_len) : NULL;
    m->cc = (struct commit_ctx){ .c = &m->c };
    return &m->cc;                /* cc is the first member: free() takes it back */
}

enum ak_err ak_ledger_commit(struct ak_ledger *l, const struct ak_commit *c, uint64_t *seq_out)
{
    if (!c || !budget_refs_ok(c->budgets, c->n_budgets) || (c->agent && !ledger_name_ok(c->agent)) ||
        (c->event_json && c->event_len == 0))
        return AK_ERR_INVAL;
    struct commit_ctx cc = { .c = c };
    enum ak_err err = ledger_write_deferrable(l, commit_fn, &cc, commit_copy, free);
    if (seq_out)
        *seq_out = err == AK_OK ? cc.seq : 0;
    return err;
}

/* ---- dead processes ---- */

struct reclaim_ctx { size_t reclaimed; uint64_t *ids; size_t n, cap; };

static bool pid_dead(int32_t pid)
{
    return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH;
}

/* Collects the ids of reservations held by dead pids (and of unreadable ones). */
static enum ak_err reclaim_visit(struct ak_ledger *l, const MDB_val *key, const MDB_val *data,
                                 void *vctx)
{
    struct reclaim_ctx *c = vctx;
    struct ledger_res_hdr hdr;
    uint64_t id;
    if (key->mv_size != sizeof id)
        return AK_OK;
    memcpy(&id, key->mv_data, sizeof id);
    bool corrupt = data->mv_size < sizeof hdr;
    if (!corrupt)
        memcpy(&hdr, data->mv_data, sizeof hdr);
    if (!corrupt && !pid_dead(hdr.pid))
        return AK_OK;
    enum ak_err err = ledger_grow((void **)&c->ids, &c->cap, c->n, sizeof *c->ids);
    if (err == AK_OK)
        c->ids[c->n++] = id;
    return err;
}

static enum ak_err reclaim_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    struct reclaim_ctx *c = vctx;
    c->reclaimed = 0;
    c->n = 0;
    enum ak_err err = ledger_db_each(l, txn, l->db_res, reclaim_visit, c);
    for (size_t i = 0; err == AK_OK && i < c->n; i++) {
        err = res_drop(l, txn, c->ids[i]);
        if (err == AK_OK)
            c->reclaimed++;
    }
    return err;
}

enum ak_err ak_ledger_reclaim_dead(struct ak_ledger *l, size_t *reclaimed)
{
    struct reclaim_ctx c = { 0 };
    enum ak_err err = ledger_write(l, reclaim_fn, &c);
    free(c.ids);
    if (reclaimed)
        *reclaimed = err == AK_OK ? c.reclaimed : 0;
    if (err == AK_OK && c.reclaimed)
        ak_info("ledger: reclaimed %zu reservation(s) of dead processes", c.reclaimed);
    return err;
}

static enum ak_err reservations_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    MDB_stat st;
    int rc = mdb_stat(txn, l->db_res, &st);
    if (rc != 0)
        return ledger_mdb_fail(l, rc, "stat reservations");
    *(size_t *)vctx = st.ms_entries;
    return AK_OK;
}

enum ak_err ak_ledger_reservations(struct ak_ledger *l, size_t *count)
{
    if (!count)
        return AK_ERR_INVAL;
    *count = 0;
    return ledger_read(l, reservations_fn, count);
}

/* ---- listing every budget record ---- */

struct budget_item {
    enum ak_scope scope;
    char name[LEDGER_NAME_MAX + 1];
    enum ak_period_type type;
    struct ak_budget_state st;
};
struct budgets_ctx { struct budget_item *items; size_t n, cap; };

/* The period type and start follow from the key's shape. */
static bool period_from_key(const char *period, enum ak_period_type *type, int64_t *start_ms)
{
    char date[DATE_TEXT_LEN];
    size_t len = strlen(period);
    *start_ms = 0;
    if (strcmp(period, "total") == 0) {
        *type = AK_PERIOD_TOTAL;
        return true;
    }
    if (len == MONTH_KEY_LEN) {
        *type = AK_PERIOD_MONTHLY;
        snprintf(date, sizeof date, "%s-01", period);
    } else if (len == DAY_KEY_LEN) {
        *type = AK_PERIOD_DAILY;
        snprintf(date, sizeof date, "%s", period);
    } else
        return false;
    return ak_time_parse(date, start_ms);
}

static bool budget_item_parse(const MDB_val *key, const MDB_val *data, struct budget_item *it,
                              struct ledger_budget_rec *rec)
{
    const char *k = key->mv_data;
    char period[AK_PERIOD_KEY_LEN];
    int64_t start = 0;
    if (key->mv_size < 3 || (k[0] != LEDGER_SCOPE_AGENT && k[0] != LEDGER_SCOPE_SHARED))
        return false;
    const char *nul = memchr(k + 1, '\0', key->mv_size - 1);
    if (!nul || nul == k + 1 || (size_t)(nul - (k + 1)) > LEDGER_NAME_MAX)
        return false;
    size_t plen = key->mv_size - (size_t)(nul + 1 - k);
    if (plen == 0 || plen >= sizeof period || !ledger_budget_decode(data, rec))
        return false;
    memcpy(period, nul + 1, plen);
    period[plen] = '\0';
    if (!period_from_key(period, &it->type, &start))
        return false;
    it->scope = k[0] == LEDGER_SCOPE_SHARED ? AK_SCOPE_SHARED : AK_SCOPE_AGENT;
    memcpy(it->name, k + 1, (size_t)(nul - (k + 1)));
    it->name[nul - (k + 1)] = '\0';
    budget_state_fill(&it->st, rec, period, it->type, start);
    return true;
}

static enum ak_err budgets_visit(struct ak_ledger *l, const MDB_val *key, const MDB_val *data,
                                 void *vctx)
{
    struct budgets_ctx *c = vctx;
    struct ledger_budget_rec rec;
    enum ak_err err = ledger_grow((void **)&c->items, &c->cap, c->n, sizeof *c->items);
    if (err != AK_OK)
        return err;
    if (budget_item_parse(key, data, &c->items[c->n], &rec))
        c->n++;
    else
        ledger_corrupt(l, "budgets", key);
    return AK_OK;
}

static enum ak_err budgets_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    ((struct budgets_ctx *)vctx)->n = 0;
    return ledger_db_each(l, txn, l->db_budgets, budgets_visit, vctx);
}

enum ak_err ak_ledger_budgets_each(struct ak_ledger *l, ak_budget_iter_fn fn, void *ud)
{
    if (!fn)
        return AK_ERR_INVAL;
    struct budgets_ctx c = { 0 };
    enum ak_err err = ledger_read(l, budgets_fn, &c);
    for (size_t i = 0; err == AK_OK && i < c.n; i++) /* outside the lock: fn may call us */
        fn(c.items[i].scope, c.items[i].name, c.items[i].type, &c.items[i].st, ud);
    free(c.items);
    return err;
}

/* Reserved stays: it belongs to calls in flight that will commit or release. */
enum ak_err ledger_budgets_zero_agent(struct ak_ledger *l, MDB_txn *txn, const char *agent,
                                      int64_t now_ms)
{
    static const enum ak_period_type types[] = { AK_PERIOD_DAILY, AK_PERIOD_MONTHLY, AK_PERIOD_TOTAL };
    for (size_t i = 0; i < AK_ARRAY_LEN(types); i++) {
        struct ak_budget_ref b = { .scope = AK_SCOPE_AGENT, .name = agent, .type = types[i] };
        struct budget_key k;
        struct ledger_budget_rec rec;
        MDB_val data;
        budget_key_now(&k, &b, now_ms);
        int rc = mdb_get(txn, l->db_budgets, &k.val, &data);
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc != 0)
            return ledger_mdb_fail(l, rc, "read budget");
        enum ak_err err = budget_read(l, txn, &k.val, &rec);
        if (err != AK_OK)
            return err;
        rec.type = (uint8_t)types[i];
        rec.spent = 0;
        rec.calls = 0;
        if ((err = budget_write(l, txn, &k.val, &rec)) != AK_OK)
            return err;
    }
    return AK_OK;
}

/* ---- for ledger_fleet.c ---- */

bool ledger_budget_refs_ok(const struct ak_budget_ref *b, size_t n)
{
    return budget_refs_ok(b, n);
}

enum ak_err ledger_budget_get_rec(struct ak_ledger *l, MDB_txn *txn, const struct ak_budget_ref *b,
                                  int64_t now_ms, struct ledger_budget_rec *rec)
{
    struct budget_key k;
    budget_key_now(&k, b, now_ms);
    return budget_read(l, txn, &k.val, rec);
}

enum ak_err ledger_budget_put_rec(struct ak_ledger *l, MDB_txn *txn, const struct ak_budget_ref *b,
                                  int64_t now_ms, const struct ledger_budget_rec *rec)
{
    struct budget_key k;
    budget_key_now(&k, b, now_ms);
    return budget_write(l, txn, &k.val, rec);
}
