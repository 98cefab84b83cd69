/*
 * main.c - akcollector's entry point: options, configuration, start-up and shut-down, one
 * pass of work (drain then alerts), --once and --daemon.
 *
 *   akcollector [--config F] [--state-dir D] [--daemon [--pid-file P]] [--once] [--check]
 *
 * Exit codes: 0 success; 1 failure (or, with --once, something left undelivered);
 * 2 bad usage.
 */
#include "collector/collector.h"
#include "collector/drain.h"
#include "collector/http.h"
#include "collector/logrl.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXIT_USAGE 2
#define LOCK_NAME "collector.lock"
#define LOCK_MODE 0600
#define STATE_DIR_MODE 0755     /* only when missing; the ledger owns its permissions */
#define DAEMON_UMASK 027
#define PENDING_WARN_EVERY_MS (60LL * 60 * 1000)
#define RECLAIM_EVERY_MS (30LL * 1000)

static void usage(FILE *f)
{
    fprintf(f, "usage: akcollector [--config FILE] [--state-dir DIR] [--daemon [--pid-file F]]"
               " [--once] [--check]\n");
}

static enum ak_err akc_lock(struct akc *c)
{
    char path[PATH_MAX];
    if (mkdir(c->state_dir, STATE_DIR_MODE) != 0 && errno != EEXIST) {
        ak_error("cannot create %s: %s", c->state_dir, strerror(errno));
        return AK_ERR_IO;
    }
    int n = snprintf(path, sizeof path, "%s/%s", c->state_dir, LOCK_NAME);
    if (n <= 0 || (size_t)n >= sizeof path)
        return AK_ERR_INVAL;
    c->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, LOCK_MODE);
    if (c->lock_fd < 0) {
        ak_error("cannot open %s: %s", path, strerror(errno));
        return AK_ERR_IO;
    }
    if (flock(c->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        ak_error("another akcollector is working on %s (%s is locked)", c->state_dir, path);
        return AK_ERR_BUSY;
    }
    return AK_OK;
}

enum ak_err akc_start(struct akc *c)
{
    enum ak_err err;
    if (c->lock_fd < 0 && (err = akc_lock(c)) != AK_OK)
        return err;
    if ((err = ak_ledger_open(c->state_dir, &c->ledger)) != AK_OK) {
        ak_error("cannot open the ledger in %s: %s", c->state_dir, ak_strerror(err));
        return err;
    }
    if ((err = akc_exporters_build(c->cfg, c->state_dir, &c->ex, &c->n_ex)) != AK_OK) {
        ak_error("cannot set up the exporters: %s", ak_strerror(err));
        return err;
    }
    if ((err = akc_fleet_new(c->cfg, &c->fleet)) != AK_OK)
        return err;
    return akc_alerts_new(&c->alerts);
}

void akc_stop(struct akc *c)
{
    akc_exporters_free(c->ex, c->n_ex);
    c->ex = NULL;
    c->n_ex = 0;
    akc_alerts_free(c->alerts);
    c->alerts = NULL;
    akc_fleet_free(c->fleet);
    c->fleet = NULL;
    if (c->ledger)
        ak_ledger_close(c->ledger);
    c->ledger = NULL;
    if (c->lock_fd >= 0)
        close(c->lock_fd);
    c->lock_fd = -1;
    ak_config_free(c->cfg);
    c->cfg = NULL;
}

/* The outbox bound: the ledger enforces the hard limit; here we only say so, hourly. */
static void akc_watch_outbox(struct akc *c, int64_t now)
{
    uint64_t pending = 0;
    if (c->cfg->outbox_max_events <= 0 || now - c->pending_warned_ms < PENDING_WARN_EVERY_MS ||
        ak_ledger_outbox_pending(c->ledger, &pending) != AK_OK ||
        pending <= (uint64_t)c->cfg->outbox_max_events)
        return;
    c->pending_warned_ms = now;
    ak_warn("outbox holds %llu undelivered events (outbox_max_events %lld): an exporter is "
            "failing; the ledger drops the oldest only when its map is full",
            (unsigned long long)pending, (long long)c->cfg->outbox_max_events);
}

static void akc_reclaim(struct akc *c, int64_t now)
{
    size_t n = 0;
    if (now - c->reclaimed_ms < RECLAIM_EVERY_MS)
        return;
    c->reclaimed_ms = now;
    if (ak_ledger_reclaim_dead(c->ledger, &n) == AK_OK && n)
        ak_info("released %zu reservations of processes that died", n);
}

enum ak_err akc_pass(struct akc *c, bool force, bool *pending, int64_t *next_due_ms)
{
    struct akc_drain_stats st;
    bool alerts_pending = false;
    int64_t now = ak_now_ms();
    c->fleet_wait_ms = INT_MAX;
    akc_fleet_pass(c->fleet, c->cfg, c->ledger, now, &c->fleet_wait_ms); /* first: calls wait */
    enum ak_err err = akc_drain(c->ledger, c->ex, c->n_ex, force, now, &st);
    if (err != AK_OK)
        akc_log_limited(AK_LOG_ERROR, "drain", "drain: %s", ak_strerror(err));
    enum ak_err aerr = akc_alerts_run(c->alerts, c->cfg, c->ledger, now, force, &alerts_pending);
    if (aerr != AK_OK)
        akc_log_limited(AK_LOG_ERROR, "alerts", "alerts: %s", ak_strerror(aerr));
    akc_watch_outbox(c, now);
    akc_reclaim(c, now);
    *pending = st.pending || alerts_pending || err != AK_OK || aerr != AK_OK;
    *next_due_ms = st.next_due_ms;
    return err != AK_OK ? err : aerr;
}

int akc_run_once(struct akc *c)
{
    bool pending = false;
    int64_t next = 0;
    (void)akc_pass(c, true, &pending, &next);
    return pending ? EXIT_FAILURE : EXIT_SUCCESS;
}

static int write_pid_file(const char *path)
{
    FILE *f = fopen(path, "we");
    if (!f) {
        ak_error("cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "%d\n", (int)getpid());
    return fclose(f) == 0 ? 0 : -1;
}

/* Double fork and setsid: the service is reparented to init and has no terminal. stderr is
 * kept for the log lines (point it at a file or journald). */
static int daemonize(const char *pid_file)
{
    pid_t p = fork();
    if (p < 0)
        return -1;
    if (p > 0)
        _exit(EXIT_SUCCESS);
    if (setsid() < 0)
        return -1;
    p = fork();
    if (p < 0)
        return -1;
    if (p > 0)
        _exit(EXIT_SUCCESS);
    umask(DAEMON_UMASK);
    if (chdir("/") != 0)
        return -1;
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0 || dup2(fd, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
        return -1;
    if (fd > STDERR_FILENO)
        close(fd);
    return pid_file ? write_pid_file(pid_file) : 0;
}

static int parse_args(int argc, char **argv, struct akc_opts *o)
{
    enum { OPT_PID = 1000 };
    static const struct option longs[] = {
        { "config", required_argument, NULL, 'c' }, { "state-dir", required_argument, NULL, 's' },
        { "daemon", no_argument, NULL, 'd' },       { "once", no_argument, NULL, 'o' },
        { "check", no_argument, NULL, 'k' },        { "pid-file", required_argument, NULL, OPT_PID },
        { "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "c:s:h", longs, NULL)) != -1) {
        switch (ch) {
        case 'c': o->config = optarg; break;
        case 's': o->state_dir = optarg; break;
        case 'd': o->daemon = true; break;
        case 'o': o->once = true; break;
        case 'k': o->check = true; break;
        case OPT_PID: o->pid_file = optarg; break;
        case 'h': usage(stdout); exit(EXIT_SUCCESS);
        default: return -1;
        }
    }
    if (optind != argc || (o->once + o->check + o->daemon) > 1)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    struct akc c;
    char err[AK_CONFIG_ERRLEN];
    int rc = EXIT_FAILURE;
    memset(&c, 0, sizeof c);
    c.lock_fd = c.sock = -1;
    if (pthread_rwlock_init(&c.cfg_lock, NULL) != 0)
        return EXIT_FAILURE;
    ak_log_init();
    if (parse_args(argc, argv, &c.opts) != 0) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (akc_http_global_init() != AK_OK) {
        ak_error("cannot initialise libcurl");
        return EXIT_FAILURE;
    }
    if (c.opts.check) {
        rc = akc_run_check(&c.opts);
        goto out;
    }
    err[0] = '\0';
    if (ak_config_resolve(c.opts.config, &c.cfg, err, sizeof err) != AK_OK) {
        ak_error("%s", err[0] ? err : "cannot load the configuration");
        goto out;
    }
    snprintf(c.state_dir, sizeof c.state_dir, "%s",
             c.opts.state_dir ? c.opts.state_dir : ak_config_state_dir(c.cfg));
    if (akc_lock(&c) != AK_OK) /* before daemonizing, so that a refusal is seen */
        goto out;
    if (c.opts.daemon && daemonize(c.opts.pid_file) != 0) {
        ak_error("cannot become a daemon: %s", strerror(errno));
        goto out;
    }
    if (akc_start(&c) != AK_OK)
        goto out;
    rc = c.opts.once ? akc_run_once(&c) : akc_run_service(&c);
out:
    akc_stop(&c);
    if (c.opts.daemon && c.opts.pid_file)
        unlink(c.opts.pid_file);
    akc_http_global_cleanup();
    return rc;
}
