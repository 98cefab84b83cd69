/*
 * meter.h - turning an exchange into an event record and committing it (meter.c).
 */
#ifndef AK_METER_H
#define AK_METER_H

#include "engine/engine.h"

struct meter_call {
    const struct eng_who *who;    /* the caller: agent, pid, exe, plane */
    const char *host;
    enum ak_provider provider;
    const struct ak_xreq *req;
    const struct ak_xresp *resp;  /* NULL for a refused call */
    int64_t t0_ms;
    uint64_t res_id;
    const struct ak_budget_ref *budgets;  /* what the call was checked against */
    size_t n_budgets;
    enum ak_decision decision;
    const char *reason;           /* "" = none */
    const char *prompt;           /* NULL unless privacy.save_prompts */
    bool complete;                /* the response ended normally */
    int status;                   /* the client's answer when resp is NULL: 0 = a refusal's
                                     429, -1 = none (status 0 in the event) */
};

/* Prices the call, fills the event, commits spend and record in one ledger transaction and
 * pokes the collector. Never fails loudly: a ledger problem is logged and counted. */
void meter_record(const struct meter_call *m);

#endif
