/*
 * ledger_agents.c - per-agent flags in the ledger: suspension (manual or caused by a
 * budget), the host-wide stop "*", `akctl budget set` overrides (an agent's or a shared
 * budget's), and `akctl reset`.
 *
 * "*" semantics: suspend("*") stops every agent (ak_ledger_agent_get of any agent reports
 * the "*" suspension when the agent is not suspended itself); resume("*") lifts the
 * host-wide stop and every agent's own suspension. An agent record exists only while the
 * agent is suspended or has an override, so agents_each lists exactly those.
 */
#include "core/ledger_impl.h"
#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- records ---- */

static void agent_rec_to_flags(const struct ledger_agent_rec *r, struct ak_agent_flags *f)
{
    memset(f, 0, sizeof *f);
    f->suspended = r->suspended;
    f->manual = r->manual;
    f->cut_streams = r->cut_streams;
    f->since_ms = r->since_ms;
    ak_str_copy_n(f->reason, sizeof f->reason, r->reason, sizeof r->reason);
    ak_str_copy_n(f->period, sizeof f->period, r->period, sizeof r->period);
    f->has_budget_override = r->has_override;
    f->budget_override.set = r->override_set;
    f->budget_override.type = (enum ak_period_type)r->override_type;
    f->budget_override.limit_micros = r->override_limit;
}

static bool agent_rec_parse(const MDB_val *data, struct ledger_agent_rec *r)
{
    if (data->mv_size != sizeof *r)
        return false;
    memcpy(r, data->mv_data, sizeof *r);
    r->reason[sizeof r->reason - 1] = '\0';
    r->period[sizeof r->period - 1] = '\0';
    return r->version == LEDGER_REC_VERSION && r->override_type <= AK_PERIOD_TOTAL;
}

/* Reads an agent record; absent or corrupt = a fresh one, *found says which. */
static enum ak_err rec_read(struct ak_ledger *l, MDB_txn *txn, MDB_val key,
                            struct ledger_agent_rec *r, bool *found)
{
    MDB_val data;
    memset(r, 0, sizeof *r);
    r->version = LEDGER_REC_VERSION;
    *found = false;
    int rc = mdb_get(txn, l->db_agents, &key, &data);
    if (rc == MDB_NOTFOUND)
        return AK_OK;
    if (rc != 0)
        return ledger_mdb_fail(l, rc, "read agent");
    if (!agent_rec_parse(&data, r)) {
        ledger_corrupt(l, "agents", &key);
        memset(r, 0, sizeof *r);
        r->version = LEDGER_REC_VERSION;
        return AK_OK;
    }
    *found = true;
    return AK_OK;
}

static enum ak_err agent_read(struct ak_ledger *l, MDB_txn *txn, const char *agent,
                              struct ledger_agent_rec *r, bool *found)
{
    return rec_read(l, txn, ledger_text_val(agent), r, found);
}

/* Writes the record, or deletes it when it no longer says anything. */
static enum ak_err rec_write(struct ak_ledger *l, MDB_txn *txn, MDB_val key,
                             const struct ledger_agent_rec *r)
{
    int rc;
    if (!r->suspended && !r->has_override) {
        rc = mdb_del(txn, l->db_agents, &key, NULL);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    } else {
        MDB_val data = { .mv_size = sizeof *r, .mv_data = (void *)r };
        rc = mdb_put(txn, l->db_agents, &key, &data, 0);
    }
    return rc ? ledger_mdb_fail(l, rc, "write agent") : AK_OK;
}

static enum ak_err agent_write(struct ak_ledger *l, MDB_txn *txn, const char *agent,
                               const struct ledger_agent_rec *r)
{
    return rec_write(l, txn, ledger_text_val(agent), r);
}

/* A shared budget's override lives in the agents table under its name behind one NUL byte,
 * which no agent name (text) can begin with; agents_each skips these records. */
#define SHARED_KEY_MARK '\0'

static MDB_val shared_key(const char *name, char buf[LEDGER_NAME_MAX + 2])
{
    size_t n = strlen(name);
    buf[0] = SHARED_KEY_MARK;
    memcpy(buf + 1, name, n);
    MDB_val v = { .mv_size = n + 1, .mv_data = buf };
    return v;
}

static void agent_clear_suspension(struct ledger_agent_rec *r)
{
    r->suspended = r->manual = r->cut_streams = 0;
    r->since_ms = 0;
    memset(r->reason, 0, sizeof r->reason);
    memset(r->period, 0, sizeof r->period);
}

/* ---- get ---- */

struct agent_get_ctx { const char *agent; struct ak_agent_flags *out; };

static enum ak_err agent_get_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    struct agent_get_ctx *c = vctx;
    struct ledger_agent_rec own, all;
    bool found = false;
    enum ak_err err = agent_read(l, txn, c->agent, &own, &found);
    if (err != AK_OK)
        return err;
    if (!own.suspended && strcmp(c->agent, AK_AGENT_ALL) != 0) {
        err = agent_read(l, txn, AK_AGENT_ALL, &all, &found);
        if (err != AK_OK)
            return err;
        if (all.suspended) { /* the host-wide stop, keeping the agent's own override */
            memcpy(own.reason, all.reason, sizeof own.reason);
            memcpy(own.period, all.period, sizeof own.period);
            own.suspended = 1;
            own.manual = all.manual;
            own.cut_streams = all.cut_streams;
            own.since_ms = all.since_ms;
        }
    }
    agent_rec_to_flags(&own, c->out);
    return AK_OK;
}

enum ak_err ak_ledger_agent_get(struct ak_ledger *l, const char *agent, struct ak_agent_flags *out)
{
    if (!ledger_name_ok(agent) || !out)
        return AK_ERR_INVAL;
    memset(out, 0, sizeof *out);
    struct agent_get_ctx c = { .agent = agent, .out = out };
    return ledger_read(l, agent_get_fn, &c);
}

/* ---- suspend / resume ---- */

struct suspend_ctx {
    const char *agent, *reason, *period;
    bool manual, cut_streams;
    int64_t now_ms;
};

static enum ak_err suspend_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    struct suspend_ctx *c = vctx;
    struct ledger_agent_rec r;
    bool found = false;
    enum ak_err err = agent_read(l, txn, c->agent, &r, &found);
    if (err != AK_OK)
        return err;
    agent_clear_suspension(&r);
    r.suspended = 1;
    r.manual = c->manual;
    r.cut_streams = c->cut_streams;
    r.since_ms = c->now_ms;
    snprintf(r.reason, sizeof r.reason, "%s", c->reason ? c->reason : "");
    snprintf(r.period, sizeof r.period, "%s", c->period ? c->period : "");
    if ((err = agent_write(l, txn, c->agent, &r)) != AK_OK)
        return err;
    return AK_OK;
}

enum ak_err ak_ledger_suspend(struct ak_ledger *l, const char *agent, const char *reason,
                              bool manual, bool cut_streams, const char *period, int64_t now_ms)
{
    if (!ledger_name_ok(agent))
        return AK_ERR_INVAL;
    struct suspend_ctx c = { .agent = agent, .reason = reason, .period = period,
                             .manual = manual, .cut_streams = cut_streams, .now_ms = now_ms };
    return ledger_write(l, suspend_fn, &c);
}

/* Lifts the suspension of every agent record (resume "*"). */
static enum ak_err resume_all(struct ak_ledger *l, MDB_txn *txn)
{
    MDB_cursor *cur = NULL;
    MDB_val key, data;
    enum ak_err err = AK_OK;
    int rc = mdb_cursor_open(txn, l->db_agents, &cur);
    if (rc != 0)
        return ledger_mdb_fail(l, rc, "open cursor");
    for (rc = mdb_cursor_get(cur, &key, &data, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &data, MDB_NEXT)) {
        struct ledger_agent_rec r;
        if (!agent_rec_parse(&data, &r)) {
            ledger_corrupt(l, "agents", &key);
            memset(&r, 0, sizeof r);
            r.version = LEDGER_REC_VERSION;
        } else if (!r.suspended)
            continue;
        agent_clear_suspension(&r);
        if (r.has_override) {
            MDB_val nv = { .mv_size = sizeof r, .mv_data = &r };
            rc = mdb_cursor_put(cur, &key, &nv, MDB_CURRENT);
        } else
            rc = mdb_cursor_del(cur, 0);
        if (rc != 0) {
            err = ledger_mdb_fail(l, rc, "resume all");
            break;
        }
    }
    if (err == AK_OK && rc != MDB_NOTFOUND)
        err = ledger_mdb_fail(l, rc, "scan agents");
    mdb_cursor_close(cur);
    return err;
}

static enum ak_err resume_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    const char *agent = vctx;
    struct ledger_agent_rec r;
    bool found = false;
    enum ak_err err;
    if (strcmp(agent, AK_AGENT_ALL) == 0)
        err = resume_all(l, txn);
    else {
        err = agent_read(l, txn, agent, &r, &found);
        if (err != AK_OK || !found || !r.suspended)
            return err;
        agent_clear_suspension(&r);
        err = agent_write(l, txn, agent, &r);
    }
    return err;
}

enum ak_err ak_ledger_resume(struct ak_ledger *l, const char *agent)
{
    if (!ledger_name_ok(agent))
        return AK_ERR_INVAL;
    return ledger_write(l, resume_fn, (void *)agent);
}

/* ---- budget override and reset ---- */

struct set_budget_ctx { MDB_val key; const struct ak_budget *b; };

static enum ak_err set_budget_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    struct set_budget_ctx *c = vctx;
    struct ledger_agent_rec r;
    bool found = false;
    enum ak_err err = rec_read(l, txn, c->key, &r, &found);
    if (err != AK_OK)
        return err;
    bool set = c->b && c->b->set;
    r.has_override = set;
    r.override_set = set;
    r.override_type = set ? (uint8_t)c->b->type : 0;
    r.override_limit = set ? c->b->limit_micros : 0;
    if ((err = rec_write(l, txn, c->key, &r)) != AK_OK)
        return err;
    return AK_OK;
}

enum ak_err ak_ledger_set_budget(struct ak_ledger *l, const char *agent, const struct ak_budget *b)
{
    if (!ledger_name_ok(agent) || (b && b->set && (unsigned)b->type > AK_PERIOD_TOTAL))
        return AK_ERR_INVAL;
    struct set_budget_ctx c = { .key = ledger_text_val(agent), .b = b };
    return ledger_write(l, set_budget_fn, &c);
}

enum ak_err ak_ledger_set_shared_budget(struct ak_ledger *l, const char *name,
                                        const struct ak_budget *b)
{
    char buf[LEDGER_NAME_MAX + 2];
    if (!ledger_name_ok(name) || (b && b->set && (unsigned)b->type > AK_PERIOD_TOTAL))
        return AK_ERR_INVAL;
    struct set_budget_ctx c = { .key = shared_key(name, buf), .b = b };
    return ledger_write(l, set_budget_fn, &c);
}

struct shared_get_ctx { MDB_val key; struct ak_budget *out; bool *has; };

static enum ak_err shared_get_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    struct shared_get_ctx *c = vctx;
    struct ledger_agent_rec r;
    bool found = false;
    enum ak_err err = rec_read(l, txn, c->key, &r, &found);
    if (err != AK_OK || !found || !r.has_override)
        return err;
    *c->has = true;
    c->out->set = r.override_set;
    c->out->type = (enum ak_period_type)r.override_type;
    c->out->limit_micros = r.override_limit;
    return AK_OK;
}

enum ak_err ak_ledger_shared_budget_get(struct ak_ledger *l, const char *name, bool *has,
                                        struct ak_budget *out)
{
    char buf[LEDGER_NAME_MAX + 2];
    if (!ledger_name_ok(name) || !has || !out)
        return AK_ERR_INVAL;
    *has = false;
    memset(out, 0, sizeof *out);
    struct shared_get_ctx c = { .key = shared_key(name, buf), .out = out, .has = has };
    return ledger_read(l, shared_get_fn, &c);
}

struct reset_ctx { const char *agent; int64_t now_ms; };

/* Zeroes the current periods; a suspension a budget caused goes with it (a manual one stays). */
static enum ak_err reset_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    struct reset_ctx *c = vctx;
    struct ledger_agent_rec r;
    bool found = false;
    enum ak_err err = ledger_budgets_zero_agent(l, txn, c->agent, c->now_ms);
    if (err == AK_OK)
        err = agent_read(l, txn, c->agent, &r, &found);
    if (err != AK_OK || !found || !r.suspended || r.manual)
        return err;
    agent_clear_suspension(&r);
    if ((err = agent_write(l, txn, c->agent, &r)) != AK_OK)
        return err;
    return AK_OK;
}

enum ak_err ak_ledger_reset(struct ak_ledger *l, const char *agent, int64_t now_ms)
{
    if (!ledger_name_ok(agent))
        return AK_ERR_INVAL;
    struct reset_ctx c = { .agent = agent, .now_ms = now_ms };
    return ledger_write(l, reset_fn, &c);
}

/* ---- listing ---- */

struct agent_item { char name[LEDGER_NAME_MAX + 1]; struct ak_agent_flags f; };
struct agents_ctx { struct agent_item *items; size_t n, cap; };

static enum ak_err agents_visit(struct ak_ledger *l, const MDB_val *key, const MDB_val *data,
                                void *vctx)
{
    struct agents_ctx *c = vctx;
    struct ledger_agent_rec r;
    if (key->mv_size > 0 && ((const char *)key->mv_data)[0] == SHARED_KEY_MARK)
        return AK_OK;                   /* a shared budget's override, not an agent */
    if (!agent_rec_parse(data, &r) || key->mv_size > LEDGER_NAME_MAX) {
        ledger_corrupt(l, "agents", key);
        return AK_OK;
    }
    enum ak_err err = ledger_grow((void **)&c->items, &c->cap, c->n, sizeof *c->items);
    if (err != AK_OK)
        return err;
    struct agent_item *it = &c->items[c->n++];
    memcpy(it->name, key->mv_data, key->mv_size);
    it->name[key->mv_size] = '\0';
    agent_rec_to_flags(&r, &it->f);
    return AK_OK;
}

static enum ak_err agents_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    ((struct agents_ctx *)vctx)->n = 0;
    return ledger_db_each(l, txn, l->db_agents, agents_visit, vctx);
}

enum ak_err ak_ledger_agents_each(struct ak_ledger *l, ak_agent_iter_fn fn, void *ud)
{
    if (!fn)
        return AK_ERR_INVAL;
    struct agents_ctx c = { 0 };
    enum ak_err err = ledger_read(l, agents_fn, &c);
    for (size_t i = 0; err == AK_OK && i < c.n; i++) /* outside the lock: fn may call us */
        fn(c.items[i].name, &c.items[i].f, ud);
    free(c.items);
    return err;
}
