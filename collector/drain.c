/*
 * drain.c - outbox to exporters (see drain.h).
 *
 * Delivery is at-least-once: the cursor moves after the exporter has the batch, so a crash
 * between the two repeats that batch (event_id makes the repeat recognisable). One pass
 * sends at most AKC_DRAIN_BATCHES_PER_PASS batches per exporter so that the loop keeps
 * answering signals and pokes under a large backlog.
 */
#include "collector/drain.h"
#include "collector/logrl.h"

#include <stdio.h>
#include <string.h>

#define AKC_DRAIN_BATCHES_PER_PASS 20
#define CURSOR_NAME_LEN (sizeof AKC_CURSOR_PREFIX + AKC_EXPORTER_NAME)

static int batch_add(uint64_t seq, const char *json, size_t len, void *ud)
{
    struct akc_batch *b = ud;
    if (b->n >= AKC_BATCH_MAX)
        return 1;
    size_t off = b->bytes.len;
    if (ak_buf_append(&b->bytes, json, len, 0) != AK_OK || ak_buf_append(&b->bytes, "\n", 1, 0) != AK_OK) {
        b->bytes.len = off;
        return 1;
    }
    b->recs[b->n].seq = seq;
    b->recs[b->n].off = off;
    b->recs[b->n].len = len;
    b->n++;
    return 0;
}

enum ak_err akc_batch_read(struct ak_ledger *l, uint64_t after, struct akc_batch *b)
{
    b->n = 0;
    ak_buf_reset(&b->bytes);
    enum ak_err err = ak_ledger_events_scan(l, after, AKC_BATCH_MAX, batch_add, b);
    if (err == AK_ERR_NOTFOUND)
        err = AK_OK;
    return err;
}

void akc_batch_free(struct akc_batch *b) { ak_buf_free(&b->bytes); }

static void cursor_name(const struct akc_exporter *e, char *out, size_t len)
{
    snprintf(out, len, "%s%s", AKC_CURSOR_PREFIX, e->name);
}

static enum ak_err cursor_get(struct ak_ledger *l, const struct akc_exporter *e, uint64_t *seq)
{
    char name[CURSOR_NAME_LEN];
    cursor_name(e, name, sizeof name);
    enum ak_err err = ak_ledger_cursor_get(l, name, seq);
    if (err == AK_ERR_NOTFOUND) { /* a new exporter starts with everything the ledger keeps */
        *seq = 0;
        err = AK_OK;
    }
    return err;
}

static bool exporter_due(const struct akc_exporter *e, bool force, int64_t now_ms,
                         struct akc_drain_stats *st)
{
    if (force)
        return true;
    int64_t due = e->backoff.next_ms;
    if (e->min_interval_ms && e->last_export_ms + e->min_interval_ms > due)
        due = e->last_export_ms + e->min_interval_ms;
    if (now_ms >= due)
        return true;
    if (!st->next_due_ms || due < st->next_due_ms)
        st->next_due_ms = due;
    return false;
}

/* Sends batches to one exporter until it is empty, fails or has had its share. */
static enum ak_err drain_one(struct ak_ledger *l, struct akc_exporter *e, struct akc_batch *b,
                             bool force, int64_t now_ms, struct akc_drain_stats *st)
{
    char name[CURSOR_NAME_LEN];
    uint64_t cur;
    enum ak_err err = cursor_get(l, e, &cur);
    if (err != AK_OK)
        return err;
    cursor_name(e, name, sizeof name);
    for (int i = 0; force || i < AKC_DRAIN_BATCHES_PER_PASS; i++) {
        if ((err = akc_batch_read(l, cur, b)) != AK_OK || b->n == 0)
            return err;
        enum akc_outcome out = e->ops->deliver(e, b);
        if (out == AKC_RETRY) {
            int64_t d = akc_backoff_fail(&e->backoff, now_ms);
            ak_debug("exporter %s: retry in %lld ms", e->name, (long long)d);
            st->pending = true;
            if (!st->next_due_ms || e->backoff.next_ms < st->next_due_ms)
                st->next_due_ms = e->backoff.next_ms;
            return AK_OK;
        }
        if (out == AKC_REJECTED)
            akc_log_limited(AK_LOG_ERROR, e->name, "exporter %s: records %llu..%llu refused by "
                            "the receiver; skipped", e->name, (unsigned long long)b->recs[0].seq,
                            (unsigned long long)b->recs[b->n - 1].seq);
        else
            st->delivered += b->n;
        akc_backoff_ok(&e->backoff);
        e->last_export_ms = now_ms;
        cur = b->recs[b->n - 1].seq;
        if ((err = ak_ledger_cursor_set(l, name, cur)) != AK_OK)
            return err;
        if (!force && e->min_interval_ms && b->n < AKC_BATCH_MAX)
            return AK_OK; /* a short batch: wait for the interval before the next */
    }
    st->pending = true; /* had its share of this pass; more may follow */
    return AK_OK;
}

static bool exporter_has_more(struct ak_ledger *l, const struct akc_exporter *e, uint64_t last)
{
    uint64_t cur;
    return cursor_get(l, e, &cur) == AK_OK && cur < last;
}

enum ak_err akc_drain(struct ak_ledger *l, struct akc_exporter **ex, size_t n, bool force,
                      int64_t now_ms, struct akc_drain_stats *st)
{
    static struct akc_batch batch; /* ~12 KB of records: kept, not on the stack */
    enum ak_err first = AK_OK;
    uint64_t last = 0;
    memset(st, 0, sizeof *st);
    enum ak_err err = ak_ledger_events_last_seq(l, &last);
    if (err != AK_OK && err != AK_ERR_NOTFOUND)
        return err;
    for (size_t i = 0; i < n; i++) {
        struct akc_exporter *e = ex[i];
        if (!exporter_has_more(l, e, last))
            continue;
        if (!exporter_due(e, force, now_ms, st)) {
            st->pending = true;
            continue;
        }
        err = drain_one(l, e, &batch, force, now_ms, st);
        if (err != AK_OK && first == AK_OK)
            first = err;
    }
    if (!force)
        return first;
    for (size_t i = 0; i < n; i++) /* --once: anything left is reported */
        if (exporter_has_more(l, ex[i], last))
            st->pending = true;
    return first;
}
