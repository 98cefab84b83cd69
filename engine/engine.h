/*
 * engine.h - the metering engine's process context, shared by its files (engine.c owns it).
 * One struct per process: the config, the price table, the ledger (opened on the first metered
 * call), and who this process is (agent, exe, pid: `self`, the identity of the in-process
 * plane; an egress connection carries its own). Reset in a forked child.
 */
#ifndef AK_ENGINE_H
#define AK_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/config.h"
#include "core/event.h"
#include "core/ledger.h"
#include "pricing/pricing.h"
#include "engine/engine_api.h"
#include "engine/exchange.h"

#define ENG_AGENT_LEN AK_EV_NAME
#define ENG_EXE_LEN AK_EV_HOST

/* Who makes the calls on a connection: this process for the in-process plane, the client
 * process akproxy found for the egress plane. Threaded through enforce.c and meter.c. */
struct eng_who {
    char agent[ENG_AGENT_LEN];
    char exe[ENG_EXE_LEN];
    int pid;
    unsigned uid;
    int64_t start_ms;             /* the process's start, for max_runtime */
    enum ak_plane plane;
};

struct engine {
    pthread_mutex_t lock;         /* ledger open, one-time logs */
    struct ak_config *cfg;
    struct ak_prices *prices;     /* read on first use: engine_prices() */
    pthread_once_t prices_once;
    struct ak_ledger *ledger;     /* NULL until first needed; see engine_ledger() */
    bool ledger_failed;           /* open failed: logged once, calls pass unmetered */
    char config_error[AK_EV_REASON]; /* the config was refused: defaults, nothing enforced,
                                        every call recorded as unmetered with this reason */
    char state_dir[512];
    pthread_once_t identity_once;  /* agent and exe: engine_whoami() */
    struct eng_who self;          /* this process (the in-process plane's callers) */
    _Atomic unsigned long internal_errors; /* "cannot happen" paths taken */
    _Atomic int64_t last_poke_ms;  /* the collector is poked at most every POKE_INTERVAL_MS */
    _Atomic bool ledger_trouble_said; /* a ledger failure was logged; quiet until a commit works */
};

extern struct engine eng;

/* Fills agent and exe (once; on the first LLM connection). */
void engine_whoami(void);
/* The price table, read on first use (NULL when it cannot be: calls are unpriced). */
const struct ak_prices *engine_prices(void);
/* The ledger, opened on first use (NULL when it cannot be: the caller fails open or closed). */
struct ak_ledger *engine_ledger(void);
void engine_internal_error(const char *what);
/* akctl suspend --now for `agent` (or "*"): streams in flight are cut. Looks at the ledger
 * at most every CUT_CHECK_MS; *next_check_ms is the caller's (per connection). */
#define CUT_CHECK_MS 100
bool engine_cut_requested(const char *agent, int64_t *next_check_ms);

/* identity.c: the agent name for this process (AGENTKAVACH_AGENT, rules, default template). */
void identity_resolve(const struct ak_config *cfg, char *agent, size_t agent_len,
                      char *exe, size_t exe_len);
/* A client process akproxy found: fills exe and (when not claimed) agent from the rules. */
void identity_resolve_peer(const struct ak_config *cfg, struct ak_peer *who);
/* May `uid` spend as `agent`? false with the reason in why. */
bool identity_peer_allowed(const struct ak_config *cfg, const char *agent, unsigned uid,
                           char *why, size_t why_len);

/* enforce.c: the decision before a call leaves the process. */
struct enforce_call {
    const struct eng_who *who;
    const struct ak_xreq *req;
    enum ak_provider provider;
    bool priced;
    struct ak_price price;
};

#define ENF_MAX_BUDGETS 16

struct enforce_result {
    enum ak_decision decision;    /* allowed or blocked_* */
    char reason[AK_EV_REASON];    /* names the budget or guardrail; "would refuse: ..." in monitor */
    uint64_t res_id;              /* reservation to commit or release; 0 = none */
    /* the budgets the call was checked against: its cost is committed to the same ones
     * (names point into the config and the engine) */
    struct ak_budget_ref budgets[ENF_MAX_BUDGETS];
    size_t n_budgets;
};

void enforce_decide(const struct enforce_call *call, struct enforce_result *out);
/* For a call that goes out unchecked (its body was over the cap): only the budgets its
 * cost will be committed to, and decision unmetered with `reason`. */
void enforce_unchecked(const struct eng_who *who, const char *reason, struct enforce_result *out);
/* After a call was committed: spend velocity and error storms may suspend the agent. */
void enforce_after_commit(const struct eng_who *who, int64_t now_ms);
void enforce_release(uint64_t res_id);

#endif
