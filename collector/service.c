/*
 * service.c - akcollector as a long-running service.
 *
 * Waking: the shim pokes the datagram socket <state_dir>/collector.sock (core/notify.h)
 * after each commit; ppoll() waits on it with a 1 s sweep as the fallback, shortened when
 * an exporter's backoff or export interval ends sooner. Signals are blocked except inside
 * ppoll(), so none is lost between a check and the wait.
 * SIGTERM/SIGINT: one last forced pass (flush), then exit 0. SIGHUP: reload the
 * configuration; a bad new file keeps the old one running (one log line).
 */
#include "collector/collector.h"
#include "collector/dashboard.h"
#include "collector/logrl.h"
#include "core/notify.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define SWEEP_MS 1000
#define SOCK_MODE 0666            /* any local process may poke; a poke carries nothing */
#define POKE_BUF 64

static volatile sig_atomic_t got_stop, got_hup;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        got_hup = 1;
    else
        got_stop = 1;
}

static int signals_setup(sigset_t *wait_mask)
{
    sigset_t block;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &block, wait_mask) != 0)
        return -1;
    sigdelset(wait_mask, SIGTERM);
    sigdelset(wait_mask, SIGINT);
    sigdelset(wait_mask, SIGHUP);
    signal(SIGPIPE, SIG_IGN);
    return sigaction(SIGTERM, &sa, NULL) | sigaction(SIGINT, &sa, NULL) | sigaction(SIGHUP, &sa, NULL);
}

/* The configured socket, unless it is merely the default of another state_dir (the file's,
 * when --state-dir points elsewhere): then <state_dir>/collector.sock. */
static const char *socket_configured(const struct akc *c)
{
    char dflt[sizeof c->sock_path];
    const char *cs = c->cfg->collector_socket;
    if (!cs || !ak_notify_socket_path(ak_config_state_dir(c->cfg), NULL, dflt, sizeof dflt))
        return cs;
    return strcmp(cs, dflt) == 0 ? NULL : cs;
}

/* Binds the poke socket; a stale file from a dead collector is replaced (we hold the lock). */
static int socket_bind(struct akc *c)
{
    struct sockaddr_un sa;
    if (!ak_notify_socket_path(c->state_dir, socket_configured(c), c->sock_path,
                               sizeof c->sock_path)) {
        ak_error("collector socket path too long");
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, c->sock_path, strlen(c->sock_path) + 1);
    if ((unlink(c->sock_path) != 0 && errno != ENOENT) ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || chmod(c->sock_path, SOCK_MODE) != 0) {
        ak_error("cannot listen on %s: %s", c->sock_path, strerror(errno));
        close(fd);
        return -1;
    }
    c->sock = fd;
    return 0;
}

static void socket_close(struct akc *c)
{
    if (c->sock < 0)
        return;
    close(c->sock);
    c->sock = -1;
    unlink(c->sock_path);
}

static void socket_drain(int fd)
{
    char buf[POKE_BUF];
    while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) >= 0)
        ;
}

static void service_reload(struct akc *c)
{
    struct ak_config *cfg = NULL;
    struct akc_exporter **ex = NULL;
    size_t n = 0;
    char err[AK_CONFIG_ERRLEN];
    err[0] = '\0';
    if (ak_config_resolve(c->opts.config, &cfg, err, sizeof err) != AK_OK) {
        ak_error("reload refused, keeping the running configuration: %s", err);
        return;
    }
    const char *sd = c->opts.state_dir ? c->opts.state_dir : ak_config_state_dir(cfg);
    if (strcmp(sd, c->state_dir) != 0)
        ak_warn("reload: state_dir changed to %s; restart akcollector to use it", sd);
    enum ak_err e = akc_exporters_build(cfg, c->state_dir, &ex, &n);
    if (e != AK_OK) {
        ak_error("reload refused, keeping the running configuration: exporters: %s", ak_strerror(e));
        ak_config_free(cfg);
        return;
    }
    pthread_rwlock_wrlock(&c->cfg_lock);
    akc_exporters_free(c->ex, c->n_ex);
    ak_config_free(c->cfg);
    c->ex = ex;
    c->n_ex = n;
    c->cfg = cfg;
    pthread_rwlock_unlock(&c->cfg_lock);
    ak_info("configuration reloaded%s", c->dash ? " (dashboard settings take a restart)" : "");
}

static int wait_ms(int64_t next_due, int64_t now)
{
    int64_t t = SWEEP_MS;
    if (next_due && next_due - now < t)
        t = next_due > now ? next_due - now : 0;
    return (int)t;
}

int akc_run_service(struct akc *c)
{
    sigset_t wait_mask;
    if (signals_setup(&wait_mask) != 0 || socket_bind(c) != 0)
        return EXIT_FAILURE;
    if (akc_dash_start(c) != AK_OK) {
        socket_close(c);
        return EXIT_FAILURE;
    }
    ak_info("akcollector listening on %s (state %s)", c->sock_path, c->state_dir);
    while (!got_stop) {
        bool pending = false;
        int64_t next_due = 0;
        (void)akc_pass(c, false, &pending, &next_due); /* pending: the sweep retries it */
        akc_dash_publish(c);
        if (got_stop)
            break;
        int t = wait_ms(next_due, ak_now_ms());
        if (c->fleet_wait_ms < t)
            t = c->fleet_wait_ms;
        struct timespec ts = { .tv_sec = t / AK_MS_PER_S, .tv_nsec = (long)(t % AK_MS_PER_S) * AK_NS_PER_MS };
        struct pollfd pfd = { .fd = c->sock, .events = POLLIN };
        int r = ppoll(&pfd, 1, &ts, &wait_mask);
        if (r > 0 && (pfd.revents & POLLIN))
            socket_drain(c->sock);
        if (got_hup) {
            got_hup = 0;
            service_reload(c);
        }
    }
    akc_dash_stop(c);
    socket_close(c);
    bool pending = false;
    int64_t next_due = 0;
    (void)akc_pass(c, true, &pending, &next_due); /* flush what can be flushed */
    akc_fleet_stop(c->fleet, c->cfg, c->ledger, ak_now_ms()); /* give unused leases back */
    ak_info("akcollector stopped%s", pending ? " (some events wait for the next start)" : "");
    return EXIT_SUCCESS;
}
