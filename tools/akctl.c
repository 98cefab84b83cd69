/*
 * akctl.c - the operator's command line: global options, command dispatch, help texts, and
 * the run context that every command shares (configuration and ledger, opened on demand so
 * that `akctl doctor` or `akctl config check` never need a state directory).
 */
#include "tools/akctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct akctl_command {
    const char *name;
    akctl_cmd_fn fn;
    const char *summary;
    const char *help;
};

static const char global_help[] =
    "usage: akctl [--config FILE] [--state-dir DIR] COMMAND [ARGS]\n"
    "\n"
    "Global options:\n"
    "  --config FILE     configuration (else $AGENTKAVACH_CONFIG, else " AK_DEFAULT_CONFIG_PATH ";\n"
    "                    a missing default file means built-in defaults)\n"
    "  --state-dir DIR   state directory (else $AGENTKAVACH_STATE_DIR, else the config's state_dir)\n"
    "  -h, --help        this text; 'akctl help COMMAND' or 'akctl COMMAND --help' for one command\n"
    "\n"
    "Exit status: 0 success, 1 refused request or failure, 2 bad usage.\n"
    "\n"
    "Commands:\n";

static const struct akctl_command commands[] = {
    { "status", akctl_cmd_status, "spend, limits and suspensions per agent and shared budget",
      "usage: akctl status [--json]\n"
      "One row per agent (from the config and the ledger) and per shared budget: period, spent,\n"
      "limit, percent, calls, suspended, reason. The effective budget of an agent is the\n"
      "'akctl budget set' override, else agents.NAME.budget, else defaults.budget.\n"
      "(budget: none opts a listed agent out; a shared budget's is its --shared override, else the config's)\n"
      "  --json   {\"agents\":[...],\"shared_budgets\":[...]} as documented in DESIGN.md\n" },
    { "fleet", akctl_cmd_fleet, "fleet budgets: the hosts and their leases",
      "usage: akctl fleet [--json]\n"
      "For every budget with scope: fleet, each host that holds or held a lease this period:\n"
      "its lease, what it spent, whether it is alive (its lease is reclaimed after lease.ttl\n"
      "when not). The figures are the collector's last sync with Redis (akctl never talks to\n"
      "Redis); this host's own lease and spend are read from the ledger.\n"
      "  --json   {\"host\":...,\"budgets\":[{\"scope\",\"name\",\"period\",\"limit_usd\",\"spent_usd\",\n"
      "           \"leased_usd\",\"free_usd\",\"hosts\":[{\"host\",\"leased_usd\",\"spent_usd\",\"alive\"}]}]}\n" },
    { "events", akctl_cmd_events, "recorded LLM calls",
      "usage: akctl events [--json] [--agent A] [--since T] [--limit N] [--follow]\n"
      "  --json      the event records, one JSON object per line\n"
      "  --agent A   only agent A\n"
      "  --since T   only events at or after T (RFC 3339, YYYY-MM-DD, or an age: 90s 15m 2h 7d)\n"
      "  --limit N   only the last N matching events\n"
      "  --follow    keep printing new events (polls every 200 ms) until interrupted\n" },
    { "budget", akctl_cmd_budget, "override an agent's or a shared budget",
      "usage: akctl budget set AGENT --daily|--monthly|--total USD\n"
      "       akctl budget set --shared NAME --daily|--monthly|--total USD\n"
      "Stores an override in the ledger; it wins over the configuration.\n" },
    { "suspend", akctl_cmd_suspend, "stop an agent's (or every agent's) LLM calls",
      "usage: akctl suspend AGENT|--all [--reason R] [--now]\n"
      "  --all       the host-wide emergency stop\n"
      "  --reason R  recorded and shown by 'akctl status'\n"
      "  --now       also cut streams in flight\n" },
    { "resume", akctl_cmd_resume, "lift a suspension",
      "usage: akctl resume AGENT|--all\n"
      "Resuming an agent that is not suspended is not an error.\n" },
    { "reset", akctl_cmd_reset, "zero an agent's spend for the current period",
      "usage: akctl reset AGENT\n"
      "Exit 1 when the agent is neither configured nor known to the ledger.\n" },
    { "report", akctl_cmd_report, "totals by agent, model or day",
      "usage: akctl report [--by agent|model|day] [--csv] [--since T]\n"
      "Calls (that reached the provider), blocked calls, input and output tokens and cost,\n"
      "summed from the event records.\n"
      "  --by K      group by agent (default), model or day (UTC)\n"
      "  --csv       comma-separated values with a header line\n"
      "  --since T   only events at or after T (RFC 3339, YYYY-MM-DD, or an age: 15m 2h 7d)\n" },
    { "prices", akctl_cmd_prices, "the price table, or one model's resolved price",
      "usage: akctl prices [MODEL]\n"
      "Without MODEL, every model in the table (USD per million tokens). With MODEL, its\n"
      "resolved price and the rule that matched (config override, exact name, dated snapshot,\n"
      "provider prefix). Exit 1 for an unknown model.\n" },
    { "config", akctl_cmd_config, "validate a configuration file",
      "usage: akctl config check FILE\n"
      "Loads FILE as the shim and collector would; a refusal names file:line and the key.\n" },
    { "doctor", akctl_cmd_doctor, "which plane covers this program's LLM calls?",
      "usage: akctl doctor CMD\n"
      "Resolves CMD in PATH, follows #! interpreters and reads the ELF file: a program that\n"
      "links the system libssl dynamically is covered in-process (plane inproc); a static or\n"
      "Go binary, or one that carries its own TLS (Bun, official Node builds), is covered by\n"
      "akproxy (plane egress) when run through akrun. Exit 0 inproc, 1 egress.\n" },
    { "ca", akctl_cmd_ca, "the host CA of the egress plane",
      "usage: akctl ca show|trust|rotate\n"
      "  show     the CA in egress.ca_dir: subject, fingerprint, validity, the names it may sign\n"
      "  trust    add it to the system store (update-ca-certificates; needs root)\n"
      "  rotate   make a new one for the hosts the config names now (restart akproxy)\n"
      "AGENTKAVACH_CA_DIR wins over egress.ca_dir.\n" },
};

static const struct akctl_command *command_find(const char *name)
{
    for (size_t i = 0; i < AK_ARRAY_LEN(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void help_global(FILE *out)
{
    fputs(global_help, out);
    for (size_t i = 0; i < AK_ARRAY_LEN(commands); i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
}

static int help_command(const char *name)
{
    if (!name) {
        help_global(stdout);
        return AKCTL_EXIT_OK;
    }
    const struct akctl_command *c = command_find(name);
    if (!c)
        return akctl_usage("help", "unknown command '%s'", name);
    fputs(c->help, stdout);
    return AKCTL_EXIT_OK;
}

int akctl_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("akctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return AKCTL_EXIT_REFUSED;
}

int akctl_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "akctl: %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (try 'akctl help %s')\n", cmd);
    return AKCTL_EXIT_USAGE;
}

int akctl_config(struct akctl *ctx)
{
    char err[AK_CONFIG_ERRLEN] = "";
    if (ctx->cfg)
        return AKCTL_EXIT_OK;
    enum ak_err rc = ak_config_resolve(ctx->config_arg, &ctx->cfg, err, sizeof err);
    if (rc != AK_OK) {
        ctx->cfg = NULL;
        return akctl_fail("%s", err[0] ? err : ak_strerror(rc));
    }
    return AKCTL_EXIT_OK;
}

int akctl_ledger(struct akctl *ctx)
{
    int code = akctl_config(ctx);
    if (code != AKCTL_EXIT_OK || ctx->ledger)
        return code;
    const char *dir = ctx->state_arg ? ctx->state_arg : ak_config_state_dir(ctx->cfg);
    if (!dir || !*dir)
        return akctl_fail("no state directory (use --state-dir or set state_dir)");
    enum ak_err rc = ak_ledger_open(dir, &ctx->ledger);
    if (rc != AK_OK) {
        ctx->ledger = NULL;
        return akctl_fail("cannot open the ledger in %s: %s", dir, ak_strerror(rc));
    }
    ctx->state_dir = dir;
    return AKCTL_EXIT_OK;
}

/* Takes a global option at argv[*i] ("--opt V" or "--opt=V"); returns 1 when taken, 0 when
 * argv[*i] is not `name`, -1 when the value is missing. */
static int global_take(const char *name, int argc, char **argv, int *i, const char **val)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *val = argv[++*i];
    return 1;
}

/* Removes the global options from argv wherever they appear (before a "--"); compacts argv
 * in place and returns the new argc, or -1 after reporting a usage error. */
static int globals_extract(struct akctl *ctx, int argc, char **argv)
{
    int out = 0;
    bool done = false;
    for (int i = 0; i < argc; i++) {
        if (done || strcmp(argv[i], "--") == 0) {
            done = true;
            argv[out++] = argv[i];
            continue;
        }
        int t = global_take("--config", argc, argv, &i, &ctx->config_arg);
        if (t == 0)
            t = global_take("--state-dir", argc, argv, &i, &ctx->state_arg);
        if (t < 0) {
            fprintf(stderr, "akctl: %s needs a value (try 'akctl --help')\n", argv[i]);
            return -1;
        }
        if (t == 0)
            argv[out++] = argv[i];
    }
    argv[out] = NULL;
    return out;
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    }
    return false;
}

static void context_close(struct akctl *ctx)
{
    if (ctx->ledger)
        ak_ledger_close(ctx->ledger);
    if (ctx->cfg)
        ak_config_free(ctx->cfg);
    ctx->ledger = NULL;
    ctx->cfg = NULL;
}

int main(int argc, char **argv)
{
    struct akctl ctx = { 0 };
    int code = AKCTL_EXIT_OK;
    ak_log_init();
    opterr = 0;   /* commands report option errors themselves */
    const char *nc = getenv("NO_COLOR");
    ctx.color = isatty(STDOUT_FILENO) && !(nc && *nc);

    int n = globals_extract(&ctx, argc - 1, argv + 1);
    if (n < 0)
        return AKCTL_EXIT_USAGE;
    char **args = argv + 1;
    if (n == 0) {
        help_global(stderr);
        return AKCTL_EXIT_USAGE;
    }
    if (strcmp(args[0], "--help") == 0 || strcmp(args[0], "-h") == 0)
        return help_command(NULL);
    if (strcmp(args[0], "help") == 0)
        return help_command(n > 1 ? args[1] : NULL);
    const struct akctl_command *c = command_find(args[0]);
    if (!c) {
        fprintf(stderr, "akctl: unknown command '%s' (try 'akctl --help')\n", args[0]);
        return AKCTL_EXIT_USAGE;
    }
    if (wants_help(n, args))
        return help_command(c->name);
    code = c->fn(&ctx, n, args);
    if (fflush(stdout) != 0 && code == AKCTL_EXIT_OK)
        code = akctl_fail("cannot write the output: %s", strerror(errno));
    context_close(&ctx);
    return code;
}
