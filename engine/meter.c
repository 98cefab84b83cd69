/*
 * meter.c - the record of one call: usage (as reported, or estimated when the provider never
 * said), price, the event of DESIGN.md, and the one ledger transaction that adds the cost to
 * every budget the agent counts against and appends the event to the outbox.
 */
#include "engine/meter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/notify.h"

/* A burst of calls pokes the collector once per interval: a poke is a system call (about 3 us
 * on the call's path) and one wake drains everything; a commit inside the interval is taken
 * by that drain or, at worst, by the collector's 1 s sweep. */
#define POKE_INTERVAL_MS 5

static bool poke_due(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    int64_t now = (int64_t)ts.tv_sec * AK_MS_PER_S + ts.tv_nsec / AK_NS_PER_MS;
    int64_t last = atomic_load(&eng.last_poke_ms);
    if (last && now >= last && now - last < POKE_INTERVAL_MS)
        return false;
    atomic_store(&eng.last_poke_ms, now);
    return true;
}

static void usage_estimate(const struct meter_call *m, struct ak_usage *u)
{
    memset(u, 0, sizeof *u);
    if (m->resp && m->resp->usage.input_tokens > 0)
        *u = m->resp->usage;      /* e.g. Anthropic message_start: input known, output not */
    else
        u->input_tokens = m->req->input_estimate;
    if (m->resp) {
        int64_t out = m->resp->streamed_text_bytes;
        int64_t est = out > 0 ? (out + 3) / 4 : 0;
        if (est > u->output_tokens)
            u->output_tokens = est;
    }
}

static bool price_for(const struct meter_call *m, const char *model, struct ak_price *p)
{
    const struct ak_prices *prices = engine_prices();
    if (!prices || !model[0])
        return false;
    if (ak_price_lookup(prices, eng.cfg, m->provider, model, p) == AK_OK)
        return true;
    return model != m->req->model &&
           ak_price_lookup(prices, eng.cfg, m->provider, m->req->model, p) == AK_OK;
}

static void event_fill(const struct meter_call *m, struct ak_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ak_event_new_id(ev->event_id);
    int64_t now = ak_now_ms();
    ev->ts_ms = m->t0_ms;
    ev->duration_ms = now - m->t0_ms;
    ak_str_copy(ev->agent, sizeof ev->agent, m->who->agent);
    ak_str_copy(ev->customer, sizeof ev->customer, m->req->customer);
    ev->provider = m->provider;
    ak_str_copy(ev->host, sizeof ev->host, m->host);
    ak_str_copy(ev->operation, sizeof ev->operation, ak_operation_name(m->req->operation));
    const char *model = (m->resp && m->resp->model[0]) ? m->resp->model : m->req->model;
    ak_str_copy(ev->model, sizeof ev->model, model);
    ev->stream = m->req->stream;
    ev->status = m->resp ? m->resp->status : m->status < 0 ? 0 : m->status ? m->status : 429;
    ev->decision = m->decision;
    ak_str_copy(ev->reason, sizeof ev->reason, m->reason ? m->reason : "");
    ev->pid = m->who->pid;
    ak_str_copy(ev->exe, sizeof ev->exe, m->who->exe);
    ev->plane = m->who->plane;
    ak_str_copy(ev->key_fp, sizeof ev->key_fp, m->req->key_fp);
    ev->prompt = (char *)m->prompt;
}

/* Usage and cost; returns the cost in micro-USD. */
static int64_t event_cost(const struct meter_call *m, struct ak_event *ev)
{
    if (!m->resp) {
        ev->cost_source = AK_COST_ESTIMATE;   /* a refused call: nothing spent */
        return 0;
    }
    if (m->resp->have_usage) {
        ev->usage = m->resp->usage;
        ev->cost_source = AK_COST_USAGE;
    } else if (m->resp->status >= 400 && m->complete) {
        ev->cost_source = AK_COST_USAGE;      /* the provider refused: no tokens billed */
    } else {
        usage_estimate(m, &ev->usage);
        ev->cost_source = AK_COST_ESTIMATE;
    }
    struct ak_price price;
    if (!price_for(m, ev->model, &price)) {
        ev->cost_source = AK_COST_UNPRICED;
        return 0;
    }
    return ak_price_cost(&price, &ev->usage);
}

void meter_record(const struct meter_call *in)
{
    struct meter_call fixed;
    const struct meter_call *m = in;
    if (!in->who) {               /* cannot happen: a call site that names no caller */
        engine_internal_error("a metered call without its caller's identity");
        fixed = *in;
        fixed.who = &eng.self;
        m = &fixed;
    }
    struct ak_event ev;
    event_fill(m, &ev);
    ev.cost_micros = event_cost(m, &ev);
    char *json = ak_event_to_json(&ev);
    struct ak_ledger *l = engine_ledger();
    if (!json || !l) {
        if (!json)
            engine_internal_error("event serialisation failed");
        free(json);
        return;
    }
    bool spent = m->resp != NULL;
    struct ak_commit c = {
        .res_id = m->res_id,
        .agent = spent ? m->who->agent : NULL,
        .budgets = m->budgets,
        .n_budgets = spent ? m->n_budgets : 0,
        .cost_micros = ev.cost_micros,
        .count_call = spent,
        .body_hash = m->req->body_hash,
        .is_error = spent && (ev.status >= 400 || m->resp->error_event),
        .event_json = json,
        .event_len = strlen(json),
        .now_ms = ak_now_ms(),
    };
    uint64_t seq = 0;
    enum ak_err e = ak_ledger_commit(l, &c, &seq);
    if (e == AK_OK)
        atomic_store(&eng.ledger_trouble_said, false);
    else if (atomic_exchange(&eng.ledger_trouble_said, true))
        ;                         /* said once, until a commit goes through again */
    else if (e == AK_ERR_BUSY)
        ak_warn("the ledger's write lock is held by another process: calls are recorded when "
                "it is free again (said once per stall)");
    else
        ak_error("cannot record a call to %s in the ledger: %s (said once until it works again)",
                 m->host, ak_strerror(e));
    free(json);
    if (e == AK_OK && spent)
        enforce_after_commit(m->who, c.now_ms);
    if (e != AK_OK || !poke_due())
        return;
    if (eng.cfg->collector_socket && eng.cfg->collector_socket[0])
        ak_notify_collector_at(eng.cfg->collector_socket);
    else
        ak_notify_collector(eng.state_dir);
}
