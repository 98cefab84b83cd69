/*
 * test_ledger_wait.c - the bounded wait on the ledger's write lock (core/ledger_writer.c)
 * against hostile neighbours: a process that holds a write txn on state.mdb and does nothing
 * (any program can open the file), and one SIGSTOPped inside its txn. A bounded handle's
 * writes return within the bound, reads go on, the spend is recorded once the ledger is free,
 * and a handle without a bound still waits (what every metered call did before: 4.97 s behind
 * a 5 s holder in the audit's probe).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/ledger_impl.h"
#include "core/period.h"

#define NFTW_FDS 8
#define T0_TEXT "2026-11-22T08:00:00Z"
#define WAIT_MS 50
#define SLACK_MS 1000               /* scheduling on a loaded 2-core machine */
#define UNBOUNDED_HOLD_MS 400       /* how long the holder keeps the lock in the control test */
#define DRAIN_MS 10000
#define COST 1234
#define N_QUEUED 20

struct fx {
    char dir[64];
    struct ak_ledger *l;
    int64_t t0;
    pid_t holder;
    int to_holder;                  /* write a byte: the holder aborts its txn and exits */
};

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
    snprintf(f->dir, sizeof f->dir, "/tmp/ak_lwait_XXXXXX");
    if (!mkdtemp(f->dir) || !ak_time_parse(T0_TEXT, &f->t0) ||
        ak_ledger_open(f->dir, &f->l) != AK_OK) {
        free(f);
        return -1;
    }
    f->holder = -1;
    f->to_holder = -1;
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    if (f->holder > 0) {
        kill(f->holder, SIGKILL);
        waitpid(f->holder, NULL, 0);
    }
    if (f->to_holder >= 0)
        close(f->to_holder);
    ak_ledger_close(f->l);
    nftw(f->dir, rm_one, NFTW_FDS, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* A child that opens state.mdb as any LMDB program would, begins a write txn and holds it:
 * SIGSTOPped when `stop`, else until the parent writes a byte (or hold_ms passes, if > 0). */
static void holder_start(struct fx *f, bool stop, int hold_ms)
{
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char path[128], c = 'r';
        MDB_env *env = NULL;
        MDB_txn *txn = NULL;
        snprintf(path, sizeof path, "%s/state.mdb", f->dir);
        close(ready[0]);
        close(go[1]);
        if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 8) ||
            mdb_env_open(env, path, LEDGER_ENV_FLAGS, 0600) || mdb_txn_begin(env, NULL, 0, &txn))
            _exit(2);
        if (write(ready[1], &c, 1) != 1)
            _exit(2);
        if (stop)
            raise(SIGSTOP);
        else if (hold_ms > 0)
            usleep((useconds_t)hold_ms * 1000);
        else if (read(go[0], &c, 1) < 0)
            _exit(2);
        mdb_txn_abort(txn);
        mdb_env_close(env);
        _exit(0);
    }
    close(ready[1]);
    close(go[0]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    if (stop) {
        int st;
        assert_int_equal(waitpid(pid, &st, WUNTRACED), pid);
        assert_true(WIFSTOPPED(st));
    }
    f->holder = pid;
    f->to_holder = go[1];
}

static void holder_release(struct fx *f, bool stopped)
{
    int st;
    if (stopped)
        kill(f->holder, SIGCONT);
    else
        assert_int_equal(write(f->to_holder, "g", 1), 1);
    assert_int_equal(waitpid(f->holder, &st, 0), f->holder);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    f->holder = -1;
}

static struct ak_budget_ref budget(void)
{
    return (struct ak_budget_ref){ .scope = AK_SCOPE_AGENT, .name = "stalled-bot",
                                   .type = AK_PERIOD_DAILY, .limit_micros = -1 };
}

static int64_t spent(struct fx *f)
{
    struct ak_budget_ref b = budget();
    struct ak_budget_state st;
    assert_int_equal(ak_ledger_budget_get(f->l, &b, f->t0, &st), AK_OK);
    return st.spent_micros;
}

/* A commit (agent, budget, event) from the caller's stack, as meter.c makes it. */
static enum ak_err commit_one(struct fx *f, int64_t cost)
{
    struct ak_budget_ref b = budget();
    char agent[32], json[64];
    snprintf(agent, sizeof agent, "stalled-bot");
    int n = snprintf(json, sizeof json, "{\"cost\":%lld}", (long long)cost);
    struct ak_commit c = { .agent = agent, .budgets = &b, .n_budgets = 1, .cost_micros = cost,
                           .count_call = true, .event_json = json, .event_len = (size_t)n,
                           .now_ms = f->t0 };
    enum ak_err e = ak_ledger_commit(f->l, &c, NULL);
    memset(json, 'x', sizeof json);       /* the queued copy must not point here */
    memset(agent, 'y', sizeof agent - 1);
    return e;
}

static void held_ledger_bounded(struct fx *f, bool stop)
{
    assert_int_equal(ak_ledger_set_wait_ms(f->l, WAIT_MS), AK_OK);
    assert_int_equal(commit_one(f, 1), AK_OK);          /* uncontended: made at once */
    holder_start(f, stop, 0);
    int64_t t = mono_ms();
    assert_int_equal(commit_one(f, COST), AK_ERR_BUSY);
    int64_t commit_ms = mono_ms() - t;
    struct ak_budget_ref b = budget();
    struct ak_reserve r = { .agent = "stalled-bot", .budgets = &b, .n_budgets = 1,
                            .amount_micros = 1, .pid = (int)getpid(), .now_ms = f->t0 };
    struct ak_reserve_result rr;
    t = mono_ms();
    assert_int_equal(ak_ledger_reserve(f->l, &r, &rr), AK_ERR_BUSY);
    int64_t reserve_ms = mono_ms() - t;
    t = mono_ms();
    assert_int_equal(spent(f), 1);                       /* reads go on */
    int64_t read_ms = mono_ms() - t;
    t = mono_ms();
    pid_t opener = fork();                               /* and so does opening (one env per
                                                            process: LMDB's rule) */
    if (opener == 0) {
        struct ak_ledger *other = NULL;
        _exit(ak_ledger_open(f->dir, &other) == AK_OK ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(opener, &st, 0), opener);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    int64_t open_ms = mono_ms() - t;
    print_message("held ledger: commit %lld ms, reserve %lld ms, read %lld ms, open %lld ms "
                  "(bound %d ms)\n", (long long)commit_ms, (long long)reserve_ms,
                  (long long)read_ms, (long long)open_ms, WAIT_MS);
    assert_true(commit_ms >= WAIT_MS - 1 && commit_ms < WAIT_MS + SLACK_MS);
    assert_true(reserve_ms < WAIT_MS + SLACK_MS);
    assert_true(read_ms < SLACK_MS && open_ms < SLACK_MS);
    assert_true(ak_ledger_deferred(f->l) >= 1);
    holder_release(f, stop);
    assert_true(ak_ledger_drain(f->l, DRAIN_MS));
    assert_int_equal(spent(f), 1 + COST);                /* recorded once, the reserve not */
    size_t live = 1;
    assert_int_equal(ak_ledger_reservations(f->l, &live), AK_OK);
    assert_int_equal(live, 0);
    uint64_t last = 0;
    assert_int_equal(ak_ledger_events_last_seq(f->l, &last), AK_OK);
    assert_int_equal(last, 2);                           /* the event came with it */
}

static void test_held_by_a_program(void **state) { held_ledger_bounded(*state, false); }
static void test_held_by_a_stopped_process(void **state) { held_ledger_bounded(*state, true); }

/* Many calls behind one stall: all recorded, in order, none twice. */
static void test_many_deferred(void **state)
{
    struct fx *f = *state;
    assert_int_equal(ak_ledger_set_wait_ms(f->l, WAIT_MS), AK_OK);
    holder_start(f, true, 0);
    for (int i = 0; i < N_QUEUED; i++)
        assert_int_equal(commit_one(f, i + 1), AK_ERR_BUSY);
    holder_release(f, true);
    assert_true(ak_ledger_drain(f->l, DRAIN_MS));
    assert_int_equal(spent(f), N_QUEUED * (N_QUEUED + 1) / 2);
    assert_int_equal(commit_one(f, 1), AK_OK);
}

/* A drain while the ledger is held gives up after its bound; the write is made later. */
static void test_drain_while_held(void **state)
{
    struct fx *f = *state;
    assert_int_equal(ak_ledger_set_wait_ms(f->l, WAIT_MS), AK_OK);
    holder_start(f, true, 0);
    struct ak_budget_ref b = budget();
    struct ak_commit c = { .budgets = &b, .n_budgets = 1, .cost_micros = 5, .now_ms = f->t0 };
    assert_int_equal(ak_ledger_commit(f->l, &c, NULL), AK_ERR_BUSY);
    int64_t t = mono_ms();
    assert_false(ak_ledger_drain(f->l, WAIT_MS));
    assert_true(mono_ms() - t < WAIT_MS + SLACK_MS);
    holder_release(f, true);
    assert_true(ak_ledger_drain(f->l, DRAIN_MS));
    assert_int_equal(spent(f), 5);
}

/* The control: without a bound the commit waits for the holder (the defect, kept for tools). */
static void test_unbounded_waits(void **state)
{
    struct fx *f = *state;
    holder_start(f, false, UNBOUNDED_HOLD_MS);
    int64_t t = mono_ms();
    assert_int_equal(commit_one(f, COST), AK_OK);
    assert_true(mono_ms() - t >= UNBOUNDED_HOLD_MS / 2);
    int st;
    waitpid(f->holder, &st, 0);
    f->holder = -1;
}

int main(void)
{
    setenv("AGENTKAVACH_LOG", "off", 1);
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_held_by_a_program),
        T(test_held_by_a_stopped_process),
        T(test_many_deferred),
        T(test_drain_while_held),
        T(test_unbounded_waits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
