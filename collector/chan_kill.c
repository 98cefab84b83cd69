/*
 * chan_kill.c - the "kill" channel: suspends the agent in the ledger (manual = false, so it
 * lifts when the period that caused it turns), with the reason "alert threshold X reached".
 * For a shared budget every agent of that budget is suspended. The shim refuses the
 * agent's next call. Notices about refused calls never suspend anyone.
 *
 * Then the agent's on_kill, if configured: a signal to every live process that recorded a
 * call for the agent recently (pids from the event records, each checked against the exe it
 * recorded, so that a reused pid is never signalled), or a command run with AK_AGENT,
 * AK_REASON, AK_SPENT_USD and AK_PERIOD in its environment. The alert dedupe makes it once
 * per threshold and period.
 */
#include "collector/alert.h"
#include "collector/logrl.h"

#include "core/event.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define KILL_SCAN_EVENTS 5000     /* how far back the event records are searched for pids */
#define KILL_MAX_PIDS 256

struct pid_scan {
    const char *agent;
    uint64_t skip_until;          /* only the last KILL_SCAN_EVENTS records */
    int pids[KILL_MAX_PIDS];
    char exes[KILL_MAX_PIDS][AK_EV_HOST];
    size_t n;
};

static int pid_scan_event(uint64_t seq, const char *json, size_t len, void *ud)
{
    struct pid_scan *ps = ud;
    struct ak_event ev;
    if (seq <= ps->skip_until || ak_event_from_json(json, len, &ev) != AK_OK)
        return 0;
    bool mine = strcmp(ev.agent, ps->agent) == 0 && ev.pid > 0;
    for (size_t i = 0; mine && i < ps->n; i++)
        mine = ps->pids[i] != ev.pid;
    if (mine && ps->n < KILL_MAX_PIDS) {
        ps->pids[ps->n] = ev.pid;
        snprintf(ps->exes[ps->n], AK_EV_HOST, "%s", ev.exe);
        ps->n++;
    }
    ak_event_clear(&ev);
    return 0;
}

/* The process is alive and still runs the program that recorded the call. */
static bool pid_is_agent(int pid, const char *exe)
{
    char path[64], target[AK_EV_HOST];
    snprintf(path, sizeof path, "/proc/%d/exe", pid);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0)
        return false;
    target[n] = '\0';
    return strcmp(target, exe) == 0;
}

static void on_kill_signal(const char *agent, int sig, const struct akc_chan_ctx *ctx)
{
    struct pid_scan ps = { .agent = agent };
    uint64_t last = 0;
    if (ak_ledger_events_last_seq(ctx->ledger, &last) != AK_OK)
        return;
    ps.skip_until = last > KILL_SCAN_EVENTS ? last - KILL_SCAN_EVENTS : 0;
    if (ak_ledger_events_scan(ctx->ledger, ps.skip_until, KILL_SCAN_EVENTS, pid_scan_event, &ps) != AK_OK)
        return;
    for (size_t i = 0; i < ps.n; i++)
        if (ps.pids[i] != getpid() && pid_is_agent(ps.pids[i], ps.exes[i]) && kill(ps.pids[i], sig) == 0)
            ak_warn("on_kill: sent signal %d to process %d of agent %s", sig, ps.pids[i], agent);
}

static void on_kill_command(const char *agent, const char *cmd, const char *reason,
                            const struct akc_alert *a)
{
    char spent[32];
    snprintf(spent, sizeof spent, "%.6f", (double)a->spent_micros / AK_MICROS_PER_USD);
    pid_t pid = fork();
    if (pid < 0) {
        ak_error("on_kill: cannot run the command for %s", agent);
        return;
    }
    if (pid == 0) {               /* detach twice so that the collector reaps nothing later */
        if (fork() != 0)
            _exit(0);
        setenv("AK_AGENT", agent, 1);
        setenv("AK_REASON", reason, 1);
        setenv("AK_SPENT_USD", spent, 1);
        setenv("AK_PERIOD", a->period, 1);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    waitpid(pid, NULL, 0);
    ak_warn("on_kill: ran the command for agent %s", agent);
}

static void on_kill_run(const char *agent, const char *reason, const struct akc_alert *a,
                        const struct akc_chan_ctx *ctx)
{
    const struct ak_on_kill *k = &ak_config_agent_or_default(ctx->cfg, agent)->on_kill;
    if (k->command && k->command[0])
        on_kill_command(agent, k->command, reason, a);
    else if (k->signal > 0)
        on_kill_signal(agent, k->signal, ctx);
}

static enum akc_outcome kill_one(const char *agent, const struct akc_alert *a,
                                 const struct akc_chan_ctx *ctx)
{
    char reason[AK_REASON_LEN];
    snprintf(reason, sizeof reason, "alert threshold %g reached", a->threshold);
    enum ak_err err = ak_ledger_suspend(ctx->ledger, agent, reason, false, false, a->period, a->now_ms);
    if (err != AK_OK) {
        akc_log_limited(AK_LOG_ERROR, "kill", "kill channel: cannot suspend %s: %s", agent,
                        ak_strerror(err));
        return AKC_RETRY;
    }
    ak_warn("agent %s suspended: %s (%s budget, period %s)", agent, reason,
            akc_scope_name(a->scope), a->period);
    on_kill_run(agent, reason, a, ctx);
    return AKC_DELIVERED;
}

enum akc_outcome akc_kill_send(const struct akc_alert *a, const struct akc_chan_ctx *ctx)
{
    if (a->kind != AKC_ALERT_BUDGET)
        return AKC_DELIVERED;
    if (a->scope == AK_SCOPE_AGENT)
        return kill_one(a->name, a, ctx);
    enum akc_outcome out = AKC_DELIVERED;
    for (size_t i = 0; a->shared && i < a->shared->n_agents; i++)
        if (kill_one(a->shared->agents[i], a, ctx) != AKC_DELIVERED)
            out = AKC_RETRY;
    return out;
}
