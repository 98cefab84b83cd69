/*
 * ledgerb.c - the budget check and commit, as the shim does them for every metered call, on
 * the real ledger (core/ledger.h, LMDB): ak_ledger_reserve (the pre-call check) then
 * ak_ledger_commit with a ~400-byte event, from PROCS processes on one shared budget.
 *
 * usage: ledgerb -d STATE_DIR -P PROCS [-t SECONDS] [-r ROUND]
 * Children start together (a pipe is the starting gun), loop for SECONDS, and report their
 * call count and the medians of their reserve and commit latencies through a pipe. Prints
 * one RESULT line: calls per second over all processes, reserve and commit p50 (median of the
 * children's medians), and CPU per call.
 */
#include "bench/benchlib.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/event.h"
#include "core/ledger.h"

#define PROCS_MAX 64
#define SAMPLES_MAX 400000
#define DEFAULT_SECONDS 1.0
#define WORST_CASE_MICROS 2000    /* reserved before the call */
#define COST_MICROS 150           /* what the call really cost */
#define LIMIT_USD 1000000000LL    /* never reached */
#define AGENT "bench-agent"
#define SHARED "bench-team"

struct child_report {
    long calls;
    double reserve_p50_us, commit_p50_us;
    int failed;                   /* 0, or the enum ak_err that stopped it */
};

/* A realistic event record (the shape the shim writes), about 400 bytes. */
static char *event_json(size_t *len)
{
    struct ak_event ev = { .ts_ms = ak_now_ms(), .provider = AK_PROV_OPENAI, .stream = false,
                           .usage = { .input_tokens = 25, .output_tokens = 9 },
                           .cost_micros = COST_MICROS, .cost_source = AK_COST_USAGE,
                           .status = 200, .decision = AK_DEC_ALLOWED, .duration_ms = 412,
                           .pid = (int)getpid() };
    ak_event_new_id(ev.event_id);
    snprintf(ev.agent, sizeof ev.agent, "%s", AGENT);
    snprintf(ev.host, sizeof ev.host, "api.openai.com");
    snprintf(ev.operation, sizeof ev.operation, "chat");
    snprintf(ev.model, sizeof ev.model, "gpt-4o-mini-2024-07-18");
    snprintf(ev.exe, sizeof ev.exe, "/usr/bin/python3.11");
    snprintf(ev.key_fp, sizeof ev.key_fp, "0123456789ab");
    char *j = ak_event_to_json(&ev);
    if (j)
        *len = strlen(j);
    return j;
}

static void child_run(const char *dir, double seconds, int go_fd, int out_fd)
{
    struct child_report rep = { 0 };
    struct ak_ledger *l = NULL;
    size_t ev_len = 0;
    char *ev = event_json(&ev_len), gun;
    double *res_us = calloc(SAMPLES_MAX, sizeof *res_us);
    double *com_us = calloc(SAMPLES_MAX, sizeof *com_us);
    struct ak_budget_ref b[2] = {
        { AK_SCOPE_AGENT, AGENT, AK_PERIOD_DAILY, LIMIT_USD * AK_MICROS_PER_USD, 0 },
        { AK_SCOPE_SHARED, SHARED, AK_PERIOD_MONTHLY, LIMIT_USD * AK_MICROS_PER_USD, 0 },
    };
    rep.failed = AK_ERR_NOMEM;
    if (!ev || !res_us || !com_us)
        goto out;
    rep.failed = (int)ak_ledger_open(dir, &l);
    if (rep.failed != AK_OK || read(go_fd, &gun, 1) < 0)
        goto out;
    int64_t end = bl_now_ns() + (int64_t)(seconds * BL_NS_PER_S);
    while (bl_now_ns() < end && rep.calls < SAMPLES_MAX) {
        int64_t now = ak_now_ms(), t0 = bl_now_ns();
        struct ak_reserve r = { AGENT, b, AK_ARRAY_LEN(b), WORST_CASE_MICROS, (int)getpid(), now };
        struct ak_reserve_result rr;
        rep.failed = (int)ak_ledger_reserve(l, &r, &rr);
        int64_t t1 = bl_now_ns();
        struct ak_commit cm = { .res_id = rr.res_id, .agent = AGENT, .budgets = b,
                                .n_budgets = AK_ARRAY_LEN(b), .cost_micros = COST_MICROS,
                                .count_call = true, .body_hash = (uint64_t)rep.calls + 1,
                                .event_json = ev, .event_len = ev_len, .now_ms = now };
        if (rep.failed == AK_OK)
            rep.failed = (int)ak_ledger_commit(l, &cm, NULL);
        if (rep.failed != AK_OK)
            goto out;
        res_us[rep.calls] = (double)(t1 - t0) / BL_NS_PER_US;
        com_us[rep.calls] = (double)(bl_now_ns() - t1) / BL_NS_PER_US;
        rep.calls++;
    }
    rep.reserve_p50_us = bl_median(res_us, (size_t)rep.calls);
    rep.commit_p50_us = bl_median(com_us, (size_t)rep.calls);
out:
    if (l)
        ak_ledger_close(l);
    if (write(out_fd, &rep, sizeof rep) != (ssize_t)sizeof rep)
        _exit(1);
    _exit(rep.failed == AK_OK ? 0 : 1);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int procs = 1, round = 0, opt, go[2], out[2];
    double seconds = DEFAULT_SECONDS, res[PROCS_MAX], com[PROCS_MAX];
    while ((opt = getopt(argc, argv, "d:P:t:r:")) != -1) {
        switch (opt) {
        case 'd': dir = optarg; break;
        case 'P': procs = atoi(optarg); break;
        case 't': seconds = atof(optarg); break;
        case 'r': round = atoi(optarg); break;
        default: goto usage;
        }
    }
    if (!dir || procs < 1 || procs > PROCS_MAX || seconds <= 0)
        goto usage;
    if (pipe(go) != 0 || pipe(out) != 0)
        return 1;
    for (int i = 0; i < procs; i++) {
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0) {
            close(go[1]);
            child_run(dir, seconds, go[0], out[1]);
        }
    }
    close(go[0]);
    close(out[1]);
    usleep(200000);               /* let every child open the ledger before the gun */
    int64_t c0 = bl_cpu_ns(RUSAGE_CHILDREN), t0 = bl_now_ns();
    close(go[1]);
    long calls = 0;
    int failed = 0;
    for (int i = 0; i < procs; i++) {
        struct child_report rep = { .failed = AK_ERR_IO };
        if (read(out[0], &rep, sizeof rep) != (ssize_t)sizeof rep || rep.failed != AK_OK) {
            fprintf(stderr, "ledgerb: a child failed: %s\n",
                    ak_strerror((enum ak_err)rep.failed));
            failed = 1;
            rep.calls = 0;
        }
        calls += rep.calls;
        res[i] = rep.reserve_p50_us;
        com[i] = rep.commit_p50_us;
    }
    while (wait(NULL) > 0)
        ;
    double wall = (double)(bl_now_ns() - t0) / BL_NS_PER_S;
    double cpu = (double)(bl_cpu_ns(RUSAGE_CHILDREN) - c0) / BL_NS_PER_US;
    if (failed || calls == 0)
        return 1;
    printf("RESULT bench=ledger mode=p%d round=%d calls_s=%.0f reserve_p50_us=%.2f "
           "commit_p50_us=%.2f cpu_us_per_call=%.2f\n", procs, round, (double)calls / wall,
           bl_median(res, (size_t)procs), bl_median(com, (size_t)procs), cpu / (double)calls);
    return 0;
usage:
    fprintf(stderr, "usage: ledgerb -d STATE_DIR -P PROCS [-t SECONDS] [-r ROUND]\n");
    return 2;
}
