/*
 * exporter.h - what an exporter is to the drain: a named sink that takes a batch of event
 * records (each exactly as stored in the ledger) and says whether it has them.
 *
 * Each exporter has its own ledger cursor "exp:<name>", so a slow or failing exporter
 * neither loses records nor holds the others back. The drain advances the cursor only
 * after deliver() returned AKC_DELIVERED (or AKC_REJECTED: the receiver refused those
 * records for good, which is logged once and not retried).
 */
#ifndef AKC_EXPORTER_H
#define AKC_EXPORTER_H

#include "collector/backoff.h"
#include "collector/http.h"
#include "core/buf.h"
#include "core/config.h"

#define AKC_BATCH_MAX 500
#define AKC_EXPORTER_NAME 32
#define AKC_CURSOR_PREFIX "exp:"

struct akc_record {
    uint64_t seq;
    size_t off, len;              /* the JSON is batch->bytes.data[off .. off+len) */
};

struct akc_batch {
    struct akc_record recs[AKC_BATCH_MAX];
    size_t n;
    struct ak_buf bytes;          /* every record's JSON, each followed by '\n' */
};

static inline const char *akc_record_json(const struct akc_batch *b, size_t i)
{
    return (const char *)b->bytes.data + b->recs[i].off;
}

struct akc_exporter;

struct akc_exporter_ops {
    const char *kind;
    enum akc_outcome (*deliver)(struct akc_exporter *e, const struct akc_batch *b);
    /* --check: true when usable; writes one line of detail into msg */
    bool (*check)(struct akc_exporter *e, char *msg, size_t len);
    void (*destroy)(struct akc_exporter *e);
};

struct akc_exporter {
    char name[AKC_EXPORTER_NAME];
    const struct akc_exporter_ops *ops;
    void *impl;
    int64_t min_interval_ms;      /* do not export more often than this unless a batch is full */
    int64_t last_export_ms;
    struct akc_backoff backoff;
};

/* The exporters a config asks for (JSONL always, with <state_dir>/events.jsonl when no
 * path is given; OTLP when an endpoint is set). */
enum ak_err akc_exporters_build(const struct ak_config *cfg, const char *state_dir,
                                struct akc_exporter ***out, size_t *n);
void akc_exporters_free(struct akc_exporter **v, size_t n);

/* Constructors, one per exporter file. */
enum ak_err akc_jsonl_new(const struct ak_config *cfg, const char *state_dir,
                          struct akc_exporter **out);
enum ak_err akc_otlp_new(const struct ak_config *cfg, struct akc_exporter **out);

#endif
