/*
 * identity.c - who is calling: the agent name of this process.
 * AGENTKAVACH_AGENT wins; otherwise the first identity rule whose every given pattern matches
 * (exe: /proc/self/exe, argv0: the first word of /proc/self/cmdline, user: the effective user);
 * otherwise identity.default, where {exe} {user} {argv0} are replaced.
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

static void whoami_read(struct whoami *w)
{
    memset(w, 0, sizeof *w);
    ssize_t n = readlink("/proc/self/exe", w->exe, sizeof w->exe - 1);
    if (n < 0)
        n = 0;
    w->exe[n] = '\0';
    const char *slash = strrchr(w->exe, '/');
    w->exe_base = slash ? slash + 1 : w->exe;

    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, w->argv0, sizeof w->argv0 - 1);
        w->argv0[n > 0 ? n : 0] = '\0';
        close(fd);
    }
    slash = strrchr(w->argv0, '/');
    w->argv0_base = slash ? slash + 1 : w->argv0;

    struct passwd pw, *res = NULL;
    char buf[CMDLINE_MAX];
    if (getpwuid_r(geteuid(), &pw, buf, sizeof buf, &res) == 0 && res)
        snprintf(w->user, sizeof w->user, "%s", res->pw_name);
    else
        snprintf(w->user, sizeof w->user, "%u", (unsigned)geteuid());
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

void identity_resolve(const struct ak_config *cfg, char *agent, size_t agent_len,
                      char *exe, size_t exe_len)
{
    struct whoami w;
    whoami_read(&w);
    snprintf(exe, exe_len, "%s", w.exe);
    const char *env = getenv("AGENTKAVACH_AGENT");
    if (env && *env) {
        snprintf(agent, agent_len, "%s", env);
        return;
    }
    for (size_t i = 0; cfg && i < cfg->n_identity_rules; i++)
        if (rule_matches(&cfg->identity_rules[i], &w)) {
            expand(cfg->identity_rules[i].agent, &w, agent, agent_len);
            return;
        }
    expand(cfg && cfg->identity_default ? cfg->identity_default : "{exe}", &w, agent, agent_len);
    if (!*agent)
        snprintf(agent, agent_len, "unknown");
}
