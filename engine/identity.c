/*
 * identity.c - who is calling: the agent name of this process, or of a client process that
 * akproxy found behind a socket (the egress plane).
 * For this process AGENTKAVACH_AGENT wins; otherwise (and always for a peer) the first
 * identity rule whose every given pattern matches (exe: /proc/PID/exe, argv0: the first word
 * of /proc/PID/cmdline, user: the effective user); otherwise identity.default, where {exe}
 * {user} {argv0} are replaced.
 *
 * Who may be which agent (the egress plane, where the name is claimed in the proxy URL):
 * root may be any agent; an agent whose config lists `users:` may be spent as only by those
 * users; an agent without `users:` by any user. The same check applies to a name the rules
 * gave, so a program of bob's is never charged to alice's agent.
 */
#include "engine/engine.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CMDLINE_MAX 4096

struct whoami {
    char exe[ENG_EXE_LEN];        /* full path */
    const char *exe_base;
    char argv0[ENG_EXE_LEN];
    const char *argv0_base;
    char user[64];
};

static void user_name(unsigned uid, char *out, size_t len)
{
    struct passwd pw, *res = NULL;
    char buf[CMDLINE_MAX];
    if (getpwuid_r((uid_t)uid, &pw, buf, sizeof buf, &res) == 0 && res)
        snprintf(out, len, "%s", res->pw_name);
    else
        snprintf(out, len, "%u", uid);
}

/* pid "self" or a number; uid the effective user of that process. */
static void whoami_read(struct whoami *w, const char *pid, unsigned uid)
{
    char path[64];
    memset(w, 0, sizeof *w);
    snprintf(path, sizeof path, "/proc/%s/exe", pid);
    ssize_t n = readlink(path, w->exe, sizeof w->exe - 1);
    if (n < 0)
        n = 0;
    w->exe[n] = '\0';
    const char *slash = strrchr(w->exe, '/');
    w->exe_base = slash ? slash + 1 : w->exe;

    snprintf(path, sizeof path, "/proc/%s/cmdline", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, w->argv0, sizeof w->argv0 - 1);
        w->argv0[n > 0 ? n : 0] = '\0';
        close(fd);
    }
    slash = strrchr(w->argv0, '/');
    w->argv0_base = slash ? slash + 1 : w->argv0;
    user_name(uid, w->user, sizeof w->user);
}

static bool rule_matches(const struct ak_identity_rule *r, const struct whoami *w)
{
    if (r->match_exe && fnmatch(r->match_exe, w->exe, 0) != 0 &&
        fnmatch(r->match_exe, w->exe_base, 0) != 0)
        return false;
    if (r->match_argv0 && fnmatch(r->match_argv0, w->argv0, 0) != 0 &&
        fnmatch(r->match_argv0, w->argv0_base, 0) != 0)
        return false;
    if (r->match_user && strcmp(r->match_user, w->user) != 0)
        return false;
    return true;
}

/* Replaces {exe} {user} {argv0} in tmpl. */
static void expand(const char *tmpl, const struct whoami *w, char *out, size_t len)
{
    size_t o = 0;
    for (const char *p = tmpl; *p && o + 1 < len; p++) {
        const char *val = NULL;
        size_t skip = 0;
        if (strncmp(p, "{exe}", 5) == 0)
            val = w->exe_base, skip = 5;
        else if (strncmp(p, "{user}", 6) == 0)
            val = w->user, skip = 6;
        else if (strncmp(p, "{argv0}", 7) == 0)
            val = w->argv0_base, skip = 7;
        if (!val) {
            out[o++] = *p;
            continue;
        }
        int n = snprintf(out + o, len - o, "%s", val);
        o += n > 0 ? (size_t)n : 0;
        if (o >= len)
            o = len - 1;
        p += skip - 1;
    }
    out[o] = '\0';
}

static void identity_by_rules(const struct ak_config *cfg, const struct whoami *w, char *agent,
                              size_t agent_len)
{
    for (size_t i = 0; cfg && i < cfg->n_identity_rules; i++)
        if (rule_matches(&cfg->identity_rules[i], w)) {
            expand(cfg->identity_rules[i].agent, w, agent, agent_len);
            return;
        }
    expand(cfg && cfg->identity_default ? cfg->identity_default : "{exe}", w, agent, agent_len);
    if (!*agent)
        snprintf(agent, agent_len, "unknown");
}

void identity_resolve(const struct ak_config *cfg, char *agent, size_t agent_len,
                      char *exe, size_t exe_len)
{
    struct whoami w;
    whoami_read(&w, "self", (unsigned)geteuid());
    snprintf(exe, exe_len, "%s", w.exe);
    const char *env = getenv("AGENTKAVACH_AGENT");
    if (env && *env) {
        snprintf(agent, agent_len, "%s", env);
        return;
    }
    identity_by_rules(cfg, &w, agent, agent_len);
}

void identity_resolve_peer(const struct ak_config *cfg, struct ak_peer *who)
{
    struct whoami w;
    char pid[24];
    memset(&w, 0, sizeof w);
    if (who->pid > 0) {
        snprintf(pid, sizeof pid, "%d", who->pid);
        whoami_read(&w, pid, who->uid);
    } else {
        user_name(who->uid, w.user, sizeof w.user);
        w.exe_base = w.exe;
        w.argv0_base = w.argv0;
    }
    if (!who->exe[0])
        snprintf(who->exe, sizeof who->exe, "%s", w.exe);
    if (!who->agent[0])
        identity_by_rules(cfg, &w, who->agent, sizeof who->agent);
}

bool identity_peer_allowed(const struct ak_config *cfg, const char *agent, unsigned uid,
                           char *why, size_t why_len)
{
    const struct ak_agent_cfg *a = cfg ? ak_config_agent(cfg, agent) : NULL;
    if (uid == 0 || !a || a->n_users == 0)
        return true;
    char name[64], num[24];
    user_name(uid, name, sizeof name);
    snprintf(num, sizeof num, "%u", uid);
    for (size_t i = 0; i < a->n_users; i++)
        if (strcmp(a->users[i], name) == 0 || strcmp(a->users[i], num) == 0)
            return true;
    snprintf(why, why_len, "user %s may not spend as agent '%s' (its users: are listed in %s)",
             name, agent, cfg->path ? cfg->path : "the config");
    return false;
}
