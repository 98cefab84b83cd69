/*
 * akctl_admin.c - the commands that change the ledger: `budget set`, `suspend`, `resume`
 * and `reset`. Each is one ledger call; the shim sees the change on its next flags check.
 */
#include "tools/akctl.h"

#include <getopt.h>
#include <string.h>

#define DEFAULT_SUSPEND_REASON "suspended by operator"

int akctl_cmd_budget(struct akctl *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        { "daily", required_argument, NULL, 'd' },
        { "monthly", required_argument, NULL, 'm' },
        { "total", required_argument, NULL, 't' },
        { "shared", no_argument, NULL, 's' },
        { 0, 0, 0, 0 },
    };
    struct ak_budget b = { .set = true };
    const char *amount = NULL;
    bool shared = false;
    int c, n_types = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, AKCTL_OPTSTRING, opts, NULL)) != -1) {
        switch (c) {
        case 'd': b.type = AK_PERIOD_DAILY; break;
        case 'm': b.type = AK_PERIOD_MONTHLY; break;
        case 't': b.type = AK_PERIOD_TOTAL; break;
        case 's': shared = true; continue;
        default: return akctl_opt_error("budget", c, argv);
        }
        amount = optarg;
        n_types++;
    }
    if (optind >= argc || strcmp(argv[optind], "set") != 0)
        return akctl_usage("budget", "expected 'set [--shared] NAME --daily|--monthly|--total USD'");
    if (optind + 2 != argc)
        return akctl_usage("budget", "expected exactly one %s after 'set'",
                           shared ? "shared budget" : "AGENT");
    if (n_types != 1)
        return akctl_usage("budget", "give exactly one of --daily, --monthly, --total");
    if (!ak_usd_parse(amount, &b.limit_micros))
        return akctl_usage("budget", "'%s' is not an amount in USD", amount);
    const char *name = argv[optind + 1];
    int code = akctl_ledger(ctx);
    if (code != AKCTL_EXIT_OK)
        return code;
    if (shared && !ak_config_shared(ctx->cfg, name))
        return akctl_fail("budget: no shared budget '%s' in %s", name,
                          ctx->cfg->path ? ctx->cfg->path : "the built-in configuration");
    enum ak_err rc = shared ? ak_ledger_set_shared_budget(ctx->ledger, name, &b)
                            : ak_ledger_set_budget(ctx->ledger, name, &b);
    if (rc != AK_OK)
        return akctl_fail("budget: cannot set the budget of %s: %s", name, ak_strerror(rc));
    char usd[32];
    ak_usd_format(b.limit_micros, usd, sizeof usd);
    printf("%s%s: %s budget set to %s\n", shared ? "shared budget " : "", name,
           ak_period_type_name(b.type), usd);
    return AKCTL_EXIT_OK;
}

/* The one AGENT argument, or AK_AGENT_ALL with --all; NULL after a usage error. */
static const char *target_agent(const char *cmd, bool all, int argc, char **argv, int *code)
{
    *code = AKCTL_EXIT_OK;
    if (all && optind == argc)
        return AK_AGENT_ALL;
    if (!all && optind + 1 == argc && strcmp(argv[optind], AK_AGENT_ALL) != 0 && argv[optind][0])
        return argv[optind];
    *code = akctl_usage(cmd, "give one AGENT or --all");
    return NULL;
}

int akctl_cmd_suspend(struct akctl *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        { "all", no_argument, NULL, 'a' },
        { "reason", required_argument, NULL, 'r' },
        { "now", no_argument, NULL, 'n' },
        { 0, 0, 0, 0 },
    };
    bool all = false, now = false;
    const char *reason = DEFAULT_SUSPEND_REASON;
    int c, code;
    optind = 0;
    while ((c = getopt_long(argc, argv, AKCTL_OPTSTRING, opts, NULL)) != -1) {
        switch (c) {
        case 'a': all = true; break;
        case 'r': reason = optarg; break;
        case 'n': now = true; break;
        default: return akctl_opt_error("suspend", c, argv);
        }
    }
    const char *agent = target_agent("suspend", all, argc, argv, &code);
    if (!agent)
        return code;
    if (strlen(reason) >= AK_REASON_LEN)
        return akctl_usage("suspend", "the reason is longer than %d characters", AK_REASON_LEN - 1);
    code = akctl_ledger(ctx);
    if (code != AKCTL_EXIT_OK)
        return code;
    enum ak_err rc = ak_ledger_suspend(ctx->ledger, agent, reason, true, now, NULL, ak_now_ms());
    if (rc != AK_OK)
        return akctl_fail("suspend: %s: %s", all ? "all agents" : agent, ak_strerror(rc));
    printf("%s suspended%s: %s\n", all ? "all agents" : agent, now ? " (streams cut)" : "", reason);
    return AKCTL_EXIT_OK;
}

int akctl_cmd_resume(struct akctl *ctx, int argc, char **argv)
{
    static const struct option opts[] = { { "all", no_argument, NULL, 'a' }, { 0, 0, 0, 0 } };
    bool all = false;
    int c, code;
    optind = 0;
    while ((c = getopt_long(argc, argv, AKCTL_OPTSTRING, opts, NULL)) != -1) {
        if (c != 'a')
            return akctl_opt_error("resume", c, argv);
        all = true;
    }
    const char *agent = target_agent("resume", all, argc, argv, &code);
    if (!agent)
        return code;
    code = akctl_ledger(ctx);
    if (code != AKCTL_EXIT_OK)
        return code;
    enum ak_err rc = ak_ledger_resume(ctx->ledger, agent);
    if (rc != AK_OK && rc != AK_ERR_NOTFOUND)   /* not suspended: nothing to lift */
        return akctl_fail("resume: %s: %s", all ? "all agents" : agent, ak_strerror(rc));
    printf("%s resumed\n", all ? "all agents" : agent);
    return AKCTL_EXIT_OK;
}

int akctl_cmd_reset(struct akctl *ctx, int argc, char **argv)
{
    static const struct option opts[] = { { 0, 0, 0, 0 } };
    int c, code;
    optind = 0;
    while ((c = getopt_long(argc, argv, AKCTL_OPTSTRING, opts, NULL)) != -1)
        return akctl_opt_error("reset", c, argv);
    const char *agent = target_agent("reset", false, argc, argv, &code);
    if (!agent)
        return code;
    code = akctl_ledger(ctx);
    if (code != AKCTL_EXIT_OK)
        return code;
    if (!akctl_agent_known(ctx, agent))
        return akctl_fail("reset: unknown agent '%s' (not configured, never seen)", agent);
    enum ak_err rc = ak_ledger_reset(ctx->ledger, agent, ak_now_ms());
    if (rc != AK_OK)
        return akctl_fail("reset: %s: %s", agent, ak_strerror(rc));
    printf("%s: spend for the current period reset to $0.00\n", agent);
    return AKCTL_EXIT_OK;
}
