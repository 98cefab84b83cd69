/*
 * config.h - agentkavach.yaml as a typed struct (see agentkavach.yaml.example for every key).
 *
 * ak_config_load() parses with libyaml, replaces ${VAR} from the environment, applies defaults
 * and validates. A refusal is one message naming the file, line and key path, e.g.
 *   "/etc/agentkavach/agentkavach.yaml:14: agents.research-bot.budget.limit: must be >= 0"
 * All strings are owned by the config and freed by ak_config_free().
 */
#ifndef AK_CONFIG_H
#define AK_CONFIG_H

#include "core/ak.h"

#define AK_DEFAULT_CONFIG_PATH "/etc/agentkavach/agentkavach.yaml"
#define AK_DEFAULT_STATE_DIR   "/var/lib/agentkavach"
#define AK_EGRESS_LISTEN       "127.0.0.1:8479"     /* egress.listen */
#define AK_EGRESS_CA_DIR       "/etc/agentkavach/ca" /* egress.ca_dir */
#define AK_DEFAULT_MAX_BODY    (8u * 1024 * 1024)   /* limits.max_body_bytes */
#define AK_DEFAULT_LEDGER_WAIT_MS 50u               /* limits.ledger_wait_ms */
#define AK_CONFIG_ERRLEN       512
#ifndef AK_SYSCONFDIR
#define AK_SYSCONFDIR "/etc/agentkavach"
#endif
#ifndef AK_DATADIR
#define AK_DATADIR "/usr/local/share/agentkavach"
#endif
#define AK_DEFAULT_DASHBOARD_TOKEN AK_SYSCONFDIR "/dashboard.token"
#define AK_DEFAULT_DASHBOARD_WEB   AK_DATADIR "/web"

enum ak_mode { AK_MODE_ENFORCE = 0, AK_MODE_MONITOR, AK_MODE_OFF };
enum ak_on_error { AK_ON_ERROR_OPEN = 0, AK_ON_ERROR_CLOSED };
enum ak_http2 { AK_HTTP2_NATIVE = 0, AK_HTTP2_DOWNGRADE };   /* http2: */
enum ak_period_type { AK_PERIOD_DAILY = 0, AK_PERIOD_MONTHLY, AK_PERIOD_TOTAL };
enum ak_unknown_model { AK_UNKNOWN_ALLOW = 0, AK_UNKNOWN_BLOCK };
enum ak_unmetered_tls { AK_UNMETERED_ALLOW = 0, AK_UNMETERED_BLOCK };
enum ak_budget_scope { AK_BUDGET_HOST = 0, AK_BUDGET_FLEET };   /* budget `scope:` */
enum ak_fleet_error { AK_FLEET_HOLD = 0, AK_FLEET_OPEN };       /* fleet.on_fleet_error */

struct ak_budget {
    bool set;                     /* false: no budget configured */
    enum ak_period_type type;
    int64_t limit_micros;
    enum ak_budget_scope scope;   /* fleet: one limit across every host of fleet.redis */
};

/* fleet: budgets across hosts. Only akcollector reads redis (the shim never talks to the
 * network); the engine reads lease.wait_ms and on_fleet_error. */
struct ak_fleet_cfg {
    char *redis_url;              /* redis://[:password@]host[:port][/db]; NULL = no fleet */
    char *redis_password;         /* wins over the URL's */
    char *key_prefix;             /* default "agentkavach:" */
    int connect_timeout_ms;       /* connect and command timeout; default 500 */
    char *host_id;                /* this host's name in Redis; default the host name */
    int64_t chunk_micros;         /* lease.chunk_usd; default 5 USD */
    double low_water;             /* lease.low_water, fraction of a chunk; default 0.25 */
    int wait_ms;                  /* lease.wait_ms: the longest a call waits for a top-up; 100 */
    int ttl_s;                    /* lease.ttl: a silent host's lease is reclaimed after; 30 */
    enum ak_fleet_error on_error; /* on_fleet_error: hold (default) | open */
};

struct ak_guardrails {
    int64_t max_tokens_per_call;  /* 0 = off */
    int64_t max_calls;            /* per budget period; 0 = off */
    int64_t max_runtime_s;        /* seconds of the process's life; 0 = off */
    int loop_window;              /* loop_detection.window; 0 = off */
    int loop_max_repeats;         /* loop_detection.max_repeats */
    int64_t spend_rate_micros;    /* max_spend_rate.usd; 0 = off */
    int spend_rate_per_s;         /* max_spend_rate.per */
    int max_errors_count;         /* max_errors.count; 0 = off */
    int max_errors_per_s;         /* max_errors.per */
};

struct ak_alert_rule {
    double threshold;             /* (0, 1] */
    char **channels;              /* names from config channels, or "kill" */
    size_t n_channels;
    char *template;               /* optional message template; NULL = default */
};

struct ak_on_kill {
    int signal;                   /* 0 = none; else e.g. SIGTERM */
    char *command;                /* optional: run with AK_AGENT, AK_REASON, AK_SPENT_USD set */
};

/* A listed agent starts as a copy of `defaults`: every key it leaves out (budget, each
 * guardrail, alerts, on_kill) is the default's. `budget: none` opts it out of a budget. */
struct ak_agent_cfg {
    char *name;                   /* NULL for `defaults` */
    struct ak_budget budget;      /* !set: no budget (`budget: none`, or none by default) */
    bool budget_inherited;        /* the budget is `defaults.budget` (the agent set none) */
    struct ak_guardrails guardrails;
    struct ak_alert_rule *alerts;
    size_t n_alerts;
    struct ak_on_kill on_kill;
    char **users;                 /* users (names or uids) that may spend as this agent through
                                     akproxy; NULL = any user (see egress/README.md) */
    size_t n_users;
};

struct ak_shared_budget {
    char *name;
    struct ak_budget budget;
    char **agents;
    size_t n_agents;
    struct ak_alert_rule *alerts;
    size_t n_alerts;
};

struct ak_identity_rule {
    char *match_exe;              /* fnmatch pattern against /proc/self/exe; NULL = any */
    char *match_user;             /* user name; NULL = any */
    char *match_argv0;            /* fnmatch pattern against argv[0]; NULL = any */
    char *agent;                  /* the agent name (may use {exe} {user} {argv0}) */
};

struct ak_host {
    char *host;                   /* exact name, or "*.suffix" */
    int port;                     /* 0 = any */
    enum ak_provider provider;
};

struct ak_price_override {
    char *model;
    double input_per_mtok, output_per_mtok;
    double cached_input_per_mtok;     /* < 0 = not given */
    double cache_write_per_mtok;      /* < 0 = not given */
    double reasoning_per_mtok;        /* < 0 = not given */
};

enum ak_channel_type {
    AK_CHAN_SLACK = 0, AK_CHAN_PAGERDUTY, AK_CHAN_WEBHOOK, AK_CHAN_EMAIL, AK_CHAN_KILL,
};

struct ak_channel {
    char *name;
    enum ak_channel_type type;
    char *url;                    /* slack webhook_url, webhook url */
    char *routing_key;            /* pagerduty */
    char *events_url;             /* pagerduty endpoint; default the public Events API v2 */
    char *secret;                 /* webhook HMAC secret; NULL = unsigned */
    char *smtp_url, *from;        /* email */
    char **to;
    size_t n_to;
    char *template;               /* optional message template */
};

struct ak_config {
    int version;
    char *path;                   /* the file loaded; NULL when built from defaults */
    char *state_dir;
    enum ak_mode mode;
    enum ak_on_error on_error;
    enum ak_http2 http2;          /* native: HTTP/2 parsed; downgrade: h2 left out of the ALPN offer */

    struct ak_identity_rule *identity_rules;
    size_t n_identity_rules;
    char *identity_default;       /* default "{exe}" */

    struct ak_host *hosts;
    size_t n_hosts;

    char *pricing_file;           /* NULL = built-in search path */
    enum ak_unknown_model unknown_model;
    struct ak_price_override *price_overrides;
    size_t n_price_overrides;

    struct ak_channel *channels;
    size_t n_channels;

    struct ak_agent_cfg defaults;
    struct ak_agent_cfg *agents;
    size_t n_agents;
    struct ak_shared_budget *shared;
    size_t n_shared;

    /* exporters */
    char *jsonl_path;             /* NULL = no JSONL exporter */
    int64_t jsonl_max_bytes;      /* rotate above; default 64 MiB */
    int jsonl_keep;               /* rotated files kept; default 5 */
    char *jsonl_fsync;            /* "batch" (default) | "always" | "never" */
    char *otlp_endpoint;          /* NULL = no OTLP exporter */
    int otlp_interval_s;
    char *collector_socket;       /* datagram poke socket; default <state_dir>/collector.sock */
    int64_t outbox_max_events;    /* outbox growth bound; default 1,000,000 */
    int alert_cooldown_s;         /* guardrail/suspension alert cooldown; default 300 */

    /* egress: akproxy */
    char *egress_listen;          /* CONNECT listener, host:port; default AK_EGRESS_LISTEN */
    char *egress_transparent;     /* SO_ORIGINAL_DST listener for nftables redirects; NULL = off */
    char *egress_ca_dir;          /* the host CA; default <sysconfdir>/ca */
    enum ak_unmetered_tls unmetered_tls;
    /* dashboard (served by akcollector); listen NULL = no dashboard */
    char *dashboard_listen;       /* "127.0.0.1:8480" or "[::1]:8480" */
    char *dashboard_token_file;   /* default AK_DEFAULT_DASHBOARD_TOKEN once listen is set */
    char *dashboard_web_dir;      /* the page's files; default AK_DEFAULT_DASHBOARD_WEB */
    bool dashboard_allow_remote;  /* listen on a non-loopback address */
    struct ak_fleet_cfg fleet;

    bool save_prompts;            /* privacy.save_prompts */
    uint32_t max_body_bytes;      /* limits.max_body_bytes; default AK_DEFAULT_MAX_BODY */
    uint32_t ledger_wait_ms;      /* limits.ledger_wait_ms; default AK_DEFAULT_LEDGER_WAIT_MS */
};

/* Loads and validates `path`. On failure returns AK_ERR_CONFIG (or AK_ERR_IO for a missing
 * file) and writes one message into err. *out is untouched on failure. */
enum ak_err ak_config_load(const char *path, struct ak_config **out, char *err, size_t errlen);
/* The built-in defaults (used when no file exists and none was asked for explicitly). */
enum ak_err ak_config_defaults(struct ak_config **out);
/* The one way every program finds its configuration: `path` (a --config option; NULL = none),
 * else AGENTKAVACH_CONFIG, else AK_DEFAULT_CONFIG_PATH; when no file was asked for and the
 * default one does not exist, the built-in defaults. A file asked for, or present but bad,
 * is an error (err says which file, line and key). */
enum ak_err ak_config_resolve(const char *path, struct ak_config **out, char *err, size_t errlen);
/* Path to use: AGENTKAVACH_CONFIG, else AK_DEFAULT_CONFIG_PATH. */
const char *ak_config_path_from_env(void);
/* state_dir, with AGENTKAVACH_STATE_DIR winning over the file. */
const char *ak_config_state_dir(const struct ak_config *cfg);
void ak_config_free(struct ak_config *cfg);

/* Look-ups used by the shim, the collector and akctl. */
const struct ak_agent_cfg *ak_config_agent(const struct ak_config *cfg, const char *agent);
/* The agent's settings, or `defaults` when it is not listed. Never NULL. */
const struct ak_agent_cfg *ak_config_agent_or_default(const struct ak_config *cfg, const char *agent);
const struct ak_shared_budget *ak_config_shared(const struct ak_config *cfg, const char *name);
const struct ak_channel *ak_config_channel(const struct ak_config *cfg, const char *name);
/* Provider for host:port from cfg->hosts (built-in hosts are the shim's business).
 * port 0 means "not known" (a client whose socket the shim cannot see) and matches any. */
enum ak_provider ak_config_host_provider(const struct ak_config *cfg, const char *host, int port);

const char *ak_period_type_name(enum ak_period_type t);

/* "HOST:PORT" with a numeric IPv4 host or a bracketed IPv6 one ("[::1]:8480"), port 1..65535.
 * out (a struct sockaddr_storage) and *len are written on success. *loopback: 127/8 or ::1. */
struct sockaddr_storage;
bool ak_listen_parse(const char *s, struct sockaddr_storage *out, unsigned *len, bool *loopback);  /* "daily" | "monthly" | "total" */

#endif
