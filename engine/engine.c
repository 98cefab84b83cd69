/*
 * engine.c - libakengine.so's entry point and process context.
 *
 * The stub dlopens this library on the first TLS connection to an LLM host (or to a host it
 * must ask about) and calls ak_engine_get(). init() reads the config and the price table once;
 * the ledger is opened on the first metered call. A config that cannot be read is logged in
 * one line and the engine declines: every call then passes through unmetered (never a crash,
 * never a blocked agent because of our own fault).
 */
#include "engine/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/econn.h"

#define ENGINE_EXIT_DRAIN_MS 500       /* longest an exiting process waits for a held ledger */

struct engine eng = { .lock = PTHREAD_MUTEX_INITIALIZER, .prices_once = PTHREAD_ONCE_INIT,
                      .identity_once = PTHREAD_ONCE_INIT };

void engine_internal_error(const char *what)
{
    unsigned long n = atomic_fetch_add(&eng.internal_errors, 1);
    ak_ledger_note_internal(eng.ledger);   /* host-wide, with the next commit */
    if (n < 3)
        ak_error("internal error: %s (counted; the call is not metered)", what);
}

static int engine_load_config(void)
{
    char err[AK_CONFIG_ERRLEN] = "";
    enum ak_err e = ak_config_resolve(NULL, &eng.cfg, err, sizeof err);
    if (e != AK_OK) {
        /* Fail open, loudly, and keep a record: the embedded defaults, nothing enforced,
         * every call recorded as unmetered with the reason (state in AGENTKAVACH_STATE_DIR or
         * the default state_dir). */
        ak_error("%s; LLM calls go through unenforced and are recorded as unmetered",
                 err[0] ? err : ak_strerror(e));
        snprintf(eng.config_error, sizeof eng.config_error, "invalid configuration: %s",
                 err[0] ? err : ak_strerror(e));
        if (ak_config_defaults(&eng.cfg) != AK_OK)
            return -1;
    }
    return 0;
}

static int engine_init(void)
{
    ak_log_init();
    ak_time_pin_env();
    if (engine_load_config() != 0)
        return -1;
    if (eng.cfg->mode == AK_MODE_OFF) {
        ak_info("mode: off; LLM calls pass through");
        return -1;
    }
    snprintf(eng.state_dir, sizeof eng.state_dir, "%s", ak_config_state_dir(eng.cfg));
    eng.self.pid = (int)getpid();
    eng.self.uid = (unsigned)geteuid();
    eng.self.start_ms = ak_now_ms();
    eng.self.plane = AK_PLANE_INPROC;
    return 0;
}

/* Who this process is, worked out on its first LLM connection (it reads /proc and the user
 * database: nothing a process that only asked about a host should pay for). */
static void engine_identify(void)
{
    identity_resolve(eng.cfg, eng.self.agent, sizeof eng.self.agent, eng.self.exe,
                     sizeof eng.self.exe);
    ak_debug("metering as agent '%s', state in %s", eng.self.agent, eng.state_dir);
}

void engine_whoami(void)
{
    pthread_once(&eng.identity_once, engine_identify);
}

/* The price table, read on the first metered call: a process whose TLS goes to hosts that
 * only the config can name loads the engine to ask, and should not pay for the table. */
static void engine_load_prices(void)
{
    char err[AK_CONFIG_ERRLEN] = "";
    if (ak_prices_load_default(eng.cfg, &eng.prices, err, sizeof err) != AK_OK) {
        ak_error("price table: %s; calls are recorded with cost_source unpriced", err);
        eng.prices = NULL;
    }
}

const struct ak_prices *engine_prices(void)
{
    pthread_once(&eng.prices_once, engine_load_prices);
    return eng.prices;
}

struct ak_ledger *engine_ledger(void)
{
    pthread_mutex_lock(&eng.lock);
    if (!eng.ledger && !eng.ledger_failed) {
        enum ak_err e = ak_ledger_open(eng.state_dir, &eng.ledger);
        if (e == AK_OK && ak_ledger_set_wait_ms(eng.ledger, eng.cfg->ledger_wait_ms) != AK_OK)
            ak_warn("ledger: no bound on the wait for its lock (cannot start its writer)");
        if (e != AK_OK) {
            eng.ledger_failed = true;
            ak_error("cannot open the ledger in %s: %s; calls are %s", eng.state_dir,
                     ak_strerror(e),
                     eng.cfg->on_error == AK_ON_ERROR_CLOSED ? "refused (on_error: closed)"
                                                             : "not metered (on_error: open)");
        }
    }
    struct ak_ledger *l = eng.ledger;
    pthread_mutex_unlock(&eng.lock);
    return l;
}

static int engine_classify(const char *host, int port)
{
    if (!eng.cfg)
        return 0;
    return (int)ak_config_host_provider(eng.cfg, host, port);
}

/* At exit: writes queued behind a held ledger get a last, bounded chance (the handle is not
 * closed: other threads may still be using it). */
__attribute__((destructor)) static void engine_fini(void)
{
    if (eng.ledger && eng.self.pid == (int)getpid())
        ak_ledger_drain(eng.ledger, ENGINE_EXIT_DRAIN_MS);
}

/* In a forked child: the parent's LMDB handle must not be used; a new one opens on demand. */
static void engine_atfork_child(void)
{
    pthread_mutex_init(&eng.lock, NULL);
    if (eng.ledger)
        ak_ledger_forget(eng.ledger);
    eng.ledger = NULL;
    eng.ledger_failed = false;
    eng.self.pid = (int)getpid();
    atomic_store(&eng.last_poke_ms, 0);
}

bool engine_cut_requested(const char *agent, int64_t *next_check_ms)
{
    struct ak_ledger *l = eng.ledger;
    struct ak_agent_flags f;
    struct timespec ts;           /* a coarse monotonic clock: this runs on every read */
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    int64_t now = (int64_t)ts.tv_sec * AK_MS_PER_S + ts.tv_nsec / AK_NS_PER_MS;
    if (!l || now < *next_check_ms)
        return false;
    *next_check_ms = now + CUT_CHECK_MS;
    if (ak_ledger_agent_get(l, agent, &f) == AK_OK && f.suspended && f.cut_streams)
        return true;
    return ak_ledger_agent_get(l, AK_AGENT_ALL, &f) == AK_OK && f.suspended && f.cut_streams;
}

static int engine_http2_native(void)
{
    return eng.cfg && eng.cfg->http2 == AK_HTTP2_NATIVE;
}

/* akproxy on SIGHUP: the new config replaces the old one for every call decided from now on.
 * The old one is not freed: exchanges in flight hold budget names that point into it (a few
 * kilobytes per reload, in a daemon that reloads by hand). */
static int engine_reload(void)
{
    struct ak_config *old = eng.cfg;
    char keep_error[sizeof eng.config_error];
    memcpy(keep_error, eng.config_error, sizeof keep_error);
    eng.config_error[0] = '\0';
    if (engine_load_config() != 0 || eng.config_error[0]) {
        if (eng.cfg != old)
            ak_config_free(eng.cfg);
        eng.cfg = old;
        memcpy(eng.config_error, keep_error, sizeof keep_error);
        return -1;
    }
    return 0;
}

static int engine_peer_identify(struct ak_peer *who, char *why, size_t why_len)
{
    identity_resolve_peer(eng.cfg, who);
    return identity_peer_allowed(eng.cfg, who->agent, who->uid, why, why_len) ? 0 : -1;
}

static const struct ak_engine_api engine_api = {
    .abi = AK_ENGINE_ABI,
    .init = engine_init,
    .classify = engine_classify,
    .conn_new = econn_new,
    .on_write = econn_on_write,
    .on_sent = econn_on_sent,
    .on_read = econn_on_read,
    .on_eof = econn_on_eof,
    .conn_free = econn_free,
    .atfork_child = engine_atfork_child,
    .conn_new_peer = econn_new_peer,
    .reload = engine_reload,
    .peer_identify = engine_peer_identify,
    .record_unmetered = econn_record_unmetered,
    .http2_native = engine_http2_native,
};

__attribute__((visibility("default"))) const struct ak_engine_api *ak_engine_get(void)
{
    return &engine_api;
}
