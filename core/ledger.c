/*
 * ledger.c - the LMDB environment behind core/ledger.h: opening it, the transaction
 * runners every ledger_*.c file goes through, map growth, the meta store and stats.
 *
 * Why these settings:
 * - One environment, <state_dir>/state.mdb, opened by every metered process on the host, so
 *   maxreaders is large and stale reader slots of killed processes are cleared at open.
 * - MDB_NOTLS: the host program has threads; a read txn is not tied to a thread. Per handle,
 *   one mutex orders the reads (the kept read txn) and one the writes; a read never waits
 *   for a write. Writes of the engine's handle run on its writer thread with a bounded wait
 *   (ledger_writer.c): a process stopped inside a commit cannot stall the host's calls.
 * - MDB_NOSYNC | MDB_NOMETASYNC: a commit goes to the page cache, no fsync. A process crash
 *   (kill -9 included) loses nothing that was committed, because the kernel still writes
 *   the pages out; only an OS crash or power loss can lose the last commits. The collector
 *   calls ak_ledger_sync() to bound that window.
 * - No MDB_WRITEMAP: the map is read-only in every metered process and transactions write
 *   dirty pages with write(2). Measured (bench/ledgerb, one process, reserve + commit, same
 *   run, 2026-12-04): with WRITEMAP 6.6-8.5 us CPU and 2.2 + 3.2 us p50 per call, without
 *   25-27 us and 9 + 15 us; through the bounded writer 30-32 vs 62-66 us. That is 20-35 us of
 *   CPU per metered call, against LLM calls of 100 ms and more; the price of WRITEMAP was that
 *   any wild pointer write in any host program (root's included) could silently damage the
 *   host-wide ledger instead of faulting. Decision: not worth it. (AK_LEDGER_WRITEMAP builds
 *   the other variant for bench comparisons only: every process must open the environment
 *   the same way.) Crash consistency is the same either way (the meta page flips last;
 *   tests/unit/test_ledger.c kills writers at random).
 * - Who may write: the agentkavach group. `make install` creates the group and the state
 *   directory root:agentkavach 2770 (setgid: files created in it get the group); users who
 *   run agents are added to the group. The files are created 0660 (& umask) and their owner
 *   narrows or widens them at every open to 0600 plus the directory's group bits: never any
 *   bit for others, so an old 0666 ledger from a 1777 install is repaired on first open, and
 *   a world-writable state directory is logged. The directory is created 0750 when missing
 *   (a directory the users cannot enter leaves them unmetered, which on_error decides about).
 * - Map size starts at 64 MiB and doubles on MDB_MAP_FULL up to 1 GiB (the test-only
 *   environment variable AGENTKAVACH_LEDGER_MAX_MAP, in bytes, lowers the cap; the start
 *   is then a quarter of it). At the cap, ledger_events.c prunes events (see ledger.h).
 */
#include "core/ledger_impl.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LEDGER_FILE "state.mdb"
#define LEDGER_DIR_MODE 0750
#define LEDGER_FILE_MODE 0660           /* the process umask applies; see ledger_share_files */
#define LEDGER_GROUP_BITS 0060
#define LEDGER_MAX_READERS 1022
#define LEDGER_MAX_DBS 8
#define LEDGER_MAP_INITIAL (64ull << 20)
#define LEDGER_MAP_MAX (1ull << 30)
#define LEDGER_MAP_MIN (64ull << 10)
#define LEDGER_MAP_TEST_START_DIV 4
#define LEDGER_PAGE 4096ull
#define LEDGER_WRITE_ATTEMPTS 64
#define LEDGER_BEGIN_ATTEMPTS 8
#define LEDGER_GROW_FIRST 16
#define LEDGER_CLOSE_WAIT_MS 1000       /* a bounded handle's queued writes, at close */
#define ENV_MAX_MAP "AGENTKAVACH_LEDGER_MAX_MAP"
#define ENV_EVENTS_KEEP "AGENTKAVACH_LEDGER_EVENTS_KEEP"

/* ---- small shared helpers ---- */

enum ak_err ledger_mdb_fail(struct ak_ledger *l, int rc, const char *what)
{
    l->mdb_rc = rc;
    if (rc == MDB_MAP_FULL)
        return AK_ERR_FULL;
    if (rc != l->said_rc)         /* the same failure again (a full disk): said once */
        ak_error("ledger: %s: %s", what, mdb_strerror(rc));
    l->said_rc = rc;
    return rc == ENOMEM ? AK_ERR_NOMEM : AK_ERR_IO;
}

void ledger_corrupt(struct ak_ledger *l, const char *db, const MDB_val *key)
{
    l->stats.internal_errors++;
    int n = key->mv_size > INT_MAX ? INT_MAX : (int)key->mv_size;
    const char *k = key->mv_data;
    if (strcmp(db, "budgets") == 0 && n > 0) { /* scope byte, name, NUL, period */
        k++;
        n--;
    }
    if (strcmp(db, "events") == 0 || strcmp(db, "reservations") == 0) /* integer keys */
        ak_error("ledger: corrupt record in %s (ignored)", db);
    else
        ak_error("ledger: corrupt record in %s for '%.*s' (ignored)", db, n, k);
}

bool ledger_name_ok(const char *name)
{
    return name && name[0] != '\0' && strlen(name) <= LEDGER_NAME_MAX;
}

MDB_val ledger_text_val(const char *s)
{
    MDB_val v = { .mv_size = strlen(s), .mv_data = (void *)s };
    return v;
}

enum ak_err ledger_rec_get(struct ak_ledger *l, MDB_txn *txn, MDB_dbi db, const char *what,
                           const MDB_val *key, void *out, size_t size)
{
    MDB_val data;
    int rc = mdb_get(txn, db, (MDB_val *)key, &data);
    if (rc == MDB_NOTFOUND)
        return AK_ERR_NOTFOUND;
    if (rc != 0)
        return ledger_mdb_fail(l, rc, what);
    if (data.mv_size != size || ((const uint8_t *)data.mv_data)[0] != LEDGER_REC_VERSION) {
        ledger_corrupt(l, what, key);
        return AK_ERR_NOTFOUND;
    }
    memcpy(out, data.mv_data, size);
    return AK_OK;
}

enum ak_err ledger_u64_get(struct ak_ledger *l, MDB_txn *txn, MDB_dbi db, const MDB_val *key,
                           uint64_t *v)
{
    struct ledger_u64_rec rec;
    enum ak_err err = ledger_rec_get(l, txn, db, db == l->db_cursors ? "cursors" : "meta", key,
                                     &rec, sizeof rec);
    *v = err == AK_OK ? rec.value : 0;
    return err;
}

enum ak_err ledger_u64_put(struct ak_ledger *l, MDB_txn *txn, MDB_dbi db, const MDB_val *key,
                           uint64_t v)
{
    struct ledger_u64_rec rec = { .version = LEDGER_REC_VERSION, .value = v };
    MDB_val data = { .mv_size = sizeof rec, .mv_data = &rec };
    int rc = mdb_put(txn, db, (MDB_val *)key, &data, 0);
    return rc ? ledger_mdb_fail(l, rc, "write counter") : AK_OK;
}

enum ak_err ledger_meta_u64_get(struct ak_ledger *l, MDB_txn *txn, const char *name, uint64_t *v)
{
    MDB_val key = ledger_text_val(name);
    enum ak_err err = ledger_u64_get(l, txn, l->db_meta, &key, v);
    return err == AK_ERR_NOTFOUND ? AK_OK : err;
}

enum ak_err ledger_meta_u64_put(struct ak_ledger *l, MDB_txn *txn, const char *name, uint64_t v)
{
    MDB_val key = ledger_text_val(name);
    return ledger_u64_put(l, txn, l->db_meta, &key, v);
}

enum ak_err ledger_grow(void **items, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return AK_OK;
    size_t ncap = *cap ? *cap * 2 : LEDGER_GROW_FIRST;
    void *grown = realloc(*items, ncap * elem);
    if (!grown)
        return AK_ERR_NOMEM;
    *items = grown;
    *cap = ncap;
    return AK_OK;
}

enum ak_err ledger_db_each(struct ak_ledger *l, MDB_txn *txn, MDB_dbi db, ledger_visit_fn visit,
                           void *ctx)
{
    MDB_cursor *cur = NULL;
    MDB_val key, data;
    enum ak_err err = AK_OK;
    int rc = mdb_cursor_open(txn, db, &cur);
    if (rc != 0)
        return ledger_mdb_fail(l, rc, "open cursor");
    for (rc = mdb_cursor_get(cur, &key, &data, MDB_FIRST); rc == 0 && err == AK_OK;
         rc = mdb_cursor_get(cur, &key, &data, MDB_NEXT))
        err = visit(l, &key, &data, ctx);
    if (err == AK_OK && rc != MDB_NOTFOUND)
        err = ledger_mdb_fail(l, rc, "scan");
    mdb_cursor_close(cur);
    return err;
}

/* ---- transaction runners ---- */

/* getpid() is a system call on glibc >= 2.25; the ledger asks on every transaction, so the
 * pid is cached and refreshed in a forked child. */
static struct {
    pthread_once_t once;
    _Atomic pid_t pid;
} self = { .once = PTHREAD_ONCE_INIT };

static void self_refresh(void) { atomic_store(&self.pid, getpid()); }

static void self_init(void)
{
    self_refresh();
    pthread_atfork(NULL, NULL, self_refresh);
}

pid_t ledger_self_pid(void)
{
    pthread_once(&self.once, self_init);
    return atomic_load(&self.pid);
}

static bool ledger_owner_ok(struct ak_ledger *l)
{
    if (ledger_self_pid() == l->pid)
        return true;
    l->stats.internal_errors++;
    ak_error("ledger: handle used in pid %d but opened in pid %d (fork without ak_ledger_forget)",
             (int)getpid(), (int)l->pid);
    return false;
}

/* Another process grew the map: take its size. Only safe with no txn of ours active: the
 * caller holds wmu (no write txn) and this takes mu (no read txn). */
static enum ak_err ledger_adopt_size(struct ak_ledger *l)
{
    pthread_mutex_lock(&l->mu);
    int rc = mdb_env_set_mapsize(l->env, 0);
    pthread_mutex_unlock(&l->mu);
    if (rc != 0) {
        ak_error("ledger: adopting the new map size: %s", mdb_strerror(rc));
        return AK_ERR_IO;
    }
    return AK_OK;
}

/* A read found the map grown; called with mu held. No write of ours may be in a txn, and a
 * write may be waiting on LMDB's lock for long: then the read fails (AK_ERR_BUSY). */
static enum ak_err ledger_read_adopt_size(struct ak_ledger *l)
{
    if (pthread_mutex_trylock(&l->wmu) != 0)
        return AK_ERR_BUSY;
    int rc = mdb_env_set_mapsize(l->env, 0);
    pthread_mutex_unlock(&l->wmu);
    if (rc != 0) {
        ak_error("ledger: adopting the new map size: %s", mdb_strerror(rc));
        return AK_ERR_IO;
    }
    return AK_OK;
}

static enum ak_err ledger_begin(struct ak_ledger *l, unsigned flags, MDB_txn **txn)
{
    for (int i = 0; i < LEDGER_BEGIN_ATTEMPTS; i++) {
        int rc = mdb_txn_begin(l->env, NULL, flags, txn);
        if (rc == 0)
            return AK_OK;
        if (rc != MDB_MAP_RESIZED)
            return ledger_mdb_fail(l, rc, "begin transaction");
        enum ak_err err = (flags & MDB_RDONLY) ? ledger_read_adopt_size(l) : ledger_adopt_size(l);
        if (err != AK_OK)
            return err;
    }
    l->stats.internal_errors++;
    return AK_ERR_BUSY;
}

/* Renews the kept read txn (or makes one). */
static enum ak_err ledger_read_begin(struct ak_ledger *l)
{
    for (int i = 0; i < LEDGER_BEGIN_ATTEMPTS; i++) {
        if (!l->rtxn)
            return ledger_begin(l, MDB_RDONLY, &l->rtxn);
        int rc = mdb_txn_renew(l->rtxn);
        if (rc == 0)
            return AK_OK;
        mdb_txn_abort(l->rtxn);
        l->rtxn = NULL;
        if (rc != MDB_MAP_RESIZED)
            return ledger_mdb_fail(l, rc, "renew read transaction");
        enum ak_err err = ledger_read_adopt_size(l);
        if (err != AK_OK)
            return err;
    }
    l->stats.internal_errors++;
    return AK_ERR_BUSY;
}

/* Takes one of the handle's locks (mu or wmu); on AK_OK the caller must unlock it. */
static enum ak_err ledger_lock_mu(struct ak_ledger *l, pthread_mutex_t *mu)
{
    if (!l)
        return AK_ERR_INVAL;
    if (pthread_mutex_lock(mu) != 0)
        return AK_ERR_INTERNAL;
    if (ledger_owner_ok(l))
        return AK_OK;
    pthread_mutex_unlock(mu);
    return AK_ERR_INTERNAL;
}

static enum ak_err ledger_lock(struct ak_ledger *l)
{
    return l ? ledger_lock_mu(l, &l->mu) : AK_ERR_INVAL;
}

static void ledger_unlock(struct ak_ledger *l)
{
    pthread_mutex_unlock(&l->mu);
}

enum ak_err ledger_read(struct ak_ledger *l, ledger_txn_fn fn, void *ctx)
{
    enum ak_err err = ledger_lock(l);
    if (err != AK_OK)
        return err;
    err = ledger_read_begin(l);
    if (err != AK_OK)
        goto out;
    l->mdb_rc = 0;
    err = fn(l, l->rtxn, ctx);
    mdb_txn_reset(l->rtxn);
out:
    ledger_unlock(l);
    return err;
}

/* Grows the map (doubling, up to the cap), else has ledger_events.c prune events. */
static enum ak_err ledger_make_room(struct ak_ledger *l)
{
    MDB_envinfo info;
    int dead = 0;
    int rc = mdb_reader_check(l->env, &dead); /* stale readers pin pages */
    if (rc != 0)
        ak_warn("ledger: reader check: %s", mdb_strerror(rc));
    rc = mdb_env_info(l->env, &info);
    if (rc != 0)
        return ledger_mdb_fail(l, rc, "env info");
    size_t cur = info.me_mapsize;
    if (cur < l->max_map) {
        size_t next = cur > l->max_map / 2 ? l->max_map : cur * 2;
        pthread_mutex_lock(&l->mu); /* no read txn of ours while the map moves */
        rc = mdb_env_set_mapsize(l->env, next);
        pthread_mutex_unlock(&l->mu);
        if (rc != 0)
            return ledger_mdb_fail(l, rc, "grow map");
        l->stats.map_grows++;
        ak_info("ledger: map grown from %zu to %zu bytes", cur, next);
        return AK_OK;
    }
    return ledger_events_make_room(l);
}

/* ---- host-wide counters: this handle's counts ride along with its next write ---- */

#define COUNT_INTERNAL "ledger.count.internal_errors"
#define COUNT_GROWS    "ledger.count.map_grows"
#define COUNT_PRUNED   "ledger.count.pruned_undelivered"

static enum ak_err count_add(struct ak_ledger *l, MDB_txn *txn, const char *name, uint64_t delta)
{
    uint64_t v = 0;
    enum ak_err err = delta ? ledger_meta_u64_get(l, txn, name, &v) : AK_OK;
    return err == AK_OK && delta ? ledger_meta_u64_put(l, txn, name, v + delta) : err;
}

static enum ak_err counts_flush(struct ak_ledger *l, MDB_txn *txn)
{
    const struct ak_ledger_stats *s = &l->stats, *f = &l->flushed;
    enum ak_err err = count_add(l, txn, COUNT_INTERNAL, s->internal_errors - f->internal_errors);
    if (err == AK_OK)
        err = count_add(l, txn, COUNT_GROWS, s->map_grows - f->map_grows);
    if (err == AK_OK)
        err = count_add(l, txn, COUNT_PRUNED, s->pruned_undelivered - f->pruned_undelivered);
    return err;
}

static bool counts_pending(const struct ak_ledger *l)
{
    return l->stats.internal_errors != l->flushed.internal_errors ||
           l->stats.map_grows != l->flushed.map_grows ||
           l->stats.pruned_undelivered != l->flushed.pruned_undelivered;
}

static enum ak_err ledger_write_once(struct ak_ledger *l, ledger_txn_fn fn, void *ctx)
{
    MDB_txn *txn = NULL;
    struct ak_ledger_stats snap = l->stats;
    bool flush = counts_pending(l);
    enum ak_err err = ledger_begin(l, 0, &txn);
    if (err != AK_OK)
        return err;
    l->mdb_rc = 0;
    err = fn(l, txn, ctx);
    if (err == AK_OK && flush)
        err = counts_flush(l, txn);
    if (err != AK_OK) {
        mdb_txn_abort(txn);
        return err;
    }
    int rc = mdb_txn_commit(txn);
    if (rc)
        return ledger_mdb_fail(l, rc, "commit");
    l->said_rc = 0;
    if (flush) {
        l->flushed.internal_errors = snap.internal_errors;
        l->flushed.map_grows = snap.map_grows;
        l->flushed.pruned_undelivered = snap.pruned_undelivered;
    }
    return AK_OK;
}

enum ak_err ledger_write_direct(struct ak_ledger *l, ledger_txn_fn fn, void *ctx,
                                ledger_retry_fn retry)
{
    enum ak_err err = l ? ledger_lock_mu(l, &l->wmu) : AK_ERR_INVAL;
    if (err != AK_OK)
        return err;
    for (int i = 0; i < LEDGER_WRITE_ATTEMPTS; i++) {
        if (i > 0 && retry)
            retry(l, ctx);
        l->mdb_rc = 0;
        err = ledger_write_once(l, fn, ctx);
        if (err == AK_OK || l->mdb_rc != MDB_MAP_FULL)
            goto out;
        enum ak_err room = ledger_make_room(l);
        if (room != AK_OK) {
            err = room;
            goto out;
        }
    }
out:
    pthread_mutex_unlock(&l->wmu);
    return err;
}

enum ak_err ledger_write_deferrable(struct ak_ledger *l, ledger_txn_fn fn, void *ctx,
                                    ledger_ctx_copy_fn copy, ledger_ctx_free_fn free_ctx)
{
    if (!l)
        return AK_ERR_INVAL;
    if (!l->writer)
        return ledger_write_direct(l, fn, ctx, NULL);
    if (!ledger_owner_ok(l))
        return AK_ERR_INTERNAL;
    return ledger_writer_run(l, fn, ctx, copy, free_ctx);
}

enum ak_err ledger_write(struct ak_ledger *l, ledger_txn_fn fn, void *ctx)
{
    return ledger_write_deferrable(l, fn, ctx, NULL, NULL);
}

/* ---- open / close ---- */

static enum ak_err ledger_mkdirs(const char *dir)
{
    char path[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path)
        return AK_ERR_INVAL;
    memcpy(path, dir, n + 1);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, LEDGER_DIR_MODE) != 0 && errno != EEXIST)
            return AK_ERR_IO;
        *p = '/';
    }
    if (mkdir(path, LEDGER_DIR_MODE) != 0 && errno != EEXIST) {
        ak_error("ledger: cannot create %s: %s", dir, strerror(errno));
        return AK_ERR_IO;
    }
    return AK_OK;
}

static uint64_t ledger_env_u64(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return dflt;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v == 0) {
        ak_warn("ledger: ignoring %s=%s", name, s);
        return dflt;
    }
    return v;
}

static void ledger_sizes(struct ak_ledger *l, size_t *initial)
{
    uint64_t max = ledger_env_u64(ENV_MAX_MAP, LEDGER_MAP_MAX);
    if (max < LEDGER_MAP_MIN)
        max = LEDGER_MAP_MIN;
    max -= max % LEDGER_PAGE;
    l->max_map = (size_t)max;
    uint64_t start = LEDGER_MAP_INITIAL;
    if (start > max) {
        start = max / LEDGER_MAP_TEST_START_DIV;
        start -= start % LEDGER_PAGE;
        if (start < LEDGER_MAP_MIN)
            start = LEDGER_MAP_MIN;
    }
    *initial = (size_t)start;
    l->events_keep = ledger_env_u64(ENV_EVENTS_KEEP, AK_EVENTS_KEEP);
}

struct ledger_dbi_spec { const char *name; unsigned flags; size_t off; };

static const struct ledger_dbi_spec ledger_dbis[] = {
    { "budgets", 0, offsetof(struct ak_ledger, db_budgets) },
    { "agents", 0, offsetof(struct ak_ledger, db_agents) },
    { "reservations", MDB_INTEGERKEY, offsetof(struct ak_ledger, db_res) },
    { "history", 0, offsetof(struct ak_ledger, db_hist) },
    { "events", MDB_INTEGERKEY, offsetof(struct ak_ledger, db_events) },
    { "cursors", 0, offsetof(struct ak_ledger, db_cursors) },
    { "meta", 0, offsetof(struct ak_ledger, db_meta) },
};

_Static_assert(sizeof(size_t) == sizeof(uint64_t), "MDB_INTEGERKEY keys are uint64 = size_t");

static enum ak_err ledger_open_dbis(struct ak_ledger *l, MDB_txn *txn, void *ctx)
{
    for (size_t i = 0; i < AK_ARRAY_LEN(ledger_dbis); i++) {
        MDB_dbi *dbi = (MDB_dbi *)((char *)l + ledger_dbis[i].off);
        int rc = mdb_dbi_open(txn, ledger_dbis[i].name, ledger_dbis[i].flags | MDB_CREATE, dbi);
        if (rc != 0)
            return ledger_mdb_fail(l, rc, ledger_dbis[i].name);
    }
    return AK_OK;
}

/* The tables of a ledger in use open in a read txn: a process that holds the write lock (see
 * ledger_writer.c) must not stall the opening of the handle either. false: a new ledger. */
static bool ledger_open_dbis_read(struct ak_ledger *l)
{
    MDB_txn *txn = NULL;
    if (ledger_begin(l, MDB_RDONLY, &txn) != AK_OK)
        return false;
    for (size_t i = 0; i < AK_ARRAY_LEN(ledger_dbis); i++) {
        MDB_dbi *dbi = (MDB_dbi *)((char *)l + ledger_dbis[i].off);
        if (mdb_dbi_open(txn, ledger_dbis[i].name, ledger_dbis[i].flags, dbi) != 0) {
            mdb_txn_abort(txn);
            return false;
        }
    }
    return mdb_txn_commit(txn) == 0;   /* keeps the table handles */
}

/* Gives the ledger files the directory's group access and nothing for others (see the top
 * comment). */
static void ledger_share_files(const char *state_dir, const char *data_path)
{
    struct stat dir, st;
    char lock[PATH_MAX];
    if (stat(state_dir, &dir) != 0 ||
        snprintf(lock, sizeof lock, "%s-lock", data_path) >= (int)sizeof lock)
        return;
    if (dir.st_mode & S_IWOTH)
        ak_warn("ledger: %s is writable by every user; `make install` makes it 2770 "
                "root:agentkavach", state_dir);
    mode_t want = S_IRUSR | S_IWUSR | (dir.st_mode & LEDGER_GROUP_BITS);
    const char *files[] = { data_path, lock };
    for (size_t i = 0; i < AK_ARRAY_LEN(files); i++)
        if (stat(files[i], &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 0777) != want)
            chmod(files[i], want);
}

static enum ak_err ledger_env_open(struct ak_ledger *l, const char *state_dir)
{
    char path[PATH_MAX];
    size_t initial = 0;
    int dead = 0;
    ledger_sizes(l, &initial);
    if (snprintf(path, sizeof path, "%s/%s", state_dir, LEDGER_FILE) >= (int)sizeof path)
        return AK_ERR_INVAL;
    int rc = mdb_env_create(&l->env);
    if (rc != 0)
        return ledger_mdb_fail(l, rc, "env create");
    if ((rc = mdb_env_set_maxreaders(l->env, LEDGER_MAX_READERS)) != 0 ||
        (rc = mdb_env_set_maxdbs(l->env, LEDGER_MAX_DBS)) != 0 ||
        (rc = mdb_env_set_mapsize(l->env, initial)) != 0)
        return ledger_mdb_fail(l, rc, "env setup");
    rc = mdb_env_open(l->env, path, LEDGER_ENV_FLAGS, LEDGER_FILE_MODE);
    if (rc != 0) {
        ak_error("ledger: cannot open %s: %s", path, mdb_strerror(rc));
        return AK_ERR_IO;
    }
    rc = mdb_reader_check(l->env, &dead);
    if (rc != 0)
        ak_warn("ledger: reader check: %s", mdb_strerror(rc));
    ledger_share_files(state_dir, path);
    return AK_OK;
}

enum ak_err ak_ledger_open(const char *state_dir, struct ak_ledger **out)
{
    if (!state_dir || !out)
        return AK_ERR_INVAL;
    *out = NULL;
    struct ak_ledger *l = calloc(1, sizeof *l);
    if (!l)
        return AK_ERR_NOMEM;
    enum ak_err err = AK_ERR_INTERNAL;
    bool mutex_ok = pthread_mutex_init(&l->mu, NULL) == 0;
    if (!mutex_ok)
        goto out;
    if (pthread_mutex_init(&l->wmu, NULL) != 0) {
        pthread_mutex_destroy(&l->mu);
        mutex_ok = false;
        goto out;
    }
    l->pid = getpid();
    err = ledger_mkdirs(state_dir);
    if (err != AK_OK)
        goto out;
    err = ledger_env_open(l, state_dir);
    if (err != AK_OK)
        goto out;
    if (!ledger_open_dbis_read(l))   /* a new ledger: create them (waits for the lock) */
        err = ledger_write(l, ledger_open_dbis, NULL);
out:
    if (err == AK_OK) {
        *out = l;
        return AK_OK;
    }
    if (l->env)
        mdb_env_close(l->env);
    if (mutex_ok) {
        pthread_mutex_destroy(&l->mu);
        pthread_mutex_destroy(&l->wmu);
    }
    free(l);
    return err;
}

enum ak_err ak_ledger_set_wait_ms(struct ak_ledger *l, unsigned wait_ms)
{
    if (!l || l->writer || wait_ms == 0)
        return l && wait_ms == 0 && !l->writer ? AK_OK : AK_ERR_INVAL;
    return ledger_writer_new(l, wait_ms);
}

size_t ak_ledger_deferred(struct ak_ledger *l)
{
    return l ? ledger_writer_pending(l) : 0;
}

void ak_ledger_close(struct ak_ledger *l)
{
    if (!l)
        return;
    if (getpid() != l->pid) { /* a forked child: never touch the parent's LMDB state */
        ak_ledger_forget(l);
        return;
    }
    if (!ledger_writer_stop(l, LEDGER_CLOSE_WAIT_MS))
        return;                 /* its thread may still be inside LMDB: leave the handle */
    if (l->rtxn)
        mdb_txn_abort(l->rtxn);
    mdb_env_close(l->env);
    pthread_mutex_destroy(&l->mu);
    pthread_mutex_destroy(&l->wmu);
    free(l);
}

void ak_ledger_forget(struct ak_ledger *l)
{
    free(l); /* the inherited LMDB memory and descriptors are deliberately left alone */
}

enum ak_err ak_ledger_sync(struct ak_ledger *l)
{
    enum ak_err err = ledger_lock(l);
    if (err != AK_OK)
        return err;
    int rc = mdb_env_sync(l->env, 1);
    err = rc ? ledger_mdb_fail(l, rc, "sync") : AK_OK;
    ledger_unlock(l);
    return err;
}

static enum ak_err stats_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    struct ak_ledger_stats *out = vctx;
    uint64_t v[3] = { 0, 0, 0 };
    enum ak_err err = ledger_meta_u64_get(l, txn, COUNT_INTERNAL, &v[0]);
    if (err == AK_OK)
        err = ledger_meta_u64_get(l, txn, COUNT_GROWS, &v[1]);
    if (err == AK_OK)
        err = ledger_meta_u64_get(l, txn, COUNT_PRUNED, &v[2]);
    /* every handle's flushed counts, plus what this one has not written yet */
    out->internal_errors = v[0] + l->stats.internal_errors - l->flushed.internal_errors;
    out->map_grows = v[1] + l->stats.map_grows - l->flushed.map_grows;
    out->pruned_undelivered = v[2] + l->stats.pruned_undelivered - l->flushed.pruned_undelivered;
    MDB_envinfo info;
    if (mdb_env_info(l->env, &info) == 0)
        out->map_size = info.me_mapsize;
    return err;
}

void ak_ledger_stats(struct ak_ledger *l, struct ak_ledger_stats *out)
{
    memset(out, 0, sizeof *out);
    if (l && ledger_read(l, stats_fn, out) != AK_OK)
        ak_warn("ledger: cannot read its counters");
}

void ak_ledger_note_internal(struct ak_ledger *l)
{
    if (!l || pthread_mutex_lock(&l->mu) != 0)
        return;
    l->stats.internal_errors++;
    pthread_mutex_unlock(&l->mu);
}

/* ---- meta: small text values for the collector and tools ---- */

struct meta_ctx { const char *key, *val; char *out; size_t len; };

static enum ak_err meta_get_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    struct meta_ctx *c = vctx;
    MDB_val key = ledger_text_val(c->key), data;
    int rc = mdb_get(txn, l->db_meta, &key, &data);
    if (rc == MDB_NOTFOUND)
        return AK_ERR_NOTFOUND;
    if (rc != 0)
        return ledger_mdb_fail(l, rc, "meta get");
    if (data.mv_size >= c->len)
        return AK_ERR_FULL;
    memcpy(c->out, data.mv_data, data.mv_size);
    c->out[data.mv_size] = '\0';
    return AK_OK;
}

static enum ak_err meta_put_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    struct meta_ctx *c = vctx;
    MDB_val key = ledger_text_val(c->key), data = ledger_text_val(c->val);
    int rc = mdb_put(txn, l->db_meta, &key, &data, 0);
    return rc ? ledger_mdb_fail(l, rc, "meta put") : AK_OK;
}

static bool meta_key_ok(const char *key)
{
    return ledger_name_ok(key) && strncmp(key, LEDGER_META_PREFIX, strlen(LEDGER_META_PREFIX)) != 0;
}

enum ak_err ak_ledger_meta_get(struct ak_ledger *l, const char *key, char *val, size_t len)
{
    if (!meta_key_ok(key) || !val || len == 0)
        return AK_ERR_INVAL;
    val[0] = '\0';
    struct meta_ctx c = { .key = key, .out = val, .len = len };
    return ledger_read(l, meta_get_fn, &c);
}

enum ak_err ak_ledger_meta_put(struct ak_ledger *l, const char *key, const char *val)
{
    if (!meta_key_ok(key) || !val)
        return AK_ERR_INVAL;
    struct meta_ctx c = { .key = key, .val = val };
    return ledger_write(l, meta_put_fn, &c);
}

/* Every meta key under a prefix, copied in one read transaction and handed over outside it. */
#define META_VAL_MAX 256

struct meta_item { char key[LEDGER_NAME_MAX + 1]; char val[META_VAL_MAX]; };
struct meta_each_ctx { const char *prefix; struct meta_item *items; size_t n, cap; };

static enum ak_err meta_each_visit(struct ak_ledger *l, const MDB_val *key, const MDB_val *data,
                                   void *vctx)
{
    struct meta_each_ctx *c = vctx;
    size_t pl = strlen(c->prefix);
    if (key->mv_size < pl || key->mv_size > LEDGER_NAME_MAX || memcmp(key->mv_data, c->prefix, pl) != 0)
        return AK_OK;
    enum ak_err err = ledger_grow((void **)&c->items, &c->cap, c->n, sizeof *c->items);
    if (err != AK_OK)
        return err;
    struct meta_item *it = &c->items[c->n++];
    memcpy(it->key, key->mv_data, key->mv_size);
    it->key[key->mv_size] = '\0';
    size_t vl = data->mv_size < META_VAL_MAX - 1 ? data->mv_size : META_VAL_MAX - 1;
    memcpy(it->val, data->mv_data, vl);
    it->val[vl] = '\0';
    return AK_OK;
}

static enum ak_err meta_each_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    ((struct meta_each_ctx *)vctx)->n = 0;
    return ledger_db_each(l, txn, l->db_meta, meta_each_visit, vctx);
}

enum ak_err ak_ledger_meta_each(struct ak_ledger *l, const char *prefix, ak_meta_iter_fn fn, void *ud)
{
    if (!fn || !prefix || !prefix[0] || strncmp(prefix, LEDGER_META_PREFIX, strlen(LEDGER_META_PREFIX)) == 0)
        return AK_ERR_INVAL;
    struct meta_each_ctx c = { .prefix = prefix };
    enum ak_err err = ledger_read(l, meta_each_fn, &c);
    for (size_t i = 0; err == AK_OK && i < c.n; i++)
        fn(c.items[i].key, c.items[i].val, ud);
    free(c.items);
    return err;
}
