/*
 * ledger_events.c - the event table (whose undelivered tail is the outbox), consumer
 * cursors, retention pruning and the map-full space policy.
 *
 * Sequence numbers come from a counter in meta (never reused, even when every event has
 * been pruned) and are appended with MDB_APPEND. Pruning always removes the oldest events,
 * so the stored events are one contiguous run of sequence numbers.
 *
 * Retention: ak_ledger_cursor_set deletes, in its own txn and at most LEDGER_PRUNE_BATCH
 * per call, the oldest events that every consumer has seen while more than events_keep
 * (AK_EVENTS_KEEP; tests lower it with AGENTKAVACH_LEDGER_EVENTS_KEEP) are stored. With
 * no consumer registered nothing is pruned here.
 *
 * Map full at the cap (see ledger.h): first the oldest delivered events go, then the
 * oldest undelivered ones (counted in stats.pruned_undelivered, one log line each time);
 * budget records are never touched, so spend is never lost.
 */
#include "core/ledger_impl.h"

#include <stdlib.h>
#include <string.h>

#define LEDGER_PRUNE_BATCH 1024
#define LEDGER_SCAN_CHUNK 256
#define LEDGER_ROOM_DIVISOR 4      /* undelivered events dropped per map-full round: 1/4 */

/* ---- append ---- */

static enum ak_err events_bounds(struct ak_ledger *l, MDB_txn *txn, uint64_t *first, uint64_t *last);

enum ak_err ledger_events_append(struct ak_ledger *l, MDB_txn *txn, const char *json, size_t len,
                                 uint64_t *seq)
{
    uint64_t last = 0;
    enum ak_err err = ledger_meta_u64_get(l, txn, LEDGER_META_EVENT_SEQ, &last);
    if (err != AK_OK)
        return err;
    uint64_t next = last + 1;
    MDB_val key = { .mv_size = sizeof next, .mv_data = &next };
    MDB_val data = { .mv_size = len, .mv_data = (void *)json };
    int rc = mdb_put(txn, l->db_events, &key, &data, MDB_APPEND);
    if (rc == MDB_KEYEXIST) {          /* the counter is behind the table (a damaged or older
                                          ledger): go on after the last event, never stall */
        uint64_t first = 0, stored = 0;
        if ((err = events_bounds(l, txn, &first, &stored)) != AK_OK)
            return err;
        if (stored == UINT64_MAX) {    /* no seq left: keep the spend, drop the record */
            l->stats.internal_errors++;
            ak_error("ledger: the events table ends at the last sequence number; event dropped");
            *seq = 0;
            return AK_OK;
        }
        ak_warn("ledger: event counter %llu is behind the last event %llu; continuing after it",
                (unsigned long long)last, (unsigned long long)stored);
        next = stored + 1;
        rc = mdb_put(txn, l->db_events, &key, &data, MDB_APPEND);
    }
    if (rc != 0)
        return ledger_mdb_fail(l, rc, "append event");
    if ((err = ledger_meta_u64_put(l, txn, LEDGER_META_EVENT_SEQ, next)) != AK_OK)
        return err;
    *seq = next;
    return AK_OK;
}

/* ---- bounds ---- */

/* First and last stored seq; both 0 when the table is empty. */
static enum ak_err events_bounds(struct ak_ledger *l, MDB_txn *txn, uint64_t *first, uint64_t *last)
{
    MDB_cursor *cur = NULL;
    MDB_val key, data;
    *first = *last = 0;
    int rc = mdb_cursor_open(txn, l->db_events, &cur);
    if (rc != 0)
        return ledger_mdb_fail(l, rc, "open cursor");
    rc = mdb_cursor_get(cur, &key, &data, MDB_FIRST);
    if (rc == 0 && key.mv_size == sizeof *first) {
        memcpy(first, key.mv_data, sizeof *first);
        rc = mdb_cursor_get(cur, &key, &data, MDB_LAST);
        if (rc == 0 && key.mv_size == sizeof *last)
            memcpy(last, key.mv_data, sizeof *last);
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return ledger_mdb_fail(l, rc, "event bounds");
    return AK_OK;
}

struct slowest_ctx { uint64_t seq; bool any; };

static enum ak_err slowest_visit(struct ak_ledger *l, const MDB_val *key, const MDB_val *data,
                                 void *vctx)
{
    struct slowest_ctx *c = vctx;
    struct ledger_u64_rec r;
    if (data->mv_size == sizeof r)
        memcpy(&r, data->mv_data, sizeof r);
    if (data->mv_size != sizeof r || r.version != LEDGER_REC_VERSION) {
        ledger_corrupt(l, "cursors", key);
        return AK_OK;
    }
    if (!c->any || r.value < c->seq)
        c->seq = r.value;
    c->any = true;
    return AK_OK;
}

enum ak_err ledger_events_slowest(struct ak_ledger *l, MDB_txn *txn, uint64_t *seq, bool *any)
{
    struct slowest_ctx c = { 0 };
    enum ak_err err = ledger_db_each(l, txn, l->db_cursors, slowest_visit, &c);
    *seq = c.seq;
    *any = c.any;
    return err;
}

/* Deletes up to `max` of the oldest events with seq <= upto; *deleted says how many. */
static enum ak_err events_delete_oldest(struct ak_ledger *l, MDB_txn *txn, uint64_t upto,
                                        uint64_t max, uint64_t *deleted)
{
    MDB_cursor *cur = NULL;
    MDB_val key, data;
    enum ak_err err = AK_OK;
    *deleted = 0;
    int rc = mdb_cursor_open(txn, l->db_events, &cur);
    if (rc != 0)
        return ledger_mdb_fail(l, rc, "open cursor");
    while (*deleted < max) {
        uint64_t seq;
        rc = mdb_cursor_get(cur, &key, &data, MDB_FIRST);
        if (rc != 0 || key.mv_size != sizeof seq)
            break;
        memcpy(&seq, key.mv_data, sizeof seq);
        if (seq > upto)
            break;
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        (*deleted)++;
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        err = ledger_mdb_fail(l, rc, "prune events");
    mdb_cursor_close(cur);
    return err;
}

/* ---- scan and last seq ---- */

struct scan_item { uint64_t seq; char *json; size_t len; };
struct scan_ctx { uint64_t after; size_t want; struct scan_item items[LEDGER_SCAN_CHUNK]; size_t n; };

static void scan_free(struct scan_ctx *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->items[i].json);
    c->n = 0;
}

/* Copies up to c->want events after c->after (the callbacks run outside the lock). */
static enum ak_err scan_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    struct scan_ctx *c = vctx;
    MDB_cursor *cur = NULL;
    uint64_t start = c->after + 1;
    MDB_val key = { .mv_size = sizeof start, .mv_data = &start }, data;
    enum ak_err err = AK_OK;
    scan_free(c);
    int rc = mdb_cursor_open(txn, l->db_events, &cur);
    if (rc != 0)
        return ledger_mdb_fail(l, rc, "open cursor");
    for (rc = mdb_cursor_get(cur, &key, &data, MDB_SET_RANGE); rc == 0 && c->n < c->want;
         rc = mdb_cursor_get(cur, &key, &data, MDB_NEXT)) {
        struct scan_item *it = &c->items[c->n];
        if (key.mv_size != sizeof it->seq)
            continue;
        memcpy(&it->seq, key.mv_data, sizeof it->seq);
        it->json = malloc(data.mv_size + 1);
        if (!it->json) {
            err = AK_ERR_NOMEM;
            break;
        }
        memcpy(it->json, data.mv_data, data.mv_size);
        it->json[data.mv_size] = '\0';
        it->len = data.mv_size;
        c->n++;
    }
    if (err == AK_OK && rc != 0 && rc != MDB_NOTFOUND)
        err = ledger_mdb_fail(l, rc, "scan events");
    mdb_cursor_close(cur);
    return err;
}

enum ak_err ak_ledger_events_scan(struct ak_ledger *l, uint64_t after_seq, size_t max,
                                  ak_event_fn fn, void *ud)
{
    if (!fn)
        return AK_ERR_INVAL;
    struct scan_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return AK_ERR_NOMEM;
    enum ak_err err = AK_OK;
    size_t done = 0;
    bool stop = false;
    c->after = after_seq;
    while (!stop && (max == 0 || done < max)) {
        size_t left = max == 0 ? LEDGER_SCAN_CHUNK : max - done;
        c->want = left < LEDGER_SCAN_CHUNK ? left : LEDGER_SCAN_CHUNK;
        err = ledger_read(l, scan_fn, c);
        if (err != AK_OK || c->n == 0)
            break;
        for (size_t i = 0; i < c->n && !stop; i++) {
            stop = fn(c->items[i].seq, c->items[i].json, c->items[i].len, ud) != 0;
            done++;
        }
        c->after = c->items[c->n - 1].seq;
        stop = stop || c->n < c->want;
    }
    scan_free(c);
    free(c);
    return err;
}

static enum ak_err last_seq_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    return ledger_meta_u64_get(l, txn, LEDGER_META_EVENT_SEQ, vctx);
}

enum ak_err ak_ledger_events_last_seq(struct ak_ledger *l, uint64_t *seq)
{
    if (!seq)
        return AK_ERR_INVAL;
    *seq = 0;
    return ledger_read(l, last_seq_fn, seq);
}

/* ---- cursors ---- */

struct cursor_ctx { const char *consumer; uint64_t seq; };

static enum ak_err cursor_get_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    struct cursor_ctx *c = vctx;
    MDB_val key = ledger_text_val(c->consumer);
    enum ak_err err = ledger_u64_get(l, txn, l->db_cursors, &key, &c->seq);
    return err == AK_ERR_NOTFOUND ? AK_OK : err;
}

enum ak_err ak_ledger_cursor_get(struct ak_ledger *l, const char *consumer, uint64_t *seq)
{
    if (!ledger_name_ok(consumer) || !seq)
        return AK_ERR_INVAL;
    struct cursor_ctx c = { .consumer = consumer };
    enum ak_err err = ledger_read(l, cursor_get_fn, &c);
    *seq = err == AK_OK ? c.seq : 0;
    return err;
}

/* Retention: bounded deletion of events every consumer has seen, beyond events_keep. */
static enum ak_err events_retain(struct ak_ledger *l, MDB_txn *txn)
{
    MDB_stat st;
    uint64_t slowest = 0, deleted = 0;
    bool any = false;
    int rc = mdb_stat(txn, l->db_events, &st);
    if (rc != 0)
        return ledger_mdb_fail(l, rc, "stat events");
    if (st.ms_entries <= l->events_keep)
        return AK_OK;
    enum ak_err err = ledger_events_slowest(l, txn, &slowest, &any);
    if (err != AK_OK || !any)
        return err;
    uint64_t excess = st.ms_entries - l->events_keep;
    return events_delete_oldest(l, txn, slowest, excess < LEDGER_PRUNE_BATCH ? excess : LEDGER_PRUNE_BATCH,
                                &deleted);
}

static enum ak_err cursor_set_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    struct cursor_ctx *c = vctx;
    MDB_val key = ledger_text_val(c->consumer);
    enum ak_err err = ledger_u64_put(l, txn, l->db_cursors, &key, c->seq);
    return err == AK_OK ? events_retain(l, txn) : err;
}

enum ak_err ak_ledger_cursor_set(struct ak_ledger *l, const char *consumer, uint64_t seq)
{
    if (!ledger_name_ok(consumer))
        return AK_ERR_INVAL;
    struct cursor_ctx c = { .consumer = consumer, .seq = seq };
    return ledger_write(l, cursor_set_fn, &c);
}

static enum ak_err pending_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    uint64_t *count = vctx, first = 0, last = 0, slowest = 0;
    bool any = false;
    enum ak_err err = events_bounds(l, txn, &first, &last);
    if (err == AK_OK)
        err = ledger_events_slowest(l, txn, &slowest, &any);
    if (err != AK_OK)
        return err;
    *count = 0;
    if (last == 0 || last <= slowest)
        return AK_OK;
    uint64_t from = slowest >= first ? slowest + 1 : first; /* stored seqs are contiguous */
    *count = last - from + 1;
    return AK_OK;
}

enum ak_err ak_ledger_outbox_pending(struct ak_ledger *l, uint64_t *count)
{
    if (!count)
        return AK_ERR_INVAL;
    *count = 0;
    return ledger_read(l, pending_fn, count);
}

/* ---- map full at the cap ---- */

struct room_ctx { uint64_t deleted; bool undelivered; };

static enum ak_err room_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    struct room_ctx *c = vctx;
    MDB_stat st;
    uint64_t slowest = 0;
    bool any = false;
    c->deleted = 0;
    c->undelivered = false;
    int rc = mdb_stat(txn, l->db_events, &st);
    if (rc != 0)
        return ledger_mdb_fail(l, rc, "stat events");
    if (st.ms_entries == 0)
        return AK_OK;
    enum ak_err err = ledger_events_slowest(l, txn, &slowest, &any);
    if (err != AK_OK)
        return err;
    if (any && (err = events_delete_oldest(l, txn, slowest, st.ms_entries, &c->deleted)) != AK_OK)
        return err;
    if (c->deleted > 0)
        return AK_OK;
    c->undelivered = true;
    return events_delete_oldest(l, txn, UINT64_MAX, st.ms_entries / LEDGER_ROOM_DIVISOR + 1,
                                &c->deleted);
}

/* Runs in ledger_write's retry loop with the handle's lock held and no txn open. */
enum ak_err ledger_events_make_room(struct ak_ledger *l)
{
    struct room_ctx c = { 0 };
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(l->env, NULL, 0, &txn);
    if (rc != 0)
        return ledger_mdb_fail(l, rc, "begin prune");
    enum ak_err err = room_fn(l, txn, &c);
    if (err != AK_OK) {
        mdb_txn_abort(txn);
        goto out;
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        err = ledger_mdb_fail(l, rc, "commit prune");
        goto out;
    }
    if (c.deleted == 0) {
        ak_error("ledger: state map full at %zu bytes with no events left to prune", l->max_map);
        err = AK_ERR_FULL;
    } else if (c.undelivered) {
        l->stats.pruned_undelivered += c.deleted;
        ak_warn("ledger: state map full at %zu bytes: dropped %llu undelivered event(s)",
                l->max_map, (unsigned long long)c.deleted);
    } else
        ak_info("ledger: state map full: pruned %llu delivered event(s)", (unsigned long long)c.deleted);
out:
    if (err != AK_OK && l->mdb_rc == MDB_MAP_FULL)
        err = AK_ERR_FULL;
    l->mdb_rc = 0;
    return err;
}
