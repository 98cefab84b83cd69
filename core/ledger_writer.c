/*
 * ledger_writer.c - the bounded wait on the ledger's write lock.
 *
 * LMDB's writer lock is a process-shared mutex with no timeout: a process stopped inside a
 * commit (SIGSTOP, a debugger) or any program holding a write transaction on state.mdb makes
 * every mdb_txn_begin on the host wait, for ever. A metered call must not. So a handle given a
 * wait bound (ak_ledger_set_wait_ms, the engine's limits.ledger_wait_ms) runs its writes on one
 * thread of its own, started on the first write. The caller queues the write and waits for it
 * at most the bound once its thread waits on LMDB's lock and nothing commits meanwhile: while
 * other processes commit (the host's metered calls queueing for the lock on a loaded machine)
 * or while the thread has not reached the lock yet (a slow scheduler), that is no stall, and
 * it waits on, bound after bound, up to LEDGER_BUSY_SLICES of them. After that:
 *   - a commit or a release stays queued, with a private copy of what it writes, and the
 *     writer thread makes it when the ledger is free again (AK_ERR_BUSY tells the caller);
 *   - any other write (a reservation, a suspension...) is abandoned: the writer skips it, and
 *     the caller gets AK_ERR_BUSY, which the engine treats per on_error.
 * A write whose function is running has its txn, so it is waited for (no other lock stands
 * between it and the commit). Queued writes are bounded (LEDGER_QUEUE_MAX); past that a
 * commit is refused with AK_ERR_FULL and logged. The writer thread blocks every signal, so
 * the host's handlers never run on it. A forked child has no writer thread: its copy of the
 * queue is never run (the engine forgets the parent's handle).
 */
#include "core/ledger_impl.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LEDGER_QUEUE_MAX 4096           /* queued writes, deferred ones included */
#define LEDGER_BUSY_SLICES 40           /* while others commit, wait up to 40 bounds (2 s) */
#define NS_PER_MS 1000000L
#define NS_PER_S 1000000000L

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_ABANDONED };

struct ledger_job {
    ledger_txn_fn fn;
    void *ctx;
    ledger_ctx_free_fn free_ctx;  /* set once the job owns ctx (deferred) */
    enum job_state state;
    bool deferred;                /* nobody waits: the writer frees it */
    enum ak_err err;
    struct ledger_job *next;
};

struct ledger_writer {
    pthread_t thread;
    bool started, stop;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;    /* done: monotonic clock */
    struct ledger_job *head, *tail;
    size_t queued;
    unsigned wait_ms;
    bool in_begin;                /* the thread is in mdb_txn_begin: maybe behind a stall */
};

/* The last committed txn on the host (read from the lock file, no txn needed). */
static uint64_t ledger_last_txnid(struct ak_ledger *l)
{
    MDB_envinfo info;
    return mdb_env_info(l->env, &info) == 0 ? (uint64_t)info.me_last_txnid : 0;
}

static void job_free(struct ledger_job *j)
{
    if (j->free_ctx)
        j->free_ctx(j->ctx);
    free(j);
}

/* Runs inside the write txn, before the job's own function: an abandoned job's ctx is gone. */
static enum ak_err job_txn_fn(struct ak_ledger *l, MDB_txn *txn, void *vjob)
{
    struct ledger_job *j = vjob;
    struct ledger_writer *w = l->writer;
    pthread_mutex_lock(&w->mu);
    bool gone = j->state == JOB_ABANDONED;
    if (!gone)
        j->state = JOB_RUNNING;
    w->in_begin = false;
    pthread_mutex_unlock(&w->mu);
    return gone ? AK_ERR_BUSY : j->fn(l, txn, j->ctx);
}

/* Between two attempts (the map grew): the next begin may wait again, so the caller may go. */
static void job_retry(struct ak_ledger *l, void *vjob)
{
    struct ledger_job *j = vjob;
    pthread_mutex_lock(&l->writer->mu);
    if (j->state == JOB_RUNNING)
        j->state = JOB_QUEUED;
    l->writer->in_begin = true;
    pthread_mutex_unlock(&l->writer->mu);
}

static void writer_finish(struct ledger_writer *w, struct ledger_job *j, enum ak_err err)
{
    pthread_mutex_lock(&w->mu);
    w->queued--;
    w->in_begin = false;
    bool orphan = j->deferred || j->state == JOB_ABANDONED;
    if (j->deferred && err != AK_OK)
        ak_error("ledger: a deferred write failed (%s); that call's spend is not recorded",
                 ak_strerror(err));
    j->err = err;
    j->state = JOB_DONE;
    pthread_cond_broadcast(&w->done);
    pthread_mutex_unlock(&w->mu);
    if (orphan)
        job_free(j);
}

static void *writer_main(void *vl)
{
    struct ak_ledger *l = vl;
    struct ledger_writer *w = l->writer;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stop)
            pthread_cond_wait(&w->wake, &w->mu);
        struct ledger_job *j = w->head;
        if (!j)
            break;
        w->head = j->next;
        if (!w->head)
            w->tail = NULL;
        bool skip = j->state == JOB_ABANDONED;
        w->in_begin = !skip;
        pthread_mutex_unlock(&w->mu);
        enum ak_err err = skip ? AK_ERR_BUSY : ledger_write_direct(l, job_txn_fn, j, job_retry);
        writer_finish(w, j, err);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

enum ak_err ledger_writer_new(struct ak_ledger *l, unsigned wait_ms)
{
    struct ledger_writer *w = calloc(1, sizeof *w);
    pthread_condattr_t ca;
    if (!w)
        return AK_ERR_NOMEM;
    enum ak_err err = AK_ERR_INTERNAL;
    if (pthread_condattr_init(&ca) != 0)
        goto out;
    bool ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
              pthread_mutex_init(&w->mu, NULL) == 0 && pthread_cond_init(&w->wake, NULL) == 0 &&
              pthread_cond_init(&w->done, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!ok)
        goto out;
    w->wait_ms = wait_ms;
    l->writer = w;
    return AK_OK;
out:
    free(w);
    return err;
}

/* Started on the first write, with every signal blocked. Called with w->mu held. */
static bool writer_start(struct ak_ledger *l)
{
    struct ledger_writer *w = l->writer;
    if (w->started)
        return true;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    w->started = pthread_create(&w->thread, NULL, writer_main, l) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!w->started)
        ak_error("ledger: cannot start the writer thread; writes wait for the ledger");
    return w->started;
}

static struct timespec deadline_after(unsigned ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * NS_PER_MS;
    if (t.tv_nsec >= NS_PER_S) {
        t.tv_sec++;
        t.tv_nsec -= NS_PER_S;
    }
    return t;
}

/* Called with w->mu held, after the wait ran out on a job that is not running. */
static enum ak_err job_give_up(struct ledger_job *j, ledger_ctx_copy_fn copy,
                               ledger_ctx_free_fn free_ctx)
{
    void *mine = copy ? copy(j->ctx) : NULL;
    if (!mine) {
        j->state = JOB_ABANDONED;
        return AK_ERR_BUSY;
    }
    j->ctx = mine;
    j->free_ctx = free_ctx;
    j->deferred = true;
    return AK_ERR_BUSY;
}

enum ak_err ledger_writer_run(struct ak_ledger *l, ledger_txn_fn fn, void *ctx,
                              ledger_ctx_copy_fn copy, ledger_ctx_free_fn free_ctx)
{
    struct ledger_writer *w = l->writer;
    struct ledger_job *j = calloc(1, sizeof *j);
    if (!j)
        return AK_ERR_NOMEM;
    *j = (struct ledger_job){ .fn = fn, .ctx = ctx, .state = JOB_QUEUED };
    enum ak_err err = AK_ERR_BUSY;
    pthread_mutex_lock(&w->mu);
    if (w->stop || !writer_start(l)) {
        pthread_mutex_unlock(&w->mu);
        free(j);
        return w->stop ? AK_ERR_BUSY : ledger_write_direct(l, fn, ctx, NULL);
    }
    if (w->queued >= LEDGER_QUEUE_MAX) {
        pthread_mutex_unlock(&w->mu);
        free(j);
        ak_error("ledger: %d writes are waiting for the ledger; this one is dropped", LEDGER_QUEUE_MAX);
        return AK_ERR_FULL;
    }
    w->queued++;
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    pthread_cond_signal(&w->wake);
    struct timespec until = deadline_after(w->wait_ms);
    uint64_t seen = ledger_last_txnid(l);
    unsigned waited = 0;
    bool late = false;
    while (j->state != JOB_DONE) {
        int rc = late ? pthread_cond_wait(&w->done, &w->mu)
                      : pthread_cond_timedwait(&w->done, &w->mu, &until);
        if (rc != ETIMEDOUT || j->state == JOB_DONE)
            continue;
        waited += w->wait_ms;
        uint64_t now_id = ledger_last_txnid(l);
        bool moving = now_id != seen || !w->in_begin;  /* others commit, or our thread has
                                                          not reached LMDB's lock yet */
        if (j->state == JOB_QUEUED && moving && waited < w->wait_ms * LEDGER_BUSY_SLICES) {
            seen = now_id;        /* a queue or a slow scheduler, not a stall: wait on */
            until = deadline_after(w->wait_ms);
            continue;
        }
        late = true;
        if (j->state == JOB_QUEUED) {
            err = job_give_up(j, copy, free_ctx);
            pthread_mutex_unlock(&w->mu);
            return err;
        }
    }
    err = j->err;
    pthread_mutex_unlock(&w->mu);
    free(j);
    return err;
}

size_t ledger_writer_pending(struct ak_ledger *l)
{
    struct ledger_writer *w = l->writer;
    if (!w)
        return 0;
    pthread_mutex_lock(&w->mu);
    size_t n = w->queued;
    pthread_mutex_unlock(&w->mu);
    return n;
}

/* Called with w->mu held: the writes still queued after up to wait_ms. */
static size_t writer_wait_empty(struct ledger_writer *w, unsigned wait_ms)
{
    struct timespec until = deadline_after(wait_ms);
    while (w->queued > 0 && pthread_cond_timedwait(&w->done, &w->mu, &until) != ETIMEDOUT)
        ;
    return w->queued;
}

bool ak_ledger_drain(struct ak_ledger *l, unsigned wait_ms)
{
    struct ledger_writer *w = l ? l->writer : NULL;
    if (!w)
        return true;
    pthread_mutex_lock(&w->mu);
    size_t left = writer_wait_empty(w, wait_ms);
    pthread_mutex_unlock(&w->mu);
    if (left > 0)
        ak_error("ledger: still held after %u ms; %zu write(s) still queued", wait_ms, left);
    return left == 0;
}

bool ledger_writer_stop(struct ak_ledger *l, unsigned wait_ms)
{
    struct ledger_writer *w = l->writer;
    if (!w)
        return true;
    pthread_mutex_lock(&w->mu);
    size_t left = writer_wait_empty(w, wait_ms);
    w->stop = true;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->mu);
    if (left > 0) {
        ak_error("ledger: still not free after %u ms; %zu queued write(s) are not recorded",
                 wait_ms, left);
        return false;             /* the thread may be inside LMDB: leave it and the handle */
    }
    if (w->started)
        pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->wake);
    pthread_cond_destroy(&w->done);
    free(w);
    l->writer = NULL;
    return true;
}
