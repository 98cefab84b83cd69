/*
 * fleetb.c - fleet budgets, measured on the shim's side and across hosts.
 *
 * usage: fleetb cost -d DIR -m host|fleet -n CALLS
 *   One process: CALLS x (ak_ledger_reserve + ak_ledger_commit with a ~400-byte event) against
 *   an agent's budget and a shared budget that is host-scoped, or fleet-scoped with a lease
 *   already granted (what the shim does for every call). Run under callgrind with
 *   --toggle-collect on the two functions for deterministic instructions per call (fleet.sh).
 * usage: fleetb hosts -d DIR -m host|fleet -r REDIS_PORT -c AKCOLLECTOR [-H HOSTS] [-P PROCS] [-t S]
 *               [-k CHUNK_USD]
 *   HOSTS simulated hosts (state dir, config, akcollector each) with PROCS processes each,
 *   looping reserve + commit for S seconds on one shared budget, fleet-scoped through one
 *   Redis or host-scoped; a refused lease is waited for as the engine does (want, poke, retry
 *   every 2 ms for at most lease.wait_ms). Prints calls/s per host and the refusals.
 */
#include "bench/benchlib.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/event.h"
#include "core/ledger.h"
#include "core/notify.h"

#define HOSTS_MAX 8
#define PROCS_MAX 16
#define WORST_CASE_MICROS 2000
#define COST_MICROS 150
#define LIMIT_MICROS (1000000LL * AK_MICROS_PER_USD)
#define LEASE_MICROS LIMIT_MICROS
#define LEASE_FOR_MS (3600LL * 1000)
#define WAIT_MS 100
#define RETRY_NS 2000000L
#define POKE_EVERY_NS 5000000LL
#define SETTLE_S 1
#define PATH_LEN 512
#define AGENT "bench-agent"
#define SHARED "bench-team"

struct report { long calls, refused; int failed; };

static char *event_json(size_t *len)
{
    struct ak_event ev = { .ts_ms = ak_now_ms(), .provider = AK_PROV_OPENAI,
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

static void refs_make(bool fleet, struct ak_budget_ref refs[2])
{
    refs[0] = (struct ak_budget_ref){ .scope = AK_SCOPE_AGENT, .name = AGENT,
                                      .type = AK_PERIOD_DAILY, .limit_micros = -1 };
    refs[1] = (struct ak_budget_ref){ .scope = AK_SCOPE_SHARED, .name = SHARED,
                                      .type = AK_PERIOD_DAILY, .limit_micros = LIMIT_MICROS,
                                      .fleet = fleet ? AK_REF_FLEET_HOLD : AK_REF_HOST };
}

/* The engine's wait for a top-up (engine/enforce.c reserve_wait_lease), without the engine. */
static enum ak_err reserve_waiting(struct ak_ledger *l, const char *sock, struct ak_reserve *r,
                                   struct ak_reserve_result *rr)
{
    enum ak_err e = ak_ledger_reserve(l, r, rr);
    int64_t start = bl_now_ns();
    struct timespec nap = { 0, RETRY_NS };
    while (e == AK_ERR_LIMIT && rr->failed_on_lease && rr->lease_may_grow &&
           bl_now_ns() - start < (int64_t)WAIT_MS * 1000000) {
        ak_ledger_fleet_want(l, &r->budgets[rr->failed], r->now_ms, rr->lease_target);
        ak_notify_collector_at(sock);
        nanosleep(&nap, NULL);
        e = ak_ledger_reserve(l, r, rr);
    }
    return e;
}

static struct report calls_loop(const char *dir, bool fleet, long n, double seconds)
{
    struct report rep = { 0 };
    struct ak_ledger *l = NULL;
    struct ak_budget_ref refs[2];
    char sock[PATH_LEN];
    size_t len = 0;
    char *json = event_json(&len);
    refs_make(fleet, refs);
    snprintf(sock, sizeof sock, "%s/%s", dir, AK_NOTIFY_SOCK_NAME);
    if (!json || ak_ledger_open(dir, &l) != AK_OK) {
        rep.failed = AK_ERR_IO;
        free(json);
        return rep;
    }
    int64_t end = seconds > 0 ? bl_now_ns() + (int64_t)(seconds * BL_NS_PER_S) : 0;
    int64_t last_poke = 0;
    for (long i = 0; n ? i < n : bl_now_ns() < end; i++) {
        int64_t now = ak_now_ms();
        struct ak_reserve r = { .agent = AGENT, .budgets = refs, .n_budgets = 2,
                                .amount_micros = WORST_CASE_MICROS, .pid = (int)getpid(),
                                .now_ms = now };
        struct ak_reserve_result rr;
        enum ak_err e = seconds > 0 ? reserve_waiting(l, sock, &r, &rr)
                                    : ak_ledger_reserve(l, &r, &rr);
        if (e == AK_ERR_LIMIT) {
            rep.refused++;
            continue;
        }
        struct ak_commit c = { .res_id = rr.res_id, .agent = AGENT, .budgets = refs,
                               .n_budgets = 2, .cost_micros = COST_MICROS, .count_call = true,
                               .event_json = json, .event_len = len, .now_ms = now };
        if (e != AK_OK || ak_ledger_commit(l, &c, NULL) != AK_OK) {
            rep.failed = e != AK_OK ? e : AK_ERR_IO;
            break;
        }
        rep.calls++;
        if (seconds > 0 && bl_now_ns() - last_poke > POKE_EVERY_NS) {
            ak_notify_collector_at(sock);
            last_poke = bl_now_ns();
        }
    }
    ak_ledger_close(l);
    free(json);
    return rep;
}

/* ---- cost ---- */

static int cmd_cost(const char *dir, bool fleet, long n)
{
    struct ak_ledger *l = NULL;
    struct ak_budget_ref refs[2];
    refs_make(fleet, refs);
    if (ak_ledger_open(dir, &l) != AK_OK)
        return 1;
    if (fleet && ak_ledger_fleet_sync(l, &refs[1], ak_now_ms(), LEASE_MICROS, 0,
                                      ak_now_ms() + LEASE_FOR_MS, 0) != AK_OK)
        return 1;
    ak_ledger_close(l);
    int64_t t0 = bl_now_ns();
    struct report rep = calls_loop(dir, fleet, n, 0);
    double ns = (double)(bl_now_ns() - t0) / (double)(rep.calls ? rep.calls : 1);
    printf("RESULT bench=fleet mode=cost-%s calls=%ld refused=%ld ns_per_call=%.0f failed=%d\n",
           fleet ? "fleet" : "host", rep.calls, rep.refused, ns, rep.failed);
    return rep.failed || rep.refused ? 1 : 0;
}

/* ---- hosts ---- */

static const char *chunk_usd = "5";

static int write_config(const char *path, const char *state, bool fleet, int port, int host)
{
    FILE *f = fopen(path, "we");
    if (!f)
        return -1;
    fprintf(f, "version: 1\nstate_dir: %s\nexporters:\n  jsonl: { fsync: never }\n"
               "shared_budgets:\n  " SHARED ": { budget: { type: daily, limit: %lld%s }, agents: [" AGENT "] }\n"
               "agents:\n  " AGENT ": { budget: none }\n"
               "fleet:\n  redis: { url: \"redis://127.0.0.1:%d\" }\n"
               "  lease: { chunk_usd: %s, low_water: 0.25, ttl: 30 }\n  host_id: bench-h%d\n",
            state, LIMIT_MICROS / AK_MICROS_PER_USD, fleet ? ", scope: fleet" : "", port,
            chunk_usd, host);
    return fclose(f);
}

static pid_t spawn_collector(const char *collector, const char *config)
{
    pid_t p = fork();
    if (p == 0) {
        setenv("AGENTKAVACH_LOG", "error", 1);
        execl(collector, collector, "--config", config, (char *)NULL);
        _exit(127);
    }
    return p;
}

static int cmd_hosts(const char *dir, bool fleet, int port, const char *collector, int hosts,
                     int procs, double seconds)
{
    char state[HOSTS_MAX][PATH_LEN], config[PATH_LEN];
    pid_t coll[HOSTS_MAX], kids[HOSTS_MAX * PROCS_MAX];
    int fds[HOSTS_MAX * PROCS_MAX][2];
    for (int h = 0; h < hosts; h++) {
        snprintf(state[h], sizeof state[h], "%s/h%d", dir, h + 1);
        snprintf(config, sizeof config, "%s/h%d.yaml", dir, h + 1);
        if (mkdir(state[h], 0755) != 0 || write_config(config, state[h], fleet, port, h + 1) != 0 ||
            (coll[h] = spawn_collector(collector, config)) < 0)
            return 1;
    }
    sleep(SETTLE_S);                  /* the collectors take their first leases */
    for (int h = 0; h < hosts; h++)
        for (int p = 0; p < procs; p++) {
            int k = h * procs + p;
            if (pipe(fds[k]) != 0)
                return 1;
            if ((kids[k] = fork()) == 0) {
                struct report rep = calls_loop(state[h], fleet, 0, seconds);
                ssize_t w = write(fds[k][1], &rep, sizeof rep);
                _exit(w == (ssize_t)sizeof rep ? 0 : 1);
            }
            close(fds[k][1]);
        }
    int rc = 0;
    for (int h = 0; h < hosts; h++) {
        long calls = 0, refused = 0;
        for (int p = 0; p < procs; p++) {
            int k = h * procs + p;
            struct report rep = { .failed = -1 };
            if (read(fds[k][0], &rep, sizeof rep) != (ssize_t)sizeof rep || rep.failed)
                rc = 1;
            close(fds[k][0]);
            waitpid(kids[k], NULL, 0);
            calls += rep.calls;
            refused += rep.refused;
        }
        printf("RESULT bench=fleet mode=hosts-%s host=%d procs=%d calls_per_s=%.0f refused=%ld\n",
               fleet ? "fleet" : "host", h + 1, procs, (double)calls / seconds, refused);
    }
    for (int h = 0; h < hosts; h++) {
        kill(coll[h], SIGTERM);
        waitpid(coll[h], NULL, 0);
    }
    return rc;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *mode = "host", *collector = NULL;
    long n = 1000;
    int port = 0, hosts = 3, procs = 4, ch;
    double seconds = 2.0;
    if (argc < 2)
        goto usage;
    const char *cmd = argv[1];
    optind = 2;
    while ((ch = getopt(argc, argv, "d:m:n:r:c:H:P:t:k:")) != -1) {
        switch (ch) {
        case 'd': dir = optarg; break;
        case 'm': mode = optarg; break;
        case 'n': n = atol(optarg); break;
        case 'r': port = atoi(optarg); break;
        case 'c': collector = optarg; break;
        case 'H': hosts = atoi(optarg); break;
        case 'P': procs = atoi(optarg); break;
        case 't': seconds = atof(optarg); break;
        case 'k': chunk_usd = optarg; break;
        default: goto usage;
        }
    }
    bool fleet = strcmp(mode, "fleet") == 0;
    if (!dir || (!fleet && strcmp(mode, "host") != 0))
        goto usage;
    if (strcmp(cmd, "cost") == 0 && n > 0)
        return cmd_cost(dir, fleet, n);
    if (strcmp(cmd, "hosts") == 0 && port > 0 && collector && hosts > 0 && hosts <= HOSTS_MAX &&
        procs > 0 && procs <= PROCS_MAX && seconds > 0)
        return cmd_hosts(dir, fleet, port, collector, hosts, procs, seconds);
usage:
    fprintf(stderr, "usage: fleetb cost -d DIR -m host|fleet -n CALLS\n"
                    "       fleetb hosts -d DIR -m host|fleet -r REDIS_PORT -c AKCOLLECTOR "
                    "[-H HOSTS] [-P PROCS] [-t SECONDS] [-k CHUNK_USD]\n");
    return 2;
}
