/*
 * ledger.h - the host-wide state: one LMDB environment in state_dir, shared by every process.
 *
 * It holds, per budget (an agent's own or a shared one) and period: spent, reserved, calls;
 * per agent: suspension (reason, manual or caused by a budget), an `akctl budget set`
 * override, and a short history of recent calls for the guardrails; live reservations with
 * the pid that holds them; and the event table, whose undelivered tail is the outbox.
 *
 * Every change that concerns one call (reserve, commit, release) is one write transaction:
 * a process killed at any instant leaves either all of it or none of it.
 *
 * Fork: an LMDB handle must not be used in a child. After fork the child calls
 * ak_ledger_forget() on the inherited handle (no LMDB call, the memory is simply dropped)
 * and opens a new one when it needs it. A handle used from any pid but its opener's
 * returns AK_ERR_INTERNAL.
 *
 * Durability: commits are not fsync'ed (MDB_NOSYNC). A crashed or killed process loses
 * nothing it committed; an OS crash can lose the last commits. ak_ledger_sync() flushes.
 *
 * Space: the map starts at 64 MiB and doubles when full, up to 1 GiB (the test-only
 * environment variable AGENTKAVACH_LEDGER_MAX_MAP, bytes, lowers the cap). At the cap the
 * oldest delivered events are pruned, then the oldest undelivered ones (counted in
 * stats.pruned_undelivered, logged), and the write is retried: spend is never lost, event
 * records are lost only then.
 *
 * A handle is safe to share between threads (operations run one at a time). Iteration
 * callbacks (events_scan, budgets_each, agents_each) run outside the handle's lock and may
 * call the ledger.
 */
#ifndef AK_LEDGER_H
#define AK_LEDGER_H

#include "core/config.h"
#include "core/period.h"

struct ak_ledger;

/* Opens (creating when missing) <state_dir>/state.mdb; state_dir is made 0750 when missing,
 * the files 0600 plus the directory's group bits, never any for others (core/ledger.c). */
enum ak_err ak_ledger_open(const char *state_dir, struct ak_ledger **out);
void ak_ledger_close(struct ak_ledger *l);
void ak_ledger_forget(struct ak_ledger *l);
/* Flushes committed transactions to disk (the collector calls it now and then). */
enum ak_err ak_ledger_sync(struct ak_ledger *l);

/* Bounds how long a write waits for the ledger's write lock (held by a stopped process, or
 * any program with a write txn on state.mdb): wait_ms > 0 runs this handle's writes on a
 * thread of its own (core/ledger_writer.c). Past the bound a write returns AK_ERR_BUSY;
 * ak_ledger_commit and ak_ledger_release then stay queued and are made when the ledger is free
 * again, any other write is dropped. Call once, right after open. Default: no bound. */
enum ak_err ak_ledger_set_wait_ms(struct ak_ledger *l, unsigned wait_ms);
/* Writes queued on a bounded handle and not yet made (0 without a bound). */
size_t ak_ledger_deferred(struct ak_ledger *l);
/* Waits up to wait_ms for them; false (and one log line) when some are still queued. */
bool ak_ledger_drain(struct ak_ledger *l, unsigned wait_ms);

enum ak_scope { AK_SCOPE_AGENT = 0, AK_SCOPE_SHARED };

/* How a budget's limit is held on this host: against the limit itself (a host budget), or
 * against this host's lease of a fleet budget (see "Fleet budgets" below), with what happens
 * when the fleet cannot be reached (fleet.on_fleet_error). */
enum ak_ref_fleet { AK_REF_HOST = 0, AK_REF_FLEET_HOLD, AK_REF_FLEET_OPEN };

/* A budget that a call counts against, with the limits in force for it. */
struct ak_budget_ref {
    enum ak_scope scope;
    const char *name;             /* agent or shared-budget name */
    enum ak_period_type type;
    int64_t limit_micros;         /* < 0: no spend limit (counted only) */
    int64_t max_calls;            /* 0: no call limit */
    uint8_t fleet;                /* enum ak_ref_fleet */
};

struct ak_budget_state {
    char period[AK_PERIOD_KEY_LEN];
    int64_t spent_micros;
    int64_t reserved_micros;
    int64_t calls;
    int64_t reserved_calls;       /* calls in flight */
    int64_t resets_at_ms;         /* 0 for total */
};

enum ak_err ak_ledger_budget_get(struct ak_ledger *l, const struct ak_budget_ref *b,
                                 int64_t now_ms, struct ak_budget_state *out);

/* ---- one call: reserve, then commit or release ---- */

struct ak_reserve {
    const char *agent;
    const struct ak_budget_ref *budgets;
    size_t n_budgets;
    int64_t amount_micros;        /* worst-case cost */
    int pid;
    int64_t now_ms;
    bool fleet_final;             /* the last try after waiting for a top-up: a lease never
                                   * synced counts as a fleet that cannot be reached */
};

struct ak_reserve_result {
    uint64_t res_id;              /* 0 when refused */
    int failed;                   /* index of the budget that does not fit, or -1 */
    bool failed_on_calls;         /* refused by max_calls rather than money */
    struct ak_budget_state state; /* the failing budget's state */
    /* fleet budgets (see below) */
    bool failed_on_lease;         /* this host's lease is short (the fleet limit itself is not) */
    bool lease_may_grow;          /* ... and a top-up may come: ask and wait (ak_ledger_fleet_want) */
    int64_t lease_target;         /* the lease that would let the call through */
    int64_t leased_micros;        /* the failing budget's lease, and the fleet's unleased rest */
    int64_t fleet_free_micros;
    int fleet_open;               /* 1 + index of a fleet budget let through unenforced because
                                   * the fleet cannot be reached (on_fleet_error: open); 0 none */
};

/* Checks every budget and, when all fit (spent + reserved + amount <= limit, and
 * calls + reserved_calls < max_calls; for a fleet budget the limit is this host's lease),
 * records the reservation. AK_ERR_LIMIT when one does not fit (result says which); nothing
 * is changed then. */
enum ak_err ak_ledger_reserve(struct ak_ledger *l, const struct ak_reserve *r,
                              struct ak_reserve_result *res);
/* AK_ERR_NOTFOUND when the reservation is gone (committed, released or reclaimed). */
enum ak_err ak_ledger_release(struct ak_ledger *l, uint64_t res_id);

struct ak_commit {
    uint64_t res_id;              /* 0: nothing was reserved */
    const char *agent;            /* NULL: no history entry */
    const struct ak_budget_ref *budgets;
    size_t n_budgets;             /* 0: the event is only recorded (a refused call) */
    int64_t cost_micros;
    bool count_call;
    uint64_t body_hash;           /* for loop detection; 0 = none */
    bool is_error;                /* for error storms */
    const char *event_json;       /* appended to the outbox; NULL = none */
    size_t event_len;
    int64_t now_ms;
};

/* In one write transaction: drops the reservation (if it still exists), adds the cost and
 * the call to each budget's current period, appends the history entry and the event. */
enum ak_err ak_ledger_commit(struct ak_ledger *l, const struct ak_commit *c, uint64_t *seq_out);

/* Drops reservations whose pid no longer exists. */
enum ak_err ak_ledger_reclaim_dead(struct ak_ledger *l, size_t *reclaimed);
/* Number of live reservations (tests and akctl status). */
enum ak_err ak_ledger_reservations(struct ak_ledger *l, size_t *count);

/* ---- fleet budgets ----
 * A fleet-scoped budget (ak_budget_ref.fleet) holds across hosts. On this host it is held
 * against a lease: the amount that akcollector took for this host from the fleet's limit in
 * Redis (cumulative for the period, what was spent included). A reservation checks
 * spent + reserved + amount <= min(lease, limit) in the same single transaction, with the same
 * one record read, as a host budget. The collector tops the lease up (ak_ledger_fleet_sync)
 * and stamps it valid until lease_until_ms; past that (the collector or Redis gone for too
 * long: another host may be given it back) the lease counts as spent. When Redis cannot be
 * reached, `hold` refuses what the lease cannot cover; `open` lets it through (the result
 * says which budget, the event is flagged). */

struct ak_fleet_local {
    char period[AK_PERIOD_KEY_LEN];
    int64_t spent, reserved, calls;
    int64_t leased;               /* granted to this host this period (spent included) */
    int64_t lease_until_ms;       /* 0: never synced */
    int64_t fleet_free;           /* the fleet's unleased rest at the last sync */
    int64_t want;                 /* a waiting call's lease target; 0 none */
    bool down;                    /* the collector's last try to reach Redis failed */
};

/* The record of budget b in the period containing now_ms. */
enum ak_err ak_ledger_fleet_get(struct ak_ledger *l, const struct ak_budget_ref *b,
                                int64_t now_ms, struct ak_fleet_local *out);
/* The collector, after Redis answered: the lease is `leased` (Redis's figure, which may be
 * less than before: a reclaimed lease) until `until_ms`; the fleet has `fleet_free` unleased.
 * A want up to want_seen (the one the collector asked Redis for) is cleared: granted, or the
 * fleet could not cover it; a larger one, written since, stays for the next pass. */
enum ak_err ak_ledger_fleet_sync(struct ak_ledger *l, const struct ak_budget_ref *b,
                                 int64_t now_ms, int64_t leased, int64_t fleet_free,
                                 int64_t until_ms, int64_t want_seen);
/* The collector could not reach Redis: the lease stands until its time; wants are cleared. */
enum ak_err ak_ledger_fleet_down(struct ak_ledger *l, const struct ak_budget_ref *b,
                                 int64_t now_ms);
/* The collector gives back the unused lease (shutdown, period end): lease = spent + reserved,
 * in one transaction; *kept is that amount. */
enum ak_err ak_ledger_fleet_shrink(struct ak_ledger *l, const struct ak_budget_ref *b,
                                   int64_t now_ms, struct ak_fleet_local *kept);
/* The engine, refused on a short lease that may grow: asks for a lease of at least target. */
enum ak_err ak_ledger_fleet_want(struct ak_ledger *l, const struct ak_budget_ref *b,
                                 int64_t now_ms, int64_t target);

/* ---- agents ---- */

#define AK_AGENT_ALL "*"           /* the host-wide emergency stop */
#define AK_REASON_LEN 200

struct ak_agent_flags {
    bool suspended;
    bool manual;                  /* false: a budget caused it; lifts when its period turns */
    char reason[AK_REASON_LEN];
    char period[AK_PERIOD_KEY_LEN]; /* the period that caused a budget suspension */
    bool cut_streams;             /* suspend --now: cut streams in flight */
    int64_t since_ms;
    bool has_budget_override;     /* akctl budget set */
    struct ak_budget budget_override;
};

/* An agent with no record gets zeroed flags and AK_OK. While "*" is suspended, every agent
 * not suspended itself reads as suspended with the "*" reason. resume("*") lifts "*" and
 * every agent's suspension. reset also lifts a suspension a budget caused (not a manual one).
 * set_budget with b == NULL or !b->set removes the override. */
enum ak_err ak_ledger_agent_get(struct ak_ledger *l, const char *agent, struct ak_agent_flags *out);
enum ak_err ak_ledger_suspend(struct ak_ledger *l, const char *agent, const char *reason,
                              bool manual, bool cut_streams, const char *period, int64_t now_ms);
enum ak_err ak_ledger_resume(struct ak_ledger *l, const char *agent);
enum ak_err ak_ledger_set_budget(struct ak_ledger *l, const char *agent, const struct ak_budget *b);
/* `akctl budget set --shared NAME`: the same for a shared budget (NULL or !b->set removes it);
 * get: *has false when there is no override. */
enum ak_err ak_ledger_set_shared_budget(struct ak_ledger *l, const char *name,
                                        const struct ak_budget *b);
enum ak_err ak_ledger_shared_budget_get(struct ak_ledger *l, const char *name, bool *has,
                                        struct ak_budget *out);
/* Zeroes the current period of the agent's budgets (all types). */
enum ak_err ak_ledger_reset(struct ak_ledger *l, const char *agent, int64_t now_ms);

#define AK_HISTORY_MAX 128
struct ak_history_entry {
    int64_t ts_ms;
    int64_t cost_micros;
    uint64_t body_hash;
    bool is_error;
};
/* The agent's most recent calls, newest last. */
enum ak_err ak_ledger_history(struct ak_ledger *l, const char *agent,
                              struct ak_history_entry *out, size_t max, size_t *n);

/* Every budget record the ledger knows (for akctl status and report). */
typedef void (*ak_budget_iter_fn)(enum ak_scope scope, const char *name, enum ak_period_type type,
                                  const struct ak_budget_state *st, void *ud);
enum ak_err ak_ledger_budgets_each(struct ak_ledger *l, ak_budget_iter_fn fn, void *ud);
/* Every agent with flags (suspended or overridden). */
typedef void (*ak_agent_iter_fn)(const char *agent, const struct ak_agent_flags *f, void *ud);
enum ak_err ak_ledger_agents_each(struct ak_ledger *l, ak_agent_iter_fn fn, void *ud);

/* ---- events and the outbox ----
 * Events are kept in sequence order. Consumers (the collector) keep a cursor: the outbox is
 * everything after the slowest cursor. Events at or below every cursor are pruned beyond
 * a retention of AK_EVENTS_KEEP records, so that akctl events can still show recent history. */
#define AK_EVENTS_KEEP 100000

typedef int (*ak_event_fn)(uint64_t seq, const char *json, size_t len, void *ud); /* !=0 stops */
enum ak_err ak_ledger_events_scan(struct ak_ledger *l, uint64_t after_seq, size_t max,
                                  ak_event_fn fn, void *ud);
enum ak_err ak_ledger_events_last_seq(struct ak_ledger *l, uint64_t *seq);
/* A consumer never set reads as 0 (AK_OK). scan: max 0 = no limit. */
enum ak_err ak_ledger_cursor_get(struct ak_ledger *l, const char *consumer, uint64_t *seq);
enum ak_err ak_ledger_cursor_set(struct ak_ledger *l, const char *consumer, uint64_t seq);
/* Number of events after the slowest cursor. */
enum ak_err ak_ledger_outbox_pending(struct ak_ledger *l, uint64_t *count);

/* A budget that refused a call is "exhausted" for its period even though its spend stays
 * below the limit (reservations see to that): alert rules at 1.0 fire on it. This key, in the
 * meta store, is how the shim tells the collector: "exhausted:<agent|shared>:<name>:<period>". */
#define AK_META_EXHAUSTED_FMT "exhausted:%s:%s:%s"
/* A fleet budget's last figures from Redis, as JSON, written by akcollector for akctl and the
 * dashboard (which never talk to Redis): "fleet:<agent|shared>:<name>" (core/status.c reads). */
#define AK_META_FLEET_FMT "fleet:%s:%s"

/* Small key/value store for the collector (alert dedupe) and tools. Keys beginning
 * "ledger." are the ledger's own (AK_ERR_INVAL). get: AK_ERR_NOTFOUND when absent,
 * AK_ERR_FULL when val (len bytes with the NUL) is too small. */
enum ak_err ak_ledger_meta_get(struct ak_ledger *l, const char *key, char *val, size_t len);
enum ak_err ak_ledger_meta_put(struct ak_ledger *l, const char *key, const char *val);
/* Every key beginning with `prefix` (not "ledger."), in key order, with its value (cut at
 * 255 bytes): the dashboard lists the alerts sent ("alert:") this way. */
typedef void (*ak_meta_iter_fn)(const char *key, const char *val, void *ud);
enum ak_err ak_ledger_meta_each(struct ak_ledger *l, const char *prefix, ak_meta_iter_fn fn,
                                void *ud);

/* Counters of "cannot happen" paths, map growth and map-full prunes, host-wide: each handle's
 * counts are added to the ledger with its next write (akctl status --json `counters`,
 * akcollector --check). note_internal counts one "cannot happen" path of a caller's own. */
struct ak_ledger_stats { uint64_t map_grows, pruned_undelivered, internal_errors; size_t map_size; };
void ak_ledger_stats(struct ak_ledger *l, struct ak_ledger_stats *out);
void ak_ledger_note_internal(struct ak_ledger *l);

#endif
