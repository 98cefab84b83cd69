/*
 * akctl_events.c - `akctl events`: the ledger's event table, filtered by agent and time,
 * one line per event (human) or the exact JSON records (--json), optionally the last N only,
 * and with --follow a 200 ms poll for new events until SIGINT/SIGTERM.
 */
#include "tools/akctl.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/event.h"

#define SCAN_BATCH 1000
#define FOLLOW_POLL_NS (200L * 1000 * 1000)
#define TIME_TEXT 32

struct events_run {
    bool json;
    const char *agent;            /* NULL = every agent */
    bool has_since;
    int64_t since_ms;
    long limit;                   /* 0 = all */
    char **ring;                  /* last `limit` matching records (with --limit) */
    size_t ring_next, ring_n;
    uint64_t last_seq;
    size_t unreadable;
    enum ak_err rc;
};

static volatile sig_atomic_t events_stop;

static void events_on_signal(int sig)
{
    (void)sig;
    events_stop = 1;
}

/* ---- the iterator over parsed records ---- */

struct each_run {
    akctl_event_fn fn;
    void *ud;
    uint64_t *after_seq;
    size_t *unreadable;
    size_t seen;
    bool stopped;
};

static int each_on_record(uint64_t seq, const char *json, size_t len, void *ud)
{
    struct each_run *r = ud;
    struct ak_event ev;
    r->seen++;
    if (seq > *r->after_seq)
        *r->after_seq = seq;
    memset(&ev, 0, sizeof ev);
    if (ak_event_from_json(json, len, &ev) != AK_OK) {
        if (r->unreadable)
            (*r->unreadable)++;
        ak_event_clear(&ev);
        return 0;
    }
    int stop = r->fn(seq, json, len, &ev, r->ud);
    ak_event_clear(&ev);
    r->stopped = stop != 0;
    return stop;
}

enum ak_err akctl_events_each(struct ak_ledger *l, uint64_t *after_seq, akctl_event_fn fn,
                              void *ud, size_t *unreadable)
{
    struct each_run r = { fn, ud, after_seq, unreadable, 0, false };
    do {
        r.seen = 0;
        enum ak_err rc = ak_ledger_events_scan(l, *after_seq, SCAN_BATCH, each_on_record, &r);
        if (rc != AK_OK)
            return rc;
    } while (r.seen > 0 && !r.stopped);
    return AK_OK;
}

/* ---- akctl events ---- */

static void event_print_human(const struct ak_event *ev)
{
    char ts[TIME_TEXT], cost[TIME_TEXT];
    ak_time_format(ev->ts_ms, ts, sizeof ts);
    ak_usd_format(ev->cost_micros, cost, sizeof cost);
    printf("%s  %s  %s  %s  in=%lld out=%lld  %s  %s  %s  %s\n", ts, ev->agent,
           ak_provider_name(ev->provider), ev->model[0] ? ev->model : "-",
           (long long)ev->usage.input_tokens, (long long)ev->usage.output_tokens, cost,
           ak_decision_name(ev->decision), ak_plane_name(ev->plane),
           ev->reason[0] ? ev->reason : "-");
}

/* Prints one stored record (a NUL-terminated JSON text) kept by --limit. */
static void event_print_stored(const struct events_run *run, const char *json)
{
    struct ak_event ev;
    if (run->json) {
        printf("%s\n", json);
        return;
    }
    memset(&ev, 0, sizeof ev);
    if (ak_event_from_json(json, strlen(json), &ev) == AK_OK)
        event_print_human(&ev);
    ak_event_clear(&ev);
}

static int events_on_record(uint64_t seq, const char *json, size_t len,
                            const struct ak_event *ev, void *ud)
{
    struct events_run *run = ud;
    if ((run->agent && strcmp(ev->agent, run->agent) != 0) ||
        (run->has_since && ev->ts_ms < run->since_ms))
        return 0;
    if (!run->ring) {                       /* no --limit: print as we go */
        if (run->json)
            printf("%.*s\n", (int)len, json);
        else
            event_print_human(ev);
        return 0;
    }
    char *copy = strndup(json, len);
    if (!copy) {
        run->rc = AK_ERR_NOMEM;
        return 1;
    }
    free(run->ring[run->ring_next]);
    run->ring[run->ring_next] = copy;
    run->ring_next = (run->ring_next + 1) % (size_t)run->limit;
    if (run->ring_n < (size_t)run->limit)
        run->ring_n++;
    return 0;
}

static enum ak_err events_drain(struct ak_ledger *l, struct events_run *run)
{
    enum ak_err rc = akctl_events_each(l, &run->last_seq, events_on_record, run, &run->unreadable);
    return rc != AK_OK ? rc : run->rc;
}

static void events_ring_flush(struct events_run *run)
{
    if (!run->ring)
        return;
    size_t start = (run->ring_next + (size_t)run->limit - run->ring_n) % (size_t)run->limit;
    for (size_t i = 0; i < run->ring_n; i++) {
        size_t k = (start + i) % (size_t)run->limit;
        event_print_stored(run, run->ring[k]);
        free(run->ring[k]);
        run->ring[k] = NULL;
    }
    free(run->ring);
    run->ring = NULL;     /* from here on (--follow) records print as they come */
    run->ring_n = 0;
}

static enum ak_err events_follow(struct ak_ledger *l, struct events_run *run)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = events_on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
        return AK_ERR_INTERNAL;
    while (!events_stop) {
        const struct timespec poll = { 0, FOLLOW_POLL_NS };
        nanosleep(&poll, NULL);              /* EINTR on a signal: the loop test ends it */
        enum ak_err rc = events_drain(l, run);
        if (rc != AK_OK)
            return rc;
        fflush(stdout);
    }
    return AK_OK;
}

static int events_parse(int argc, char **argv, struct events_run *run, bool *follow)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' },
        { "agent", required_argument, NULL, 'a' },
        { "since", required_argument, NULL, 's' },
        { "follow", no_argument, NULL, 'f' },
        { "limit", required_argument, NULL, 'n' },
        { 0, 0, 0, 0 },
    };
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, AKCTL_OPTSTRING, opts, NULL)) != -1) {
        switch (c) {
        case 'j': run->json = true; break;
        case 'a': run->agent = optarg; break;
        case 'f': *follow = true; break;
        case 's':
            if (akctl_opt_since("events", optarg, &run->since_ms) != AKCTL_EXIT_OK)
                return AKCTL_EXIT_USAGE;
            run->has_since = true;
            break;
        case 'n':
            if (!akctl_parse_count(optarg, &run->limit) || run->limit <= 0)
                return akctl_usage("events", "--limit needs a positive number, not '%s'", optarg);
            break;
        default: return akctl_opt_error("events", c, argv);
        }
    }
    if (optind < argc)
        return akctl_usage("events", "unexpected argument '%s'", argv[optind]);
    return AKCTL_EXIT_OK;
}

int akctl_cmd_events(struct akctl *ctx, int argc, char **argv)
{
    struct events_run run = { 0 };
    bool follow = false;
    int code = events_parse(argc, argv, &run, &follow);
    if (code != AKCTL_EXIT_OK)
        return code;
    code = akctl_ledger(ctx);
    if (code != AKCTL_EXIT_OK)
        return code;
    if (run.limit > 0) {
        run.ring = calloc((size_t)run.limit, sizeof *run.ring);
        if (!run.ring)
            return akctl_fail("events: out of memory");
    }
    enum ak_err rc = events_drain(ctx->ledger, &run);
    events_ring_flush(&run);
    fflush(stdout);
    if (rc == AK_OK && follow)
        rc = events_follow(ctx->ledger, &run);
    if (run.unreadable > 0)
        fprintf(stderr, "akctl: events: %zu unreadable records skipped\n", run.unreadable);
    if (rc != AK_OK)
        code = akctl_fail("events: %s", ak_strerror(rc));
    events_ring_flush(&run);
    return code;
}
