/*
 * akctl.h - what the akctl command files share (private to tools/akctl*.c): the run context
 * (config, ledger, colour), exit codes, the error and usage reporters, a small aligned-table
 * printer and a growable string list. Each tools/akctl_*.c file owns one command group.
 */
#ifndef AKCTL_H
#define AKCTL_H

#include <stdio.h>

#include "core/config.h"
#include "core/ledger.h"
#include "core/strs.h"

/* Exit codes (DESIGN.md "akctl"). */
#define AKCTL_EXIT_OK      0
#define AKCTL_EXIT_REFUSED 1   /* a refused request or a failure */
#define AKCTL_EXIT_USAGE   2   /* bad usage */

struct akctl {
    const char *config_arg;      /* --config */
    const char *state_arg;       /* --state-dir */
    struct ak_config *cfg;       /* loaded on demand */
    struct ak_ledger *ledger;    /* opened on demand */
    const char *state_dir;       /* the state dir in use once the ledger is open */
    bool color;                  /* stdout is a tty and NO_COLOR is unset */
};

/* A command: argv[0] is the command name. Returns an exit code. */
typedef int (*akctl_cmd_fn)(struct akctl *ctx, int argc, char **argv);

/* Loads the configuration (--config, else AGENTKAVACH_CONFIG, else the default path; a
 * missing default file means built-in defaults). Reports and returns an exit code. */
int akctl_config(struct akctl *ctx);
/* Loads the configuration and opens the ledger (--state-dir, else env, else config). */
int akctl_ledger(struct akctl *ctx);

/* "akctl: <msg>" on stderr; returns AKCTL_EXIT_REFUSED. */
int akctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "akctl: <cmd>: <msg> (try 'akctl help <cmd>')" on stderr; returns AKCTL_EXIT_USAGE. */
int akctl_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reports a getopt_long failure (c is '?' or ':') for `cmd`; returns AKCTL_EXIT_USAGE.
 * Commands use the optstring AKCTL_OPTSTRING so that a missing value comes back as ':'. */
#define AKCTL_OPTSTRING ":"
int akctl_opt_error(const char *cmd, int c, char **argv);

/* Parses a --since value: RFC 3339, a date, or a relative age ("90s", "15m", "2h", "7d"). */
bool akctl_parse_since(const char *s, int64_t now_ms, int64_t *ms);
/* --since for `cmd`: parses into *ms, or reports the usage error; returns an exit code. */
int akctl_opt_since(const char *cmd, const char *arg, int64_t *ms);
/* Parses a non-negative decimal count. */
bool akctl_parse_count(const char *s, long *out);

/* ---- growable list of owned strings ---- */

/* ---- aligned table: rows of cells, printed with column widths; optional row colour ---- */
enum akctl_color { AKCTL_PLAIN = 0, AKCTL_RED, AKCTL_YELLOW };
#define AKCTL_TABLE_MAX_COLS 12
struct akctl_table {
    size_t ncols;
    struct ak_strs cells;     /* row-major, ncols per row */
    enum akctl_color *colors;    /* one per row */
    size_t nrows, cap_rows;
};
void akctl_table_init(struct akctl_table *t, size_t ncols);
/* Adds one row of ncols cells (copied). */
enum ak_err akctl_table_add(struct akctl_table *t, enum akctl_color color, const char *const *cells);
void akctl_table_print(const struct akctl_table *t, FILE *out, bool use_color);
void akctl_table_free(struct akctl_table *t);

/* Formats micro-USD as a plain decimal number of dollars ("12.500000") for JSON/CSV. */
double akctl_usd(int64_t micros);

/* The commands, one group per file. */
int akctl_cmd_status(struct akctl *ctx, int argc, char **argv);   /* akctl_status.c */
int akctl_cmd_fleet(struct akctl *ctx, int argc, char **argv);    /* akctl_fleet.c */
int akctl_cmd_budget(struct akctl *ctx, int argc, char **argv);   /* akctl_admin.c */
int akctl_cmd_suspend(struct akctl *ctx, int argc, char **argv);
int akctl_cmd_resume(struct akctl *ctx, int argc, char **argv);
int akctl_cmd_reset(struct akctl *ctx, int argc, char **argv);
int akctl_cmd_events(struct akctl *ctx, int argc, char **argv);   /* akctl_events.c */
int akctl_cmd_report(struct akctl *ctx, int argc, char **argv);   /* akctl_report.c */
int akctl_cmd_prices(struct akctl *ctx, int argc, char **argv);   /* akctl_prices.c */
int akctl_cmd_config(struct akctl *ctx, int argc, char **argv);
int akctl_cmd_doctor(struct akctl *ctx, int argc, char **argv);   /* akctl_doctor.c */
int akctl_cmd_ca(struct akctl *ctx, int argc, char **argv);       /* akctl_ca.c */

/* Every event record after *after_seq, parsed, in sequence order; *after_seq advances past
 * each record delivered. Records that do not parse are counted in *unreadable and skipped.
 * fn returns non-zero to stop (the scan then returns AK_OK). */
struct ak_event;
typedef int (*akctl_event_fn)(uint64_t seq, const char *json, size_t len,
                              const struct ak_event *ev, void *ud);
enum ak_err akctl_events_each(struct ak_ledger *l, uint64_t *after_seq, akctl_event_fn fn,
                              void *ud, size_t *unreadable);

/* Is `agent` known: listed in the config, or present in the ledger (budgets or flags)? */
bool akctl_agent_known(struct akctl *ctx, const char *agent);
/* Every agent name known from the config and the ledger (AK_AGENT_ALL excluded), sorted. */
enum ak_err akctl_agents_collect(struct akctl *ctx, struct ak_strs *out);

#endif
