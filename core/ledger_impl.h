/*
 * ledger_impl.h - what the ledger_*.c files share and nothing else includes: the handle,
 * the transaction runners and the on-disk record layouts.
 *
 * On-disk layout (one LMDB environment, file <state_dir>/state.mdb + state.mdb-lock).
 * Every value is a fixed-layout struct of this host's ABI opening with a version byte
 * (LEDGER_REC_VERSION); a value of the wrong size or version is treated as absent, counted in
 * stats.internal_errors and logged once per read.
 *
 *   budgets       key  scope byte ('a' agent, 's' shared) + name + '\0' + period key
 *                      ("2026-11-22" | "2026-11" | "total", no trailing NUL)
 *                 val  struct ledger_budget_rec (40 bytes; 72 for a fleet budget: the lease)
 *   agents        key  agent name (no NUL)          val struct ledger_agent_rec
 *   reservations  key  uint64 res_id (INTEGERKEY)   val struct ledger_res_hdr, then
 *                      n_budgets x { uint16 len; budget key bytes }
 *   history       key  agent name                   val struct ledger_hist_hdr, then
 *                      n x struct ledger_hist_rec, oldest first
 *   events        key  uint64 seq (INTEGERKEY)      val the event JSON text (no NUL)
 *   cursors       key  consumer name                val struct ledger_u64_rec (last seq seen)
 *   meta          key  text                         val caller's text (no NUL), except the
 *                      ledger's own counters under "ledger." (struct ledger_u64_rec)
 */
#ifndef AK_LEDGER_IMPL_H
#define AK_LEDGER_IMPL_H

#include "core/ledger.h"

#include <lmdb.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>

/* How every process opens the environment (LMDB forbids mixing; core/ledger.c says why). */
#ifdef AK_LEDGER_WRITEMAP        /* bench/ only: the map-writing variant, for comparison */
#define LEDGER_ENV_FLAGS (MDB_NOSUBDIR | MDB_NOTLS | MDB_NOSYNC | MDB_NOMETASYNC | MDB_WRITEMAP | \
                          MDB_MAPASYNC)
#else
#define LEDGER_ENV_FLAGS (MDB_NOSUBDIR | MDB_NOTLS | MDB_NOSYNC | MDB_NOMETASYNC)
#endif
#define LEDGER_REC_VERSION 1
#define LEDGER_NAME_MAX 255               /* agent / budget / consumer names, bytes */
#define LEDGER_KEY_MAX (1 + LEDGER_NAME_MAX + 1 + AK_PERIOD_KEY_LEN)
#define LEDGER_SCOPE_AGENT 'a'
#define LEDGER_SCOPE_SHARED 's'

#define LEDGER_META_RES_ID "ledger.res_id"
#define LEDGER_META_EVENT_SEQ "ledger.event_seq"
#define LEDGER_META_PREFIX "ledger."

/* A host budget's record is the short layout (the first 40 bytes, as before fleets existed:
 * an engine still loaded from an older build reads it unchanged); a fleet-scoped budget's is
 * the long one (72 bytes), whose tail is this host's lease (ledger_fleet.c). */
struct ledger_budget_rec {
    uint8_t version;
    uint8_t type;                 /* enum ak_period_type */
    uint8_t fleet_down;           /* fleet: the collector could not reach Redis at its last try */
    uint8_t pad[5];
    int64_t spent, reserved, calls, reserved_calls;
    int64_t leased;               /* fleet: lease granted to this host this period, spent included */
    int64_t lease_until_ms;       /* fleet: the lease holds until then; 0 = never synced */
    int64_t fleet_free;           /* fleet: the fleet's unleased remainder at the last sync */
    int64_t want;                 /* fleet: a call waits for a lease of at least this */
};
#define LEDGER_BUDGET_SHORT_SIZE offsetof(struct ledger_budget_rec, leased)

struct ledger_agent_rec {
    uint8_t version;
    uint8_t suspended, manual, cut_streams, has_override, override_set, override_type, pad;
    int64_t since_ms;
    int64_t override_limit;
    char reason[AK_REASON_LEN];
    char period[AK_PERIOD_KEY_LEN];
};

struct ledger_res_hdr {
    uint8_t version;
    uint8_t n_budgets;
    uint8_t pad[2];
    int32_t pid;
    int64_t amount;
    int64_t calls;                /* calls held in flight per budget (1) */
    int64_t created_ms;
};
#define LEDGER_RES_MAX_BUDGETS 255

struct ledger_hist_hdr {
    uint8_t version;
    uint8_t pad[3];
    uint32_t n;
};
struct ledger_hist_rec {
    int64_t ts_ms;
    int64_t cost_micros;
    uint64_t body_hash;
    uint8_t is_error;
    uint8_t pad[7];
};

struct ledger_u64_rec {
    uint8_t version;
    uint8_t pad[7];
    uint64_t value;
};

struct ak_ledger {
    MDB_env *env;
    MDB_dbi db_budgets, db_agents, db_res, db_hist, db_events, db_cursors, db_meta;
    MDB_txn *rtxn;                /* kept read txn: renewed per read, reset after */
    pthread_mutex_t mu;           /* reads (the kept rtxn) and map size changes, one at a time */
    pthread_mutex_t wmu;          /* one write at a time per handle; taken before mu */
    struct ledger_writer *writer; /* NULL: writes wait on the caller's thread (no bound) */
    pid_t pid;                    /* the opener: any other pid is refused */
    size_t max_map;
    uint64_t events_keep;
    int mdb_rc;                   /* LMDB error that failed the current write fn */
    int said_rc;                  /* the last LMDB error logged (0 after a commit) */
    struct ak_ledger_stats stats;  /* this handle's counts; `flushed` of them are in meta */
    struct ak_ledger_stats flushed;
};

/* A unit of work run inside one transaction. Must be re-runnable from scratch: a write
 * is retried after the map has grown or space was made. */
typedef enum ak_err (*ledger_txn_fn)(struct ak_ledger *l, MDB_txn *txn, void *ctx);

enum ak_err ledger_write(struct ak_ledger *l, ledger_txn_fn fn, void *ctx);
/* A write that may outlive its caller: when the wait bound runs out, copy(ctx) makes the
 * queued write's own ctx (freed with free_ctx after it ran) and AK_ERR_BUSY is returned. */
typedef void *(*ledger_ctx_copy_fn)(void *ctx);
typedef void (*ledger_ctx_free_fn)(void *ctx);
enum ak_err ledger_write_deferrable(struct ak_ledger *l, ledger_txn_fn fn, void *ctx,
                                    ledger_ctx_copy_fn copy, ledger_ctx_free_fn free_ctx);
/* The write on this thread, waiting as long as LMDB's lock takes; retry (may be NULL) is
 * told before each attempt after the first. */
typedef void (*ledger_retry_fn)(struct ak_ledger *l, void *ctx);
enum ak_err ledger_write_direct(struct ak_ledger *l, ledger_txn_fn fn, void *ctx,
                                ledger_retry_fn retry);

/* The bounded writer (ledger_writer.c). */
enum ak_err ledger_writer_new(struct ak_ledger *l, unsigned wait_ms);
enum ak_err ledger_writer_run(struct ak_ledger *l, ledger_txn_fn fn, void *ctx,
                              ledger_ctx_copy_fn copy, ledger_ctx_free_fn free_ctx);
/* Waits up to wait_ms for the queue to drain, then stops the thread. false: writes were
 * left (logged) and the thread may still be inside LMDB, so the handle must be leaked. */
bool ledger_writer_stop(struct ak_ledger *l, unsigned wait_ms);
size_t ledger_writer_pending(struct ak_ledger *l);
enum ak_err ledger_read(struct ak_ledger *l, ledger_txn_fn fn, void *ctx);

/* Notes an LMDB failure inside a txn fn (logged unless it is MDB_MAP_FULL) and maps it. */
enum ak_err ledger_mdb_fail(struct ak_ledger *l, int rc, const char *what);
/* Notes a record of the wrong size or version (counted, one log line). */
void ledger_corrupt(struct ak_ledger *l, const char *db, const MDB_val *key);
bool ledger_name_ok(const char *name);

/* Grows a malloc'd array so that index n fits (doubling). */
enum ak_err ledger_grow(void **items, size_t *cap, size_t n, size_t elem);
/* Calls visit for every record of db in key order; a non-AK_OK result stops and is returned. */
typedef enum ak_err (*ledger_visit_fn)(struct ak_ledger *l, const MDB_val *key, const MDB_val *data,
                                       void *ctx);
enum ak_err ledger_db_each(struct ak_ledger *l, MDB_txn *txn, MDB_dbi db, ledger_visit_fn visit,
                           void *ctx);

/* Reads a fixed-size versioned record: AK_ERR_NOTFOUND when absent, or when of the wrong
 * size or version (then counted and logged as corrupt). `what` is the table's name. */
enum ak_err ledger_rec_get(struct ak_ledger *l, MDB_txn *txn, MDB_dbi db, const char *what,
                           const MDB_val *key, void *out, size_t size);

/* Counters kept in meta under "ledger.*" (absent = 0). */
enum ak_err ledger_u64_get(struct ak_ledger *l, MDB_txn *txn, MDB_dbi db, const MDB_val *key,
                           uint64_t *v);
enum ak_err ledger_u64_put(struct ak_ledger *l, MDB_txn *txn, MDB_dbi db, const MDB_val *key,
                           uint64_t v);
enum ak_err ledger_meta_u64_get(struct ak_ledger *l, MDB_txn *txn, const char *name, uint64_t *v);
enum ak_err ledger_meta_u64_put(struct ak_ledger *l, MDB_txn *txn, const char *name, uint64_t v);
MDB_val ledger_text_val(const char *s);

/* Zeroes spent and calls of the current periods of the agent's own budgets (ledger_calls.c). */
enum ak_err ledger_budgets_zero_agent(struct ak_ledger *l, MDB_txn *txn, const char *agent,
                                      int64_t now_ms);

/* Budget records (ledger_fleet.c): decoding either layout (false: neither, or a bad version)
 * and the size to write (short unless a fleet field is set). */
bool ledger_budget_decode(const MDB_val *data, struct ledger_budget_rec *rec);
size_t ledger_budget_size(const struct ledger_budget_rec *rec);
/* The fleet part of reserve_check (ledger_calls.c): true when the call does not fit this
 * host's lease of fleet budget b (index i); fills res's fleet fields. */
bool ledger_fleet_over(const struct ak_budget_ref *b, size_t i,
                       const struct ledger_budget_rec *rec, const struct ak_reserve *r,
                       struct ak_reserve_result *res);
/* Budget records by reference and period (ledger_calls.c), for ledger_fleet.c. */
enum ak_err ledger_budget_get_rec(struct ak_ledger *l, MDB_txn *txn, const struct ak_budget_ref *b,
                                  int64_t now_ms, struct ledger_budget_rec *rec);
enum ak_err ledger_budget_put_rec(struct ak_ledger *l, MDB_txn *txn, const struct ak_budget_ref *b,
                                  int64_t now_ms, const struct ledger_budget_rec *rec);
bool ledger_budget_refs_ok(const struct ak_budget_ref *b, size_t n);

/* Events (ledger_events.c): the slowest cursor (0 and *any=false when there is none), the
 * first/last stored seq, and the map-full space maker. */
enum ak_err ledger_events_slowest(struct ak_ledger *l, MDB_txn *txn, uint64_t *seq, bool *any);
enum ak_err ledger_events_append(struct ak_ledger *l, MDB_txn *txn, const char *json, size_t len,
                                 uint64_t *seq);
enum ak_err ledger_events_make_room(struct ak_ledger *l);

/* This process's pid, without a system call (refreshed after fork). */
pid_t ledger_self_pid(void);

#endif
