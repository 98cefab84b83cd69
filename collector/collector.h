/*
 * collector.h - the akcollector process: its options, its running state, and the three
 * things it can do (run as a service, drain once, check the configuration).
 */
#ifndef AKC_COLLECTOR_H
#define AKC_COLLECTOR_H

#include "collector/alerts.h"
#include "collector/exporter.h"
#include "collector/fleet.h"
#include "core/config.h"
#include "core/ledger.h"

#include <limits.h>
#include <pthread.h>
#include <sys/un.h>

struct akd;

struct akc_opts {
    const char *config;           /* --config; NULL = AGENTKAVACH_CONFIG or the default path */
    const char *state_dir;        /* --state-dir; wins over the environment and the file */
    const char *pid_file;         /* --pid-file (with --daemon) */
    bool daemon, once, check;
};

struct akc {
    struct akc_opts opts;
    struct ak_config *cfg;
    char state_dir[PATH_MAX];
    struct ak_ledger *ledger;
    struct akc_exporter **ex;
    size_t n_ex;
    struct akc_alerts *alerts;
    int lock_fd;
    int sock;                     /* the poke socket; -1 when not listening */
    char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int64_t pending_warned_ms;    /* last "outbox above outbox_max_events" warning */
    int64_t reclaimed_ms;         /* last sweep of dead processes' reservations */
    struct akd *dash;             /* the dashboard (collector/dashboard.h); NULL = off */
    pthread_rwlock_t cfg_lock;    /* the dashboard's threads read cfg; a reload swaps it */
    struct akc_fleet *fleet;      /* fleet budgets' leases (collector/fleet.c) */
    int fleet_wait_ms;            /* the longest the service may sleep for them */
};

/* Takes the state_dir lock (one collector per state_dir) unless held already, opens the
 * ledger, builds the exporters and the alert engine. */
enum ak_err akc_start(struct akc *c);
void akc_stop(struct akc *c);

/* One pass: every due exporter, then the alert rules. *pending: something is left.
 * *next_due_ms: when a waiting exporter wants to run (0 = no wish). */
enum ak_err akc_pass(struct akc *c, bool force, bool *pending, int64_t *next_due_ms);

/* --once: drain everything and fire alerts; 0 when all was delivered, 1 otherwise. */
int akc_run_once(struct akc *c);
/* The service loop until SIGTERM/SIGINT; SIGHUP reloads. 0 on a clean stop. */
int akc_run_service(struct akc *c);
/* --check: prints one line per item; 0 when everything is usable. */
int akc_run_check(const struct akc_opts *o);

#endif
