/*
 * drain.h - moving the outbox into the exporters. For each exporter: read the events after
 * its cursor "exp:<name>" (at most AKC_BATCH_MAX at a time), hand them over, and move the
 * cursor only when the exporter has them. A failing exporter backs off on its own schedule
 * (collector/backoff.h) while the others carry on.
 */
#ifndef AKC_DRAIN_H
#define AKC_DRAIN_H

#include "collector/exporter.h"
#include "core/ledger.h"

/* Reads up to AKC_BATCH_MAX events after `after` into b (cleared first). */
enum ak_err akc_batch_read(struct ak_ledger *l, uint64_t after, struct akc_batch *b);
void akc_batch_free(struct akc_batch *b);

struct akc_drain_stats {
    size_t delivered;             /* records handed over in this call */
    bool pending;                 /* something is left for later (failure, backoff, interval) */
    int64_t next_due_ms;          /* earliest time a waiting exporter wants to run; 0 = none */
};

/* One pass over every exporter. `force` ignores backoff and export intervals (--once, and
 * the final flush at shutdown); it drains each exporter until it is empty or fails. */
enum ak_err akc_drain(struct ak_ledger *l, struct akc_exporter **ex, size_t n, bool force,
                      int64_t now_ms, struct akc_drain_stats *st);

#endif
