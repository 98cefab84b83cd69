/*
 * test_ledger.c - the LMDB state ledger (core/ledger*.c) as the shim, the collector and
 * akctl use it: periods turning, reserve/commit/release arithmetic, refusals, shared
 * budgets, agent flags and their generation, history, events and cursors, dead-process
 * reclaim, several processes at once, SIGKILL at random moments, the map-full policy,
 * corrupt records and fork. Every test gets a fresh mkdtemp directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/event.h"
#include "core/ledger.h"
#include "core/period.h"

#define USD AK_MICROS_PER_USD
#define NFTW_FDS 8
#define T0_TEXT "2026-11-22T08:00:00Z"
#define N_PROCS 4
#define N_COMMITS_PER_PROC 200
#define KILL_ROUNDS 32
#define KILL_WRITERS 2
#define KILL_MAX_DELAY_US 3000
#define GUARD_ALARM_S 60
#define EXIT_FAIL 3

struct fx {
    char dir[64];
    struct ak_ledger *l;
    int64_t t0;
};

/* ---- fixture ---- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/ak_ledger_XXXXXX");
    if (!mkdtemp(f->dir) || !ak_time_parse(T0_TEXT, &f->t0) ||
        ak_ledger_open(f->dir, &f->l) != AK_OK) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    ak_ledger_close(f->l);
    nftw(f->dir, rm_one, NFTW_FDS, FTW_DEPTH | FTW_PHYS);
    unsetenv("AGENTKAVACH_LEDGER_MAX_MAP");
    unsetenv("AGENTKAVACH_LEDGER_EVENTS_KEEP");
    free(f);
    return 0;
}

static int64_t at(const char *text)
{
    int64_t ms = 0;
    assert_true(ak_time_parse(text, &ms));
    return ms;
}

static struct ak_budget_ref bref(enum ak_scope scope, const char *name, enum ak_period_type type,
                                 int64_t limit, int64_t max_calls)
{
    return (struct ak_budget_ref){ .scope = scope, .name = name, .type = type,
                                   .limit_micros = limit, .max_calls = max_calls };
}

static struct ak_budget_state bget(struct ak_ledger *l, const struct ak_budget_ref *b, int64_t now)
{
    struct ak_budget_state st;
    assert_int_equal(ak_ledger_budget_get(l, b, now, &st), AK_OK);
    return st;
}

/* A commit of `cost` on the given budgets with no reservation and no event. */
static void spend(struct ak_ledger *l, const struct ak_budget_ref *b, size_t n, int64_t cost,
                  int64_t now)
{
    struct ak_commit c = { .budgets = b, .n_budgets = n, .cost_micros = cost, .count_call = true,
                           .now_ms = now };
    assert_int_equal(ak_ledger_commit(l, &c, NULL), AK_OK);
}

static char *event_json_for(const char *agent, int64_t cost, int64_t now)
{
    struct ak_event ev;
    memset(&ev, 0, sizeof ev);
    ak_event_new_id(ev.event_id);
    ev.ts_ms = now;
    snprintf(ev.agent, sizeof ev.agent, "%s", agent);
    ev.provider = AK_PROV_OPENAI;
    snprintf(ev.host, sizeof ev.host, "api.openai.com");
    snprintf(ev.operation, sizeof ev.operation, "chat");
    snprintf(ev.model, sizeof ev.model, "gpt-4o-mini");
    ev.cost_micros = cost;
    ev.status = 200;
    ev.pid = (int)getpid();
    snprintf(ev.exe, sizeof ev.exe, "/usr/bin/test");
    return ak_event_to_json(&ev);
}

/* Reserve `amount`, then commit `cost` with an event record: what the shim does per call. */
static enum ak_err metered_call(struct ak_ledger *l, const char *agent, const struct ak_budget_ref *b,
                                size_t n, int64_t amount, int64_t cost, int64_t now)
{
    struct ak_reserve r = { .agent = agent, .budgets = b, .n_budgets = n, .amount_micros = amount,
                            .pid = (int)getpid(), .now_ms = now };
    struct ak_reserve_result res;
    enum ak_err err = ak_ledger_reserve(l, &r, &res);
    if (err != AK_OK)
        return err;
    char *json = event_json_for(agent, cost, now);
    if (!json)
        return AK_ERR_NOMEM;
    struct ak_commit c = { .res_id = res.res_id, .agent = agent, .budgets = b, .n_budgets = n,
                           .cost_micros = cost, .count_call = true, .event_json = json,
                           .event_len = strlen(json), .now_ms = now };
    err = ak_ledger_commit(l, &c, NULL);
    free(json);
    return err;
}

/* ---- periods ---- */

static void test_periods_turn(void **state)
{
    struct fx *f = *state;
    struct ak_budget_ref d = bref(AK_SCOPE_AGENT, "bot", AK_PERIOD_DAILY, -1, 0);
    struct ak_budget_ref m = bref(AK_SCOPE_AGENT, "bot", AK_PERIOD_MONTHLY, -1, 0);
    struct ak_budget_ref t = bref(AK_SCOPE_AGENT, "bot", AK_PERIOD_TOTAL, -1, 0);
    struct ak_budget_ref all[] = { d, m, t };
    spend(f->l, all, 3, 100, f->t0);

    struct ak_budget_state st = bget(f->l, &d, f->t0);
    assert_string_equal(st.period, "2026-11-22");
    assert_int_equal(st.spent_micros, 100);
    assert_int_equal(st.calls, 1);
    assert_int_equal(st.resets_at_ms, at("2026-11-23T00:00:00Z"));
    assert_int_equal(bget(f->l, &d, at("2026-11-22T23:59:59.999Z")).spent_micros, 100);
    st = bget(f->l, &d, at("2026-11-23T00:00:00Z"));
    assert_string_equal(st.period, "2026-11-23");
    assert_int_equal(st.spent_micros, 0);
    assert_int_equal(st.calls, 0);

    assert_int_equal(bget(f->l, &m, at("2026-11-30T23:59:59.999Z")).spent_micros, 100);
    st = bget(f->l, &m, at("2026-12-01T00:00:00Z"));
    assert_string_equal(st.period, "2026-12");
    assert_int_equal(st.spent_micros, 0);
    assert_int_equal(bget(f->l, &m, f->t0).resets_at_ms, at("2026-12-01T00:00:00Z"));

    st = bget(f->l, &t, at("2036-01-01T00:00:00Z"));
    assert_string_equal(st.period, "total");
    assert_int_equal(st.spent_micros, 100);
    assert_int_equal(st.resets_at_ms, 0);

    /* the next day's spend goes to a new record; the past one stays */
    spend(f->l, &d, 1, 40, at("2026-11-23T10:00:00Z"));
    assert_int_equal(bget(f->l, &d, at("2026-11-23T10:00:00Z")).spent_micros, 40);
    assert_int_equal(bget(f->l, &d, f->t0).spent_micros, 100);
}

struct seen_budgets { int n; int64_t day22, day23, month, total; };

static void collect_budget(enum ak_scope scope, const char *name, enum ak_period_type type,
                           const struct ak_budget_state *st, void *ud)
{
    struct seen_budgets *s = ud;
    assert_int_equal(scope, AK_SCOPE_AGENT);
    assert_string_equal(name, "bot");
    s->n++;
    if (type == AK_PERIOD_DAILY && strcmp(st->period, "2026-11-22") == 0)
        s->day22 = st->spent_micros;
    else if (type == AK_PERIOD_DAILY && strcmp(st->period, "2026-11-23") == 0)
        s->day23 = st->spent_micros;
    else if (type == AK_PERIOD_MONTHLY && strcmp(st->period, "2026-11") == 0)
        s->month = st->spent_micros;
    else if (type == AK_PERIOD_TOTAL)
        s->total = st->spent_micros;
}

static void test_budgets_each_keeps_past_periods(void **state)
{
    struct fx *f = *state;
    struct ak_budget_ref d = bref(AK_SCOPE_AGENT, "bot", AK_PERIOD_DAILY, -1, 0);
    struct ak_budget_ref m = bref(AK_SCOPE_AGENT, "bot", AK_PERIOD_MONTHLY, -1, 0);
    struct ak_budget_ref t = bref(AK_SCOPE_AGENT, "bot", AK_PERIOD_TOTAL, -1, 0);
    struct ak_budget_ref all[] = { d, m, t };
    spend(f->l, all, 3, 5 * USD, f->t0);
    spend(f->l, all, 3, 2 * USD, at("2026-11-23T01:00:00Z"));
    struct seen_budgets s = { 0 };
    assert_int_equal(ak_ledger_budgets_each(f->l, collect_budget, &s), AK_OK);
    assert_int_equal(s.n, 4);
    assert_int_equal(s.day22, 5 * USD);
    assert_int_equal(s.day23, 2 * USD);
    assert_int_equal(s.month, 7 * USD);
    assert_int_equal(s.total, 7 * USD);
}

/* ---- reserve / commit / release ---- */

static void test_reserve_commit_release(void **state)
{
    struct fx *f = *state;
    struct ak_budget_ref b = bref(AK_SCOPE_AGENT, "bot", AK_PERIOD_DAILY, 1000, 0);
    struct ak_reserve r = { .agent = "bot", .budgets = &b, .n_budgets = 1, .amount_micros = 300,
                            .pid = (int)getpid(), .now_ms = f->t0 };
    struct ak_reserve_result res;
    assert_int_equal(ak_ledger_reserve(f->l, &r, &res), AK_OK);
    assert_true(res.res_id != 0);
    assert_int_equal(res.failed, -1);
    struct ak_budget_state st = bget(f->l, &b, f->t0);
    assert_int_equal(st.reserved_micros, 300);
    assert_int_equal(st.reserved_calls, 1);
    assert_int_equal(st.spent_micros, 0);
    size_t live = 0;
    assert_int_equal(ak_ledger_reservations(f->l, &live), AK_OK);
    assert_int_equal(live, 1);

    uint64_t seq = 99;
    struct ak_commit c = { .res_id = res.res_id, .agent = "bot", .budgets = &b, .n_budgets = 1,
                           .cost_micros = 120, .count_call = true, .now_ms = f->t0 };
    assert_int_equal(ak_ledger_commit(f->l, &c, &seq), AK_OK);
    assert_int_equal(seq, 0); /* no event given */
    st = bget(f->l, &b, f->t0);
    assert_int_equal(st.spent_micros, 120);
    assert_int_equal(st.reserved_micros, 0);
    assert_int_equal(st.calls, 1);
    assert_int_equal(st.reserved_calls, 0);
    assert_int_equal(ak_ledger_reservations(f->l, &live), AK_OK);
    assert_int_equal(live, 0);

    r.amount_micros = 500;
    assert_int_equal(ak_ledger_reserve(f->l, &r, &res), AK_OK);
    assert_int_equal(bget(f->l, &b, f->t0).reserved_micros, 500);
    assert_int_equal(ak_ledger_release(f->l, res.res_id), AK_OK);
    st = bget(f->l, &b, f->t0);
    assert_int_equal(st.reserved_micros, 0);
    assert_int_equal(st.reserved_calls, 0);
    assert_int_equal(st.spent_micros, 120);
    assert_int_equal(st.calls, 1);
    assert_int_equal(ak_ledger_release(f->l, res.res_id), AK_ERR_NOTFOUND);

    /* a commit whose reservation is already gone still counts the spend */
    c.res_id = res.res_id;
    assert_int_equal(ak_ledger_commit(f->l, &c, NULL), AK_OK);
    st = bget(f->l, &b, f->t0);
    assert_int_equal(st.spent_micros, 240);
    assert_int_equal(st.reserved_micros, 0);
}

static void test_reserve_across_midnight(void **state)
{
    struct fx *f = *state;
    struct ak_budget_ref b = bref(AK_SCOPE_AGENT, "bot", AK_PERIOD_DAILY, 1000, 0);
    int64_t before = at("2026-11-22T23:59:59.900Z"), after = at("2026-11-23T00:00:00.100Z");
    struct ak_reserve r = { .agent = "bot", .budgets = &b, .n_budgets = 1, .amount_micros = 700,
                            .pid = (int)getpid(), .now_ms = before };
    struct ak_reserve_result res;
    assert_int_equal(ak_ledger_reserve(f->l, &r, &res), AK_OK);
    struct ak_commit c = { .res_id = res.res_id, .budgets = &b, .n_budgets = 1,
                           .cost_micros = 650, .count_call = true, .now_ms = after };
    assert_int_equal(ak_ledger_commit(f->l, &c, NULL), AK_OK);
    struct ak_budget_state old = bget(f->l, &b, before), now = bget(f->l, &b, after);
    assert_int_equal(old.reserved_micros, 0);
    assert_int_equal(old.spent_micros, 0);
    assert_int_equal(now.spent_micros, 650);
    assert_int_equal(now.reserved_micros, 0);
}

static void test_refusal_says_which_and_changes_nothing(void **state)
{
    struct fx *f = *state;
    struct ak_budget_ref b[] = {
        bref(AK_SCOPE_AGENT, "bot", AK_PERIOD_DAILY, 10 * USD, 0),
        bref(AK_SCOPE_SHARED, "team", AK_PERIOD_MONTHLY, 500, 0),
    };
    spend(f->l, &b[1], 1, 400, f->t0);
    struct ak_reserve r = { .agent = "bot", .budgets = b, .n_budgets = 2, .amount_micros = 101,
                            .pid = (int)getpid(), .now_ms = f->t0 };
    struct ak_reserve_result res;
    assert_int_equal(ak_ledger_reserve(f->l, &r, &res), AK_ERR_LIMIT);
    assert_int_equal(res.res_id, 0);
    assert_int_equal(res.failed, 1);
    assert_false(res.failed_on_calls);
    assert_int_equal(res.state.spent_micros, 400);
    assert_string_equal(res.state.period, "2026-11");

    struct ak_budget_state own = bget(f->l, &b[0], f->t0), team = bget(f->l, &b[1], f->t0);
    assert_int_equal(own.reserved_micros, 0);
    assert_int_equal(own.reserved_calls, 0);
    assert_int_equal(team.reserved_micros, 0);
    assert_int_equal(team.spent_micros, 400);
    size_t live = 9;
    assert_int_equal(ak_ledger_reservations(f->l, &live), AK_OK);
    assert_int_equal(live, 0);

    /* exactly at the limit fits */
    r.amount_micros = 100;
    assert_int_equal(ak_ledger_reserve(f->l, &r, &res), AK_OK);
    assert_int_equal(bget(f->l, &b[1], f->t0).reserved_micros, 100);
    assert_int_equal(bget(f->l, &b[0], f->t0).reserved_micros, 100);
    /* and now nothing more does, not even 1 micro-USD */
    r.amount_micros = 1;
    assert_int_equal(ak_ledger_reserve(f->l, &r, &res), AK_ERR_LIMIT);
    assert_int_equal(res.failed, 1);
}

static void test_unlimited_budget_counts_only(void **state)
{
    struct fx *f = *state;
    struct ak_budget_ref b = bref(AK_SCOPE_AGENT, "free", AK_PERIOD_TOTAL, -1, 0);
    assert_int_equal(metered_call(f->l, "free", &b, 1, 1000 * USD, 999 * USD, f->t0), AK_OK);
    assert_int_equal(metered_call(f->l, "free", &b, 1, 1000 * USD, 999 * USD, f->t0), AK_OK);
    assert_int_equal(bget(f->l, &b, f->t0).spent_micros, 1998 * USD);
}

static void test_max_calls(void **state)
{
    struct fx *f = *state;
    struct ak_budget_ref b = bref(AK_SCOPE_AGENT, "bot", AK_PERIOD_DAILY, -1, 2);
    assert_int_equal(metered_call(f->l, "bot", &b, 1, 10, 10, f->t0), AK_OK);
    assert_int_equal(metered_call(f->l, "bot", &b, 1, 10, 10, f->t0), AK_OK);
    struct ak_reserve r = { .agent = "bot", .budgets = &b, .n_budgets = 1, .amount_micros = 10,
                            .pid = (int)getpid(), .now_ms = f->t0 };
    struct ak_reserve_result res;
    assert_int_equal(ak_ledger_reserve(f->l, &r, &res), AK_ERR_LIMIT);
    assert_int_equal(res.failed, 0);
    assert_true(res.failed_on_calls);
    assert_int_equal(res.state.calls, 2);
    /* the next day the calls count again from zero */
    r.now_ms = at("2026-11-23T00:00:01Z");
    assert_int_equal(ak_ledger_reserve(f->l, &r, &res), AK_OK);

    /* calls in flight count too */
    struct ak_budget_ref one = bref(AK_SCOPE_AGENT, "solo", AK_PERIOD_DAILY, -1, 1);
    r.budgets = &one;
    r.now_ms = f->t0;
    assert_int_equal(ak_ledger_reserve(f->l, &r, &res), AK_OK);
    uint64_t first = res.res_id;
    assert_int_equal(ak_ledger_reserve(f->l, &r, &res), AK_ERR_LIMIT);
    assert_true(res.failed_on_calls);
    assert_int_equal(ak_ledger_release(f->l, first), AK_OK);
    assert_int_equal(ak_ledger_reserve(f->l, &r, &res), AK_OK);
}

static void test_shared_budget_two_agents(void **state)
{
    struct fx *f = *state;
    struct ak_budget_ref a[] = { bref(AK_SCOPE_AGENT, "alpha", AK_PERIOD_DAILY, 5 * USD, 0),
                                 bref(AK_SCOPE_SHARED, "team", AK_PERIOD_MONTHLY, 3 * USD, 0) };
    struct ak_budget_ref b[] = { bref(AK_SCOPE_AGENT, "beta", AK_PERIOD_DAILY, 5 * USD, 0),
                                 bref(AK_SCOPE_SHARED, "team", AK_PERIOD_MONTHLY, 3 * USD, 0) };
    assert_int_equal(metered_call(f->l, "alpha", a, 2, USD, USD, f->t0), AK_OK);
    assert_int_equal(metered_call(f->l, "beta", b, 2, USD, USD, f->t0), AK_OK);
    assert_int_equal(metered_call(f->l, "beta", b, 2, USD, USD / 2, f->t0), AK_OK);
    assert_int_equal(bget(f->l, &a[1], f->t0).spent_micros, 5 * USD / 2);
    assert_int_equal(bget(f->l, &a[1], f->t0).calls, 3);
    assert_int_equal(bget(f->l, &a[0], f->t0).spent_micros, USD);
    assert_int_equal(bget(f->l, &b[0], f->t0).spent_micros, 3 * USD / 2);
    /* alpha has room in its own budget, but the team budget is what refuses */
    struct ak_reserve r = { .agent = "alpha", .budgets = a, .n_budgets = 2, .amount_micros = USD,
                            .pid = (int)getpid(), .now_ms = f->t0 };
    struct ak_reserve_result res;
    assert_int_equal(ak_ledger_reserve(f->l, &r, &res), AK_ERR_LIMIT);
    assert_int_equal(res.failed, 1);
}

/* ---- agents ---- */

struct seen_agents { int n; bool saw[4]; };

static void collect_agent(const char *agent, const struct ak_agent_flags *fl, void *ud)
{
    struct seen_agents *s = ud;
    s->n++;
    (void)fl;
    if (strcmp(agent, "a") == 0)
        s->saw[0] = true;
    else if (strcmp(agent, "b") == 0)
        s->saw[1] = true;
    else if (strcmp(agent, AK_AGENT_ALL) == 0)
        s->saw[2] = true;
}

static void test_suspend_resume_generation(void **state)
{
    struct fx *f = *state;
    struct ak_agent_flags fl;
    assert_int_equal(ak_ledger_agent_get(f->l, "a", &fl), AK_OK);
    assert_false(fl.suspended);

    assert_int_equal(ak_ledger_suspend(f->l, "a", "operator said so", true, true, NULL, f->t0), AK_OK);
    assert_int_equal(ak_ledger_agent_get(f->l, "a", &fl), AK_OK);
    assert_true(fl.suspended);
    assert_true(fl.manual);
    assert_true(fl.cut_streams);
    assert_string_equal(fl.reason, "operator said so");
    assert_int_equal(fl.since_ms, f->t0);
    assert_int_equal(ak_ledger_agent_get(f->l, "b", &fl), AK_OK);
    assert_false(fl.suspended);

    assert_int_equal(ak_ledger_suspend(f->l, "b", "daily budget spent", false, false, "2026-11-22",
                                       f->t0), AK_OK);
    assert_int_equal(ak_ledger_agent_get(f->l, "b", &fl), AK_OK);
    assert_false(fl.manual);
    assert_string_equal(fl.period, "2026-11-22");

    assert_int_equal(ak_ledger_suspend(f->l, AK_AGENT_ALL, "emergency stop", true, false, NULL, f->t0), AK_OK);
    assert_int_equal(ak_ledger_agent_get(f->l, "never-seen", &fl), AK_OK);
    assert_true(fl.suspended);
    assert_string_equal(fl.reason, "emergency stop");
    struct seen_agents s = { 0 };
    assert_int_equal(ak_ledger_agents_each(f->l, collect_agent, &s), AK_OK);
    assert_int_equal(s.n, 3);
    assert_true(s.saw[0] && s.saw[1] && s.saw[2]);

    assert_int_equal(ak_ledger_resume(f->l, AK_AGENT_ALL), AK_OK);
    const char *names[] = { "a", "b", "never-seen", AK_AGENT_ALL };
    for (size_t i = 0; i < AK_ARRAY_LEN(names); i++) {
        assert_int_equal(ak_ledger_agent_get(f->l, names[i], &fl), AK_OK);
        assert_false(fl.suspended);
    }
    memset(&s, 0, sizeof s);
    assert_int_equal(ak_ledger_agents_each(f->l, collect_agent, &s), AK_OK);
    assert_int_equal(s.n, 0);

    assert_int_equal(ak_ledger_suspend(f->l, "a", "again", true, false, NULL, f->t0), AK_OK);
    assert_int_equal(ak_ledger_resume(f->l, "a"), AK_OK);
    assert_int_equal(ak_ledger_agent_get(f->l, "a", &fl), AK_OK);
    assert_false(fl.suspended);
}

static void test_set_budget_override(void **state)
{
    struct fx *f = *state;
    struct ak_agent_flags fl;
    struct ak_budget b = { .set = true, .type = AK_PERIOD_MONTHLY, .limit_micros = 25 * USD };
    assert_int_equal(ak_ledger_set_budget(f->l, "a", &b), AK_OK);
    assert_int_equal(ak_ledger_agent_get(f->l, "a", &fl), AK_OK);
    assert_false(fl.suspended);
    assert_true(fl.has_budget_override);
    assert_true(fl.budget_override.set);
    assert_int_equal(fl.budget_override.type, AK_PERIOD_MONTHLY);
    assert_int_equal(fl.budget_override.limit_micros, 25 * USD);
    struct seen_agents s = { 0 };
    assert_int_equal(ak_ledger_agents_each(f->l, collect_agent, &s), AK_OK);
    assert_int_equal(s.n, 1);

    /* suspend and resume keep the override */
    assert_int_equal(ak_ledger_suspend(f->l, "a", "x", true, false, NULL, f->t0), AK_OK);
    assert_int_equal(ak_ledger_resume(f->l, "a"), AK_OK);
    assert_int_equal(ak_ledger_agent_get(f->l, "a", &fl), AK_OK);
    assert_true(fl.has_budget_override);

    assert_int_equal(ak_ledger_set_budget(f->l, "a", NULL), AK_OK);
    assert_int_equal(ak_ledger_agent_get(f->l, "a", &fl), AK_OK);
    assert_false(fl.has_budget_override);
    memset(&s, 0, sizeof s);
    assert_int_equal(ak_ledger_agents_each(f->l, collect_agent, &s), AK_OK);
    assert_int_equal(s.n, 0);
}

static void test_reset(void **state)
{
    struct fx *f = *state;
    struct ak_budget_ref b[] = { bref(AK_SCOPE_AGENT, "a", AK_PERIOD_DAILY, 10 * USD, 0),
                                 bref(AK_SCOPE_AGENT, "a", AK_PERIOD_TOTAL, 100 * USD, 0),
                                 bref(AK_SCOPE_SHARED, "team", AK_PERIOD_MONTHLY, -1, 0),
                                 bref(AK_SCOPE_AGENT, "other", AK_PERIOD_DAILY, -1, 0) };
    spend(f->l, b, 4, 3 * USD, f->t0);
    spend(f->l, &b[0], 1, 2 * USD, at("2026-11-21T12:00:00Z"));
    assert_int_equal(ak_ledger_suspend(f->l, "a", "daily budget spent", false, false, "2026-11-22",
                                       f->t0), AK_OK);
    assert_int_equal(ak_ledger_reset(f->l, "a", f->t0), AK_OK);
    assert_int_equal(bget(f->l, &b[0], f->t0).spent_micros, 0);
    assert_int_equal(bget(f->l, &b[0], f->t0).calls, 0);
    assert_int_equal(bget(f->l, &b[1], f->t0).spent_micros, 0);
    assert_int_equal(bget(f->l, &b[2], f->t0).spent_micros, 3 * USD);
    assert_int_equal(bget(f->l, &b[3], f->t0).spent_micros, 3 * USD);
    assert_int_equal(bget(f->l, &b[0], at("2026-11-21T12:00:00Z")).spent_micros, 2 * USD);
    struct ak_agent_flags fl;
    assert_int_equal(ak_ledger_agent_get(f->l, "a", &fl), AK_OK);
    assert_false(fl.suspended);

    /* a manual suspension survives a reset */
    assert_int_equal(ak_ledger_suspend(f->l, "a", "hold", true, false, NULL, f->t0), AK_OK);
    assert_int_equal(ak_ledger_reset(f->l, "a", f->t0), AK_OK);
    assert_int_equal(ak_ledger_agent_get(f->l, "a", &fl), AK_OK);
    assert_true(fl.suspended);
}

static void test_history_ring(void **state)
{
    struct fx *f = *state;
    const int total = AK_HISTORY_MAX + 5;
    for (int i = 1; i <= total; i++) {
        struct ak_commit c = { .agent = "h", .cost_micros = i, .body_hash = (uint64_t)i * 7,
                               .is_error = i % 3 == 0, .now_ms = f->t0 + i };
        assert_int_equal(ak_ledger_commit(f->l, &c, NULL), AK_OK);
    }
    struct ak_history_entry out[AK_HISTORY_MAX + 10];
    size_t n = 0;
    assert_int_equal(ak_ledger_history(f->l, "h", out, AK_ARRAY_LEN(out), &n), AK_OK);
    assert_int_equal(n, AK_HISTORY_MAX);
    assert_int_equal(out[0].cost_micros, total - AK_HISTORY_MAX + 1);
    assert_int_equal(out[n - 1].cost_micros, total);
    assert_int_equal(out[n - 1].ts_ms, f->t0 + total);
    assert_int_equal(out[n - 1].body_hash, (uint64_t)total * 7);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(out[i].is_error, out[i].cost_micros % 3 == 0);
    assert_int_equal(ak_ledger_history(f->l, "h", out, 3, &n), AK_OK);
    assert_int_equal(n, 3);
    assert_int_equal(out[0].cost_micros, total - 2);
    assert_int_equal(out[2].cost_micros, total);
    assert_int_equal(ak_ledger_history(f->l, "nobody", out, 3, &n), AK_OK);
    assert_int_equal(n, 0);
}

/* ---- events ---- */

struct scan_acc { int n; uint64_t first, last; int stop_after; bool ordered; int64_t cost; };

static int scan_cb(uint64_t seq, const char *json, size_t len, void *ud)
{
    struct scan_acc *a = ud;
    struct ak_event ev;
    if (a->n == 0)
        a->first = seq;
    else if (seq != a->last + 1)
        a->ordered = false;
    a->last = seq;
    a->n++;
    if (ak_event_from_json(json, len, &ev) == AK_OK)
        a->cost += ev.cost_micros;
    else
        a->cost = INT64_MIN / 2;
    ak_event_clear(&ev);
    return a->stop_after && a->n >= a->stop_after;
}

static struct scan_acc scan_all(struct ak_ledger *l, uint64_t after, size_t max, int stop_after)
{
    struct scan_acc a = { .ordered = true, .stop_after = stop_after };
    assert_int_equal(ak_ledger_events_scan(l, after, max, scan_cb, &a), AK_OK);
    return a;
}

static void test_events_scan_cursors_prune(void **state)
{
    struct fx *f = *state;
    ak_ledger_close(f->l);
    setenv("AGENTKAVACH_LEDGER_EVENTS_KEEP", "10", 1);
    assert_int_equal(ak_ledger_open(f->dir, &f->l), AK_OK);
    struct ak_budget_ref b = bref(AK_SCOPE_AGENT, "ev", AK_PERIOD_TOTAL, -1, 0);
    const int n = 300; /* more than one scan chunk */
    for (int i = 1; i <= n; i++) {
        char *json = event_json_for("ev", i, f->t0);
        assert_non_null(json);
        uint64_t seq = 0;
        struct ak_commit c = { .budgets = &b, .n_budgets = 1, .cost_micros = i, .count_call = true,
                               .event_json = json, .event_len = strlen(json), .now_ms = f->t0 };
        assert_int_equal(ak_ledger_commit(f->l, &c, &seq), AK_OK);
        assert_int_equal(seq, (uint64_t)i);
        free(json);
    }
    uint64_t last = 0, pending = 0, cur = 7;
    assert_int_equal(ak_ledger_events_last_seq(f->l, &last), AK_OK);
    assert_int_equal(last, n);
    struct scan_acc a = scan_all(f->l, 0, 0, 0);
    assert_int_equal(a.n, n);
    assert_int_equal(a.first, 1);
    assert_int_equal(a.last, n);
    assert_true(a.ordered);
    assert_int_equal(a.cost, (int64_t)n * (n + 1) / 2);
    assert_int_equal(scan_all(f->l, n - 5, 0, 0).n, 5);
    assert_int_equal(scan_all(f->l, 0, 7, 0).n, 7);
    assert_int_equal(scan_all(f->l, 0, 0, 3).n, 3);

    /* no consumer yet: everything is pending and nothing is pruned */
    assert_int_equal(ak_ledger_outbox_pending(f->l, &pending), AK_OK);
    assert_int_equal(pending, n);
    assert_int_equal(ak_ledger_cursor_get(f->l, "jsonl", &cur), AK_OK);
    assert_int_equal(cur, 0);

    assert_int_equal(ak_ledger_cursor_set(f->l, "otlp", 5), AK_OK);
    assert_int_equal(ak_ledger_cursor_set(f->l, "jsonl", 200), AK_OK);
    assert_int_equal(ak_ledger_cursor_get(f->l, "jsonl", &cur), AK_OK);
    assert_int_equal(cur, 200);
    assert_int_equal(ak_ledger_outbox_pending(f->l, &pending), AK_OK);
    assert_int_equal(pending, n - 5);
    a = scan_all(f->l, 0, 0, 0);
    assert_int_equal(a.first, 6); /* only what both consumers saw went */
    assert_int_equal(a.n, n - 5);

    assert_int_equal(ak_ledger_cursor_set(f->l, "otlp", n), AK_OK);
    assert_int_equal(ak_ledger_outbox_pending(f->l, &pending), AK_OK);
    assert_int_equal(pending, n - 200);
    a = scan_all(f->l, 0, 0, 0);
    assert_int_equal(a.first, 201); /* above the keep of 10, but jsonl has not seen the rest */
    assert_int_equal(a.last, n);

    assert_int_equal(ak_ledger_cursor_set(f->l, "jsonl", n), AK_OK);
    assert_int_equal(ak_ledger_outbox_pending(f->l, &pending), AK_OK);
    assert_int_equal(pending, 0);
    a = scan_all(f->l, 0, 0, 0);
    assert_int_equal(a.n, 10);
    assert_int_equal(a.last, n);
    assert_int_equal(ak_ledger_events_last_seq(f->l, &last), AK_OK);
    assert_int_equal(last, n);
    /* spend is not touched by pruning */
    assert_int_equal(bget(f->l, &b, f->t0).spent_micros, (int64_t)n * (n + 1) / 2);
}

static void test_meta(void **state)
{
    struct fx *f = *state;
    char val[32];
    assert_int_equal(ak_ledger_meta_get(f->l, "alert.a.0.7", val, sizeof val), AK_ERR_NOTFOUND);
    assert_int_equal(ak_ledger_meta_put(f->l, "alert.a.0.7", "2026-11-22"), AK_OK);
    assert_int_equal(ak_ledger_meta_get(f->l, "alert.a.0.7", val, sizeof val), AK_OK);
    assert_string_equal(val, "2026-11-22");
    assert_int_equal(ak_ledger_meta_get(f->l, "alert.a.0.7", val, 4), AK_ERR_FULL);
    assert_int_equal(ak_ledger_meta_put(f->l, "ledger.event_seq", "0"), AK_ERR_INVAL);
}

/* ---- processes ---- */

/* In a forked child: drop the parent's handle, open our own. */
static struct ak_ledger *child_open(struct fx *f)
{
    struct ak_ledger *l = NULL;
    ak_ledger_forget(f->l);
    f->l = NULL;
    if (ak_ledger_open(f->dir, &l) != AK_OK)
        _exit(EXIT_FAIL);
    return l;
}

static void wait_ok(pid_t pid)
{
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_reclaim_dead(void **state)
{
    struct fx *f = *state;
    struct ak_budget_ref b = bref(AK_SCOPE_AGENT, "bot", AK_PERIOD_DAILY, 1000, 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct ak_ledger *l = child_open(f);
        struct ak_reserve r = { .agent = "bot", .budgets = &b, .n_budgets = 1, .amount_micros = 700,
                                .pid = (int)getpid(), .now_ms = f->t0 };
        struct ak_reserve_result res;
        _exit(ak_ledger_reserve(l, &r, &res) == AK_OK ? 0 : EXIT_FAIL); /* dies holding it */
    }
    wait_ok(pid);
    struct ak_reserve r = { .agent = "bot", .budgets = &b, .n_budgets = 1, .amount_micros = 200,
                            .pid = (int)getpid(), .now_ms = f->t0 };
    struct ak_reserve_result res;
    assert_int_equal(ak_ledger_reserve(f->l, &r, &res), AK_OK);
    assert_int_equal(ak_ledger_reserve(f->l, &r, &res), AK_ERR_LIMIT); /* 700 + 200 + 200 */
    size_t live = 0, reclaimed = 0;
    assert_int_equal(ak_ledger_reservations(f->l, &live), AK_OK);
    assert_int_equal(live, 2);
    assert_int_equal(ak_ledger_reclaim_dead(f->l, &reclaimed), AK_OK);
    assert_int_equal(reclaimed, 1);
    assert_int_equal(ak_ledger_reservations(f->l, &live), AK_OK);
    assert_int_equal(live, 1); /* ours is alive */
    struct ak_budget_state st = bget(f->l, &b, f->t0);
    assert_int_equal(st.reserved_micros, 200);
    assert_int_equal(st.reserved_calls, 1);
    assert_int_equal(ak_ledger_reserve(f->l, &r, &res), AK_OK);
}

static void test_many_processes(void **state)
{
    struct fx *f = *state;
    struct ak_budget_ref b[] = { bref(AK_SCOPE_SHARED, "pool", AK_PERIOD_MONTHLY, 1000 * USD, 0),
                                 bref(AK_SCOPE_AGENT, "w", AK_PERIOD_DAILY, -1, 0) };
    pid_t pids[N_PROCS];
    for (int p = 0; p < N_PROCS; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            struct ak_ledger *l = child_open(f);
            for (int i = 0; i < N_COMMITS_PER_PROC; i++)
                if (metered_call(l, "w", b, 2, 20, 7 + p, f->t0) != AK_OK)
                    _exit(EXIT_FAIL);
            ak_ledger_close(l);
            _exit(0);
        }
    }
    for (int p = 0; p < N_PROCS; p++)
        wait_ok(pids[p]);
    int64_t want = 0;
    for (int p = 0; p < N_PROCS; p++)
        want += (int64_t)N_COMMITS_PER_PROC * (7 + p);
    for (size_t i = 0; i < AK_ARRAY_LEN(b); i++) {
        struct ak_budget_state st = bget(f->l, &b[i], f->t0);
        assert_int_equal(st.spent_micros, want);
        assert_int_equal(st.calls, N_PROCS * N_COMMITS_PER_PROC);
        assert_int_equal(st.reserved_micros, 0);
        assert_int_equal(st.reserved_calls, 0);
    }
    uint64_t last = 0;
    assert_int_equal(ak_ledger_events_last_seq(f->l, &last), AK_OK);
    assert_int_equal(last, N_PROCS * N_COMMITS_PER_PROC);
    struct scan_acc a = scan_all(f->l, 0, 0, 0);
    assert_int_equal(a.cost, want);
}

/* Commits in a tight loop; says "started" on the pipe after the first commit. */
static void kill_writer(struct fx *f, int wfd, const struct ak_budget_ref *b)
{
    struct ak_ledger *l = child_open(f);
    unsigned seed = (unsigned)getpid();
    for (long i = 0;; i++) {
        int64_t cost = 1 + rand_r(&seed) % 1000;
        if (metered_call(l, "k", b, 1, 2000, cost, f->t0) != AK_OK)
            _exit(EXIT_FAIL);
        if (i == 0 && write(wfd, "x", 1) != 1)
            _exit(EXIT_FAIL);
    }
}

static void test_kill9_safety(void **state)
{
    struct fx *f = *state;
    struct ak_budget_ref b = bref(AK_SCOPE_AGENT, "k", AK_PERIOD_TOTAL, -1, 0);
    unsigned seed = 0;
    assert_int_equal(getrandom(&seed, sizeof seed, 0), (ssize_t)sizeof seed);
    alarm(GUARD_ALARM_S); /* a wedged lock fails the test instead of hanging it */
    for (int round = 0; round < KILL_ROUNDS; round++) {
        int fds[2];
        pid_t pids[KILL_WRITERS];
        assert_int_equal(pipe(fds), 0);
        for (int w = 0; w < KILL_WRITERS; w++) {
            pids[w] = fork();
            assert_true(pids[w] >= 0);
            if (pids[w] == 0) {
                close(fds[0]);
                kill_writer(f, fds[1], &b);
            }
        }
        close(fds[1]);
        char c;
        assert_int_equal(read(fds[0], &c, 1), 1); /* at least one commit happened */
        usleep((useconds_t)(rand_r(&seed) % KILL_MAX_DELAY_US));
        for (int w = 0; w < KILL_WRITERS; w++)
            kill(pids[w], SIGKILL);
        for (int w = 0; w < KILL_WRITERS; w++) {
            int status = 0;
            assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
            /* killed, or (rarely) failed: a failure is a finding */
            assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        }
        close(fds[0]);
    }
    alarm(0);
    size_t reclaimed = 0;
    assert_int_equal(ak_ledger_reclaim_dead(f->l, &reclaimed), AK_OK);
    struct ak_budget_state st = bget(f->l, &b, f->t0);
    struct scan_acc a = scan_all(f->l, 0, 0, 0);
    print_message("kill -9: %d commits kept, %zu reservations of killed writers reclaimed\n", a.n,
                  reclaimed);
    assert_true(a.n >= KILL_ROUNDS);
    assert_true(a.ordered);
    assert_int_equal(st.spent_micros, a.cost);
    assert_int_equal(st.calls, a.n);
    assert_int_equal(st.reserved_micros, 0);
    assert_int_equal(st.reserved_calls, 0);
    size_t live = 1;
    assert_int_equal(ak_ledger_reservations(f->l, &live), AK_OK);
    assert_int_equal(live, 0);
}

static void test_map_full_policy(void **state)
{
    struct fx *f = *state;
    ak_ledger_close(f->l);
    nftw(f->dir, rm_one, NFTW_FDS, FTW_DEPTH | FTW_PHYS);
    setenv("AGENTKAVACH_LEDGER_MAX_MAP", "1048576", 1);
    assert_int_equal(ak_ledger_open(f->dir, &f->l), AK_OK);
    struct ak_ledger_stats s0, s1, s2;
    ak_ledger_stats(f->l, &s0);
    assert_true(s0.map_size < 1048576);

    struct ak_budget_ref b = bref(AK_SCOPE_AGENT, "big", AK_PERIOD_TOTAL, -1, 0);
    char pad[1500];
    memset(pad, 'p', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    const int first = 2000, second = 150;
    for (int i = 1; i <= first; i++) {
        char json[sizeof pad + 64];
        snprintf(json, sizeof json, "{\"i\":%d,\"pad\":\"%s\"}", i, pad);
        struct ak_commit c = { .agent = "big", .budgets = &b, .n_budgets = 1, .cost_micros = 3,
                               .count_call = true, .event_json = json, .event_len = strlen(json),
                               .now_ms = f->t0 };
        assert_int_equal(ak_ledger_commit(f->l, &c, NULL), AK_OK);
    }
    ak_ledger_stats(f->l, &s1);
    assert_true(s1.map_grows >= 1);
    assert_int_equal(s1.map_size, 1048576);
    assert_true(s1.pruned_undelivered > 0); /* no consumer: only undelivered ones to drop */
    struct ak_budget_state st = bget(f->l, &b, f->t0);
    assert_int_equal(st.spent_micros, 3 * first);
    assert_int_equal(st.calls, first);
    uint64_t last = 0, pending = 0;
    assert_int_equal(ak_ledger_events_last_seq(f->l, &last), AK_OK);
    assert_int_equal(last, first);
    struct scan_acc a = { .ordered = true };
    assert_int_equal(ak_ledger_events_scan(f->l, 0, 0, scan_cb, &a), AK_OK);
    assert_true(a.n > 0 && a.n < first);
    assert_int_equal(a.last, first); /* the newest survive */
    assert_true(a.ordered);

    /* with everything delivered, delivered events go first */
    assert_int_equal(ak_ledger_cursor_set(f->l, "jsonl", last), AK_OK);
    for (int i = 1; i <= second; i++) {
        char json[sizeof pad + 64];
        snprintf(json, sizeof json, "{\"j\":%d,\"pad\":\"%s\"}", i, pad);
        struct ak_commit c = { .budgets = &b, .n_budgets = 1, .cost_micros = 3, .count_call = true,
                               .event_json = json, .event_len = strlen(json), .now_ms = f->t0 };
        assert_int_equal(ak_ledger_commit(f->l, &c, NULL), AK_OK);
    }
    ak_ledger_stats(f->l, &s2);
    assert_int_equal(s2.pruned_undelivered, s1.pruned_undelivered);
    assert_int_equal(ak_ledger_outbox_pending(f->l, &pending), AK_OK);
    assert_int_equal(pending, second);
    assert_int_equal(bget(f->l, &b, f->t0).spent_micros, 3 * (first + second));
}

/* Another process grows the map; this handle adopts the new size (MDB_MAP_RESIZED). */
static void test_map_grown_by_another_process(void **state)
{
    struct fx *f = *state;
    ak_ledger_close(f->l);
    nftw(f->dir, rm_one, NFTW_FDS, FTW_DEPTH | FTW_PHYS);
    setenv("AGENTKAVACH_LEDGER_MAX_MAP", "8388608", 1);
    assert_int_equal(ak_ledger_open(f->dir, &f->l), AK_OK);
    struct ak_budget_ref b = bref(AK_SCOPE_AGENT, "grow", AK_PERIOD_TOTAL, -1, 0);
    spend(f->l, &b, 1, 1, f->t0);
    struct ak_ledger_stats before, after;
    ak_ledger_stats(f->l, &before);
    const int n = 3000; /* ~4.5 MB of events: more than the starting 2 MiB map */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct ak_ledger *l = child_open(f);
        char json[1500];
        memset(json, 'g', sizeof json);
        for (int i = 0; i < n; i++) {
            struct ak_commit c = { .budgets = &b, .n_budgets = 1, .cost_micros = 2, .count_call = true,
                                   .event_json = json, .event_len = sizeof json, .now_ms = f->t0 };
            if (ak_ledger_commit(l, &c, NULL) != AK_OK)
                _exit(EXIT_FAIL);
        }
        struct ak_ledger_stats s;
        ak_ledger_stats(l, &s);
        _exit(s.map_grows > 0 && s.pruned_undelivered == 0 ? 0 : EXIT_FAIL);
    }
    wait_ok(pid);
    assert_int_equal(bget(f->l, &b, f->t0).spent_micros, 1 + 2 * n);
    spend(f->l, &b, 1, 1, f->t0);
    assert_int_equal(bget(f->l, &b, f->t0).spent_micros, 2 + 2 * n);
    struct scan_acc a = scan_all(f->l, 0, 0, 0);
    assert_int_equal(a.n, n);
    ak_ledger_stats(f->l, &after);
    assert_true(after.map_size > before.map_size);
    /* the counters are host-wide: the child's growth is counted once it committed */
    assert_true(after.map_grows > before.map_grows);
}

static void count_budget(enum ak_scope scope, const char *name, enum ak_period_type type,
                         const struct ak_budget_state *st, void *ud)
{
    (void)scope; (void)name; (void)type; (void)st;
    (*(int *)ud)++;
}

static void test_corrupt_records_tolerated(void **state)
{
    struct fx *f = *state;
    struct ak_budget_ref b = bref(AK_SCOPE_AGENT, "c", AK_PERIOD_DAILY, 1000, 0);
    spend(f->l, &b, 1, 100, f->t0);
    ak_ledger_close(f->l);
    f->l = NULL;

    /* write garbage straight into LMDB */
    char path[128];
    snprintf(path, sizeof path, "%s/state.mdb", f->dir);
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi budgets, agents, hist;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_open(env, path, MDB_NOSUBDIR, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "budgets", 0, &budgets), 0);
    assert_int_equal(mdb_dbi_open(txn, "agents", 0, &agents), 0);
    assert_int_equal(mdb_dbi_open(txn, "history", 0, &hist), 0);
    char bkey[] = "ac\0" "2026-11-22";
    MDB_val k = { .mv_size = sizeof bkey - 1, .mv_data = bkey };
    MDB_val junk = { .mv_size = 3, .mv_data = "xyz" };
    assert_int_equal(mdb_put(txn, budgets, &k, &junk, 0), 0);
    MDB_val ak = { .mv_size = 1, .mv_data = "x" };
    assert_int_equal(mdb_put(txn, agents, &ak, &junk, 0), 0);
    MDB_val hk = { .mv_size = 1, .mv_data = "c" };
    assert_int_equal(mdb_put(txn, hist, &hk, &junk, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    assert_int_equal(ak_ledger_open(f->dir, &f->l), AK_OK);
    struct ak_ledger_stats s;
    assert_int_equal(bget(f->l, &b, f->t0).spent_micros, 0); /* treated as absent */
    ak_ledger_stats(f->l, &s);
    assert_true(s.internal_errors >= 1);
    struct ak_agent_flags fl;
    assert_int_equal(ak_ledger_agent_get(f->l, "x", &fl), AK_OK);
    assert_false(fl.suspended);
    struct seen_agents sa = { 0 };
    assert_int_equal(ak_ledger_agents_each(f->l, collect_agent, &sa), AK_OK);
    assert_int_equal(sa.n, 0);
    struct ak_history_entry h[4];
    size_t n = 9;
    assert_int_equal(ak_ledger_history(f->l, "c", h, 4, &n), AK_OK);
    assert_int_equal(n, 0);
    /* and the ledger goes on working over the bad records */
    assert_int_equal(metered_call(f->l, "c", &b, 1, 60, 50, f->t0), AK_OK);
    assert_int_equal(bget(f->l, &b, f->t0).spent_micros, 50);
    assert_int_equal(ak_ledger_history(f->l, "c", h, 4, &n), AK_OK);
    assert_int_equal(n, 1);
    int listed = 0;
    assert_int_equal(ak_ledger_budgets_each(f->l, count_budget, &listed), AK_OK);
    assert_int_equal(listed, 1); /* the rewritten record */
    ak_ledger_stats(f->l, &s);
    assert_true(s.internal_errors >= 3);
}

static void test_fork_forget_reopen(void **state)
{
    struct fx *f = *state;
    struct ak_budget_ref b = bref(AK_SCOPE_AGENT, "forky", AK_PERIOD_DAILY, -1, 0);
    spend(f->l, &b, 1, 10, f->t0);

    /* a child that uses the inherited handle is refused, without touching LMDB */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct ak_budget_state st;
        _exit(ak_ledger_budget_get(f->l, &b, f->t0, &st) == AK_ERR_INTERNAL ? 0 : EXIT_FAIL);
    }
    wait_ok(pid);

    /* forget + reopen works, and the parent sees what the child did */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct ak_ledger *l = child_open(f);
        struct ak_budget_state st;
        bool ok = ak_ledger_budget_get(l, &b, f->t0, &st) == AK_OK && st.spent_micros == 10;
        struct ak_commit c = { .budgets = &b, .n_budgets = 1, .cost_micros = 55, .count_call = true,
                               .now_ms = f->t0 };
        ok = ok && ak_ledger_commit(l, &c, NULL) == AK_OK;
        ok = ok && ak_ledger_suspend(l, "forky", "by child", true, false, NULL, f->t0) == AK_OK;
        ak_ledger_close(l);
        _exit(ok ? 0 : EXIT_FAIL);
    }
    wait_ok(pid);
    assert_int_equal(bget(f->l, &b, f->t0).spent_micros, 65);
    struct ak_agent_flags fl;
    assert_int_equal(ak_ledger_agent_get(f->l, "forky", &fl), AK_OK);
    assert_true(fl.suspended);
    assert_string_equal(fl.reason, "by child");
    /* the parent's handle still works after the children came and went */
    spend(f->l, &b, 1, 5, f->t0);
    assert_int_equal(bget(f->l, &b, f->t0).spent_micros, 70);
}

static void test_bad_arguments(void **state)
{
    struct fx *f = *state;
    struct ak_budget_ref b = bref(AK_SCOPE_AGENT, "", AK_PERIOD_DAILY, -1, 0);
    struct ak_budget_state st;
    assert_int_equal(ak_ledger_budget_get(f->l, &b, f->t0, &st), AK_ERR_INVAL);
    struct ak_reserve r = { .budgets = &b, .n_budgets = 1, .amount_micros = -1 };
    struct ak_reserve_result res;
    assert_int_equal(ak_ledger_reserve(f->l, &r, &res), AK_ERR_INVAL);
    assert_int_equal(ak_ledger_suspend(f->l, NULL, "x", true, false, NULL, 0), AK_ERR_INVAL);
    assert_int_equal(ak_ledger_release(f->l, 0), AK_ERR_INVAL);
    struct ak_ledger *l = NULL;
    assert_int_equal(ak_ledger_open("/proc/agentkavach-cannot-exist", &l), AK_ERR_IO);
    assert_null(l);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
    ak_log_init();
    const struct CMUnitTest tests[] = {
        T(test_periods_turn),
        T(test_budgets_each_keeps_past_periods),
        T(test_reserve_commit_release),
        T(test_reserve_across_midnight),
        T(test_refusal_says_which_and_changes_nothing),
        T(test_unlimited_budget_counts_only),
        T(test_max_calls),
        T(test_shared_budget_two_agents),
        T(test_suspend_resume_generation),
        T(test_set_budget_override),
        T(test_reset),
        T(test_history_ring),
        T(test_events_scan_cursors_prune),
        T(test_meta),
        T(test_reclaim_dead),
        T(test_many_processes),
        T(test_kill9_safety),
        T(test_map_full_policy),
        T(test_map_grown_by_another_process),
        T(test_corrupt_records_tolerated),
        T(test_fork_forget_reopen),
        T(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
