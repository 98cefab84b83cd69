/*
 * config_load.c - the schema of agentkavach.yaml and ak_config_load(). Each section is a
 * table of keys (config_read.h) plus a few readers for what a table cannot say: budgets,
 * alerts and the channels they name, signals, hosts, shared-budget members. Tables list
 * sections in dependency order (channels before the alerts that name them, agents before the
 * shared budgets that list them), so every check can see what it refers to.
 */
#include "core/config.h"

#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/config_read.h"

#define PORT_MAX              65535
#define DEFAULT_JSONL_PATH    "/var/log/agentkavach/events.jsonl"
#define DEFAULT_OTLP_ENDPOINT "http://127.0.0.1:4318"
#define DEFAULT_PD_EVENTS_URL "https://events.pagerduty.com/v2/enqueue"
#define PRICE_NOT_GIVEN       (-1.0)

#define OFF(type, field) offsetof(struct type, field)

/* Names in the order of their enum values. */
static const char *const mode_names[] = { "enforce", "monitor", "off", NULL };
static const char *const on_error_names[] = { "open", "closed", NULL };
static const char *const http2_names[] = { "native", "downgrade", NULL };
static const char *const period_names[] = { "daily", "monthly", "total", NULL };
static const char *const unknown_model_names[] = { "allow", "block", NULL };
static const char *const channel_type_names[] = { "slack", "pagerduty", "webhook", "email", NULL };
static const char *const fsync_names[] = { "batch", "always", "never", NULL };
static const char *const unmetered_tls_names[] = { "allow", "block", NULL };
static const char *const scope_names[] = { "host", "fleet", NULL };
static const char *const fleet_error_names[] = { "hold", "open", NULL };

static enum ak_err fail_nomem_if(struct cfg_reader *r, const void *p)
{
    return p ? AK_OK : cfg_nomem(r);
}

/* Defines name(owner, len) for struct cfg_items: owner->arr = len zeroed items, count = len. */
#define ITEMS_ALLOC(name, owner_type, arr, count)     \
    static void *name(void *owner, size_t len)        \
    {                                                 \
        struct owner_type *o = owner;                 \
        o->arr = calloc(len, sizeof *o->arr);         \
        o->count = o->arr ? len : 0;                  \
        return o->arr;                                \
    }

/* ---- budgets and guardrails ---- */

static const struct cfg_field budget_fields[] = {
    { .key = "type", .kind = CFG_CHOICE, .off = OFF(ak_budget, type), .names = period_names },
    { .key = "limit", .kind = CFG_USD, .off = OFF(ak_budget, limit_micros), .required = true },
    { .key = "scope", .kind = CFG_CHOICE, .off = OFF(ak_budget, scope), .names = scope_names },
};

#define BUDGET_NONE "none"     /* `budget: none`: an agent without a budget */

static enum ak_err read_budget(struct cfg_reader *r, yaml_node_t *val, const char *path, void *obj)
{
    struct ak_budget *b = obj;
    memset(b, 0, sizeof *b);
    enum ak_err rc = cfg_walk(r, val, path, budget_fields, AK_ARRAY_LEN(budget_fields), b);
    if (rc == AK_OK)
        b->set = true;
    return rc;
}

/* An agent's (or the defaults') budget: a map, or `none`. */
static enum ak_err read_agent_budget(struct cfg_reader *r, yaml_node_t *val, const char *path,
                                     void *obj)
{
    struct ak_budget *b = obj;
    if (val && val->type == YAML_SCALAR_NODE && !cfg_is_null(val) &&
        val->data.scalar.length == strlen(BUDGET_NONE) &&
        memcmp(val->data.scalar.value, BUDGET_NONE, strlen(BUDGET_NONE)) == 0) {
        memset(b, 0, sizeof *b);
        return AK_OK;
    }
    if (val && val->type == YAML_SCALAR_NODE && !cfg_is_null(val))
        return cfg_fail(r, val, path, "must be a map (type, limit) or none");
    return read_budget(r, val, path, obj);
}

/* In each pair, the first value 0 turns the guardrail off; the second must then be given. */
static const struct cfg_field loop_fields[] = {
    { .key = "window", .kind = CFG_INT, .off = OFF(ak_guardrails, loop_window), .required = true },
    { .key = "max_repeats", .kind = CFG_INT, .off = OFF(ak_guardrails, loop_max_repeats),
      .required = true, .min = 1 },
};

static const struct cfg_field spend_rate_fields[] = {
    { .key = "usd", .kind = CFG_USD, .off = OFF(ak_guardrails, spend_rate_micros),
      .required = true },
    { .key = "per", .kind = CFG_INT, .off = OFF(ak_guardrails, spend_rate_per_s),
      .required = true, .min = 1 },
};

static const struct cfg_field max_errors_fields[] = {
    { .key = "count", .kind = CFG_INT, .off = OFF(ak_guardrails, max_errors_count),
      .required = true },
    { .key = "per", .kind = CFG_INT, .off = OFF(ak_guardrails, max_errors_per_s),
      .required = true, .min = 1 },
};

static const struct cfg_field guardrail_fields[] = {
    { .key = "max_tokens_per_call", .kind = CFG_I64,
      .off = OFF(ak_guardrails, max_tokens_per_call) },
    { .key = "max_calls", .kind = CFG_I64, .off = OFF(ak_guardrails, max_calls) },
    { .key = "max_runtime", .kind = CFG_I64, .off = OFF(ak_guardrails, max_runtime_s) },
    { .key = "loop_detection", CFG_SUB(loop_fields) },
    { .key = "max_spend_rate", CFG_SUB(spend_rate_fields) },
    { .key = "max_errors", CFG_SUB(max_errors_fields) },
};

/* ---- alerts ---- */

static enum ak_err read_threshold(struct cfg_reader *r, yaml_node_t *val, const char *path,
                                  void *obj)
{
    double t = 0;
    enum ak_err rc = cfg_read_double(r, val, path, &t);
    if (rc != AK_OK)
        return rc;
    if (!(t > 0 && t <= 1))
        return cfg_fail(r, val, path, "must be in (0, 1], a fraction of the budget (0.8 = 80%%)");
    *(double *)obj = t;
    return AK_OK;
}

/* A non-empty list of names, each known to `known` and listed once (alert channels, the
 * members of a shared budget). */
static enum ak_err read_names(struct cfg_reader *r, yaml_node_t *val, const char *path,
                              char ***list, size_t *n, const char *what,
                              bool (*known)(const struct ak_config *cfg, const char *name),
                              const char *hint)
{
    enum ak_err rc = cfg_read_str_list(r, val, path, list, n);
    if (rc != AK_OK)
        return rc;
    if (*n == 0)
        return cfg_fail(r, val, path, "must name at least one %s", what);
    for (size_t i = 0; i < *n; i++) {
        const char *name = (*list)[i];
        char item[CFG_PATH_MAX];
        cfg_path_index(item, path, i);
        if (!known(r->cfg, name))
            return cfg_fail(r, cfg_seq_item(r, val, i), item, "unknown %s '%s' (%s)", what, name,
                            hint);
        for (size_t j = 0; j < i; j++)
            if (strcmp((*list)[j], name) == 0)
                return cfg_fail(r, cfg_seq_item(r, val, i), item, "'%s' is listed twice", name);
    }
    return AK_OK;
}

static bool channel_known(const struct ak_config *cfg, const char *name)
{
    return ak_config_channel(cfg, name) != NULL;
}

static enum ak_err read_alert_channels(struct cfg_reader *r, yaml_node_t *val, const char *path,
                                       void *obj)
{
    struct ak_alert_rule *a = obj;
    return read_names(r, val, path, &a->channels, &a->n_channels, "channel", channel_known,
                      "define it under channels, or use kill");
}

static const struct cfg_field alert_fields[] = {
    { .key = "threshold", .kind = CFG_FN, .off = OFF(ak_alert_rule, threshold),
      .required = true, .fn = read_threshold },
    { .key = "channels", .kind = CFG_FN, .required = true, .fn = read_alert_channels },
    { .key = "template", .kind = CFG_STR, .off = OFF(ak_alert_rule, template) },
};

#define ALERT_ITEMS(alloc_fn)                                                                 \
    { .elem_size = sizeof(struct ak_alert_rule), .alloc = (alloc_fn), .fields = alert_fields, \
      .n_fields = AK_ARRAY_LEN(alert_fields) }

/* An agent's alerts replace the ones it inherited from `defaults`. */
static void *agent_alerts_alloc(void *owner, size_t len)
{
    struct ak_agent_cfg *a = owner;
    cfg_alerts_free(a->alerts, a->n_alerts);
    a->alerts = calloc(len, sizeof *a->alerts);
    a->n_alerts = a->alerts ? len : 0;
    return a->alerts;
}
ITEMS_ALLOC(shared_alerts_alloc, ak_shared_budget, alerts, n_alerts)
static const struct cfg_items agent_alert_items = ALERT_ITEMS(agent_alerts_alloc);
static const struct cfg_items shared_alert_items = ALERT_ITEMS(shared_alerts_alloc);

/* ---- on_kill ---- */

struct signal_name {
    const char *name;
    int signo;
};

static const struct signal_name signal_names[] = {
    { "TERM", SIGTERM }, { "KILL", SIGKILL }, { "INT", SIGINT }, { "HUP", SIGHUP },
    { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "QUIT", SIGQUIT },
};

static int signal_parse(const char *s)
{
    char *end = NULL;
    long n = strtol(s, &end, 10);
    if (end != s && *end == '\0')
        return n > 0 && n < NSIG ? (int)n : 0;
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < AK_ARRAY_LEN(signal_names); i++)
        if (strcasecmp(s, signal_names[i].name) == 0)
            return signal_names[i].signo;
    return 0;
}

static enum ak_err read_signal(struct cfg_reader *r, yaml_node_t *val, const char *path, void *obj)
{
    char *s = NULL;
    enum ak_err rc = cfg_read_text(r, val, path, &s);
    if (rc != AK_OK)
        return rc;
    int signo = signal_parse(s);
    if (signo == 0)
        rc = cfg_fail(r, val, path,
                      "unknown signal '%s' (TERM, KILL, INT, HUP, USR1, USR2, QUIT or 1..%d)",
                      s, NSIG - 1);
    else
        *(int *)obj = signo;
    free(s);
    return rc;
}

static const struct cfg_field on_kill_fields[] = {
    { .key = "signal", .kind = CFG_FN, .off = OFF(ak_on_kill, signal), .fn = read_signal },
    { .key = "command", .kind = CFG_STR, .off = OFF(ak_on_kill, command) },
};

/* ---- agents ---- */

/* users: who may spend as the agent through akproxy (names or numeric uids). */
static enum ak_err read_agent_users(struct cfg_reader *r, yaml_node_t *val, const char *path,
                                    void *obj)
{
    struct ak_agent_cfg *a = obj;
    enum ak_err rc = cfg_read_str_list(r, val, path, &a->users, &a->n_users);
    if (rc == AK_OK && a->n_users == 0)
        return cfg_fail(r, val, path, "must name at least one user (leave it out for any user)");
    return rc;
}

static const struct cfg_field agent_fields[] = {
    { .key = "budget", .kind = CFG_FN, .off = OFF(ak_agent_cfg, budget), .fn = read_agent_budget },
    { .key = "users", .kind = CFG_FN, .fn = read_agent_users },
    { .key = "guardrails", .off = OFF(ak_agent_cfg, guardrails), CFG_SUB(guardrail_fields) },
    { .key = "alerts", .kind = CFG_LIST, .items = &agent_alert_items },
    { .key = "on_kill", .off = OFF(ak_agent_cfg, on_kill), CFG_SUB(on_kill_fields) },
};

/* A listed agent starts as a copy of `defaults` (read before `agents`), then its own keys
 * overwrite what they name: defaults fill in every key an agent leaves out. */
static enum ak_err read_agent(struct cfg_reader *r, yaml_node_t *val, const char *path, void *obj)
{
    struct ak_agent_cfg *a = obj;
    if (cfg_agent_inherit(a, &r->cfg->defaults) != AK_OK)
        return cfg_nomem(r);
    enum ak_err rc = cfg_walk(r, val, path, agent_fields, AK_ARRAY_LEN(agent_fields), a);
    if (rc == AK_OK && val && val->type == YAML_MAPPING_NODE && cfg_map_get(r, val, "budget"))
        a->budget_inherited = false;
    return rc;
}

ITEMS_ALLOC(agents_alloc, ak_config, agents, n_agents)
static const struct cfg_items agent_items = {
    .elem_size = sizeof(struct ak_agent_cfg), .alloc = agents_alloc, .read_item = read_agent,
    .name_off = OFF(ak_agent_cfg, name), .what = "agent",
};

/* ---- shared budgets ---- */

static bool agent_known(const struct ak_config *cfg, const char *name)
{
    return ak_config_agent(cfg, name) != NULL;
}

static enum ak_err read_shared_members(struct cfg_reader *r, yaml_node_t *val, const char *path,
                                       void *obj)
{
    struct ak_shared_budget *s = obj;
    return read_names(r, val, path, &s->agents, &s->n_agents, "agent", agent_known,
                      "list it under agents first");
}

static const struct cfg_field shared_fields[] = {
    { .key = "budget", .kind = CFG_FN, .off = OFF(ak_shared_budget, budget), .required = true,
      .fn = read_budget },
    { .key = "agents", .kind = CFG_FN, .required = true, .fn = read_shared_members },
    { .key = "alerts", .kind = CFG_LIST, .items = &shared_alert_items },
};

ITEMS_ALLOC(shared_alloc, ak_config, shared, n_shared)
static const struct cfg_items shared_items = {
    .elem_size = sizeof(struct ak_shared_budget), .alloc = shared_alloc, .fields = shared_fields,
    .n_fields = AK_ARRAY_LEN(shared_fields), .name_off = OFF(ak_shared_budget, name),
    .what = "shared budget",
};

/* ---- channels ---- */

static enum ak_err read_email_to(struct cfg_reader *r, yaml_node_t *val, const char *path,
                                 void *obj)
{
    struct ak_channel *c = obj;
    return cfg_read_str_list(r, val, path, &c->to, &c->n_to);
}

#define CHAN_TYPE     { .key = "type", .kind = CFG_SKIP }
#define CHAN_TEMPLATE { .key = "template", .kind = CFG_STR, .off = OFF(ak_channel, template) }

static const struct cfg_field slack_fields[] = {
    CHAN_TYPE,
    { .key = "webhook_url", .kind = CFG_STR, .off = OFF(ak_channel, url), .required = true },
    CHAN_TEMPLATE,
};
static const struct cfg_field pagerduty_fields[] = {
    CHAN_TYPE,
    { .key = "routing_key", .kind = CFG_STR, .off = OFF(ak_channel, routing_key),
      .required = true },
    { .key = "events_url", .kind = CFG_STR, .off = OFF(ak_channel, events_url) },
    CHAN_TEMPLATE,
};
static const struct cfg_field webhook_fields[] = {
    CHAN_TYPE,
    { .key = "url", .kind = CFG_STR, .off = OFF(ak_channel, url), .required = true },
    { .key = "secret", .kind = CFG_STR, .off = OFF(ak_channel, secret) },
    CHAN_TEMPLATE,
};
static const struct cfg_field email_fields[] = {
    CHAN_TYPE,
    { .key = "smtp_url", .kind = CFG_STR, .off = OFF(ak_channel, smtp_url), .required = true },
    { .key = "from", .kind = CFG_STR, .off = OFF(ak_channel, from), .required = true },
    { .key = "to", .kind = CFG_FN, .required = true, .fn = read_email_to },
    CHAN_TEMPLATE,
};

struct channel_schema {
    const struct cfg_field *fields;
    size_t n;
};

static const struct channel_schema channel_schemas[] = {
    [AK_CHAN_SLACK] = { slack_fields, AK_ARRAY_LEN(slack_fields) },
    [AK_CHAN_PAGERDUTY] = { pagerduty_fields, AK_ARRAY_LEN(pagerduty_fields) },
    [AK_CHAN_WEBHOOK] = { webhook_fields, AK_ARRAY_LEN(webhook_fields) },
    [AK_CHAN_EMAIL] = { email_fields, AK_ARRAY_LEN(email_fields) },
};

/* The type decides which other keys are allowed, so it is read first. */
static enum ak_err channel_type(struct cfg_reader *r, yaml_node_t *val, const char *path,
                                struct ak_channel *c)
{
    char type_path[CFG_PATH_MAX];
    cfg_path_key(type_path, path, "type");
    if (!val || cfg_is_null(val))
        return cfg_fail(r, val, type_path, "is required (slack, pagerduty, webhook or email)");
    if (val->type != YAML_MAPPING_NODE)
        return cfg_fail(r, val, path, "must be a map of keys (type, ...)");
    yaml_node_t *t = cfg_map_get(r, val, "type");
    if (!t || cfg_is_null(t))
        return cfg_fail(r, val, type_path, "is required (slack, pagerduty, webhook or email)");
    int type = 0;
    enum ak_err rc = cfg_read_choice(r, t, type_path, channel_type_names, &type);
    if (rc == AK_OK)
        c->type = (enum ak_channel_type)type;
    return rc;
}

/* Reads one channel; its name is already set. */
static enum ak_err read_channel(struct cfg_reader *r, yaml_node_t *val, const char *path,
                                void *obj)
{
    struct ak_channel *c = obj;
    if (strcmp(c->name, CFG_KILL_CHANNEL) == 0)
        return cfg_fail(r, val, path, "'kill' is a built-in channel and cannot be redefined");
    enum ak_err rc = channel_type(r, val, path, c);
    if (rc == AK_OK)
        rc = cfg_walk(r, val, path, channel_schemas[c->type].fields,
                      channel_schemas[c->type].n, c);
    if (rc == AK_OK && c->type == AK_CHAN_PAGERDUTY && !c->events_url) {
        c->events_url = strdup(DEFAULT_PD_EVENTS_URL);
        rc = fail_nomem_if(r, c->events_url);
    }
    return rc;
}

ITEMS_ALLOC(channels_alloc, ak_config, channels, n_channels)
static const struct cfg_items channel_items = {
    .elem_size = sizeof(struct ak_channel), .alloc = channels_alloc, .read_item = read_channel,
    .name_off = OFF(ak_channel, name), .what = "channel",
};

/* ---- identity ---- */

static const struct cfg_field match_fields[] = {
    { .key = "exe", .kind = CFG_STR, .off = OFF(ak_identity_rule, match_exe) },
    { .key = "user", .kind = CFG_STR, .off = OFF(ak_identity_rule, match_user) },
    { .key = "argv0", .kind = CFG_STR, .off = OFF(ak_identity_rule, match_argv0) },
};

static const struct cfg_field rule_fields[] = {
    { .key = "match", CFG_SUB(match_fields) },
    { .key = "agent", .kind = CFG_STR, .off = OFF(ak_identity_rule, agent), .required = true },
};

ITEMS_ALLOC(rules_alloc, ak_config, identity_rules, n_identity_rules)
static const struct cfg_items rule_items = {
    .elem_size = sizeof(struct ak_identity_rule), .alloc = rules_alloc, .fields = rule_fields,
    .n_fields = AK_ARRAY_LEN(rule_fields),
};

static const struct cfg_field identity_fields[] = {
    { .key = "rules", .kind = CFG_LIST, .items = &rule_items },
    { .key = "default", .kind = CFG_STR, .off = OFF(ak_config, identity_default) },
};

/* ---- hosts ---- */

static enum ak_err read_host_name(struct cfg_reader *r, yaml_node_t *val, const char *path,
                                  void *obj)
{
    char **dst = obj;
    enum ak_err rc = cfg_read_str(r, val, path, dst);
    if (rc != AK_OK)
        return rc;
    const char *h = *dst;
    const char *star = strchr(h, '*');
    if (h[0] == '\0')
        return cfg_fail(r, val, path, "must not be empty");
    if (star && (star != h || h[1] != '.' || h[2] == '\0' || strchr(h + 1, '*')))
        return cfg_fail(r, val, path, "'%s': only a leading '*.' wildcard is supported", h);
    return AK_OK;
}

static enum ak_err read_provider(struct cfg_reader *r, yaml_node_t *val, const char *path,
                                 void *obj)
{
    char *s = NULL;
    enum ak_err rc = cfg_read_text(r, val, path, &s);
    if (rc != AK_OK)
        return rc;
    enum ak_provider p = ak_provider_parse(s);
    if (p == AK_PROV_NONE)
        rc = cfg_fail(r, val, path,
                      "unknown provider '%s' (one of: openai, anthropic, gemini, mistral)", s);
    else
        *(enum ak_provider *)obj = p;
    free(s);
    return rc;
}

static const struct cfg_field host_fields[] = {
    { .key = "host", .kind = CFG_FN, .off = OFF(ak_host, host), .required = true,
      .fn = read_host_name },
    { .key = "port", .kind = CFG_INT, .off = OFF(ak_host, port), .max = PORT_MAX },
    { .key = "provider", .kind = CFG_FN, .off = OFF(ak_host, provider), .required = true,
      .fn = read_provider },
};

ITEMS_ALLOC(hosts_alloc, ak_config, hosts, n_hosts)
static const struct cfg_items host_items = {
    .elem_size = sizeof(struct ak_host), .alloc = hosts_alloc, .fields = host_fields,
    .n_fields = AK_ARRAY_LEN(host_fields),
};

/* ---- pricing ---- */

#define PRICE(field, req) \
    { .key = #field, .kind = CFG_DOUBLE, .off = OFF(ak_price_override, field), .required = req }

static const struct cfg_field override_fields[] = {
    { .key = "model", .kind = CFG_STR, .off = OFF(ak_price_override, model), .required = true },
    PRICE(input_per_mtok, true),
    PRICE(output_per_mtok, true),
    PRICE(cached_input_per_mtok, false),
    PRICE(cache_write_per_mtok, false),
    PRICE(reasoning_per_mtok, false),
};

/* Optional prices start as "not given". */
static void *overrides_alloc(void *owner, size_t len)
{
    struct ak_config *cfg = owner;
    cfg->price_overrides = calloc(len, sizeof *cfg->price_overrides);
    cfg->n_price_overrides = cfg->price_overrides ? len : 0;
    for (size_t i = 0; i < cfg->n_price_overrides; i++) {
        struct ak_price_override *o = &cfg->price_overrides[i];
        o->cached_input_per_mtok = o->cache_write_per_mtok = o->reasoning_per_mtok =
            PRICE_NOT_GIVEN;
    }
    return cfg->price_overrides;
}

static const struct cfg_items override_items = {
    .elem_size = sizeof(struct ak_price_override), .alloc = overrides_alloc,
    .fields = override_fields, .n_fields = AK_ARRAY_LEN(override_fields),
};

static const struct cfg_field pricing_fields[] = {
    { .key = "file", .kind = CFG_STR, .off = OFF(ak_config, pricing_file) },
    { .key = "unknown_model", .kind = CFG_CHOICE, .off = OFF(ak_config, unknown_model),
      .names = unknown_model_names },
    { .key = "overrides", .kind = CFG_LIST, .items = &override_items },
};

/* ---- exporters ---- */

static enum ak_err read_fsync(struct cfg_reader *r, yaml_node_t *val, const char *path, void *obj)
{
    char **dst = obj;
    int i = 0;
    enum ak_err rc = cfg_read_choice(r, val, path, fsync_names, &i);
    if (rc != AK_OK)
        return rc;
    char *s = strdup(fsync_names[i]);
    if (!s)
        return cfg_nomem(r);
    free(*dst);
    *dst = s;
    return AK_OK;
}

static const struct cfg_field jsonl_fields[] = {
    { .key = "path", .kind = CFG_STR, .off = OFF(ak_config, jsonl_path) },
    { .key = "max_bytes", .kind = CFG_I64, .off = OFF(ak_config, jsonl_max_bytes), .min = 1 },
    { .key = "keep", .kind = CFG_INT, .off = OFF(ak_config, jsonl_keep) },
    { .key = "fsync", .kind = CFG_FN, .off = OFF(ak_config, jsonl_fsync), .fn = read_fsync },
};

static const struct cfg_field otlp_fields[] = {
    { .key = "endpoint", .kind = CFG_STR, .off = OFF(ak_config, otlp_endpoint) },
    { .key = "interval", .kind = CFG_INT, .off = OFF(ak_config, otlp_interval_s), .min = 1 },
};

/* Reads an exporter's map; the exporter is on even when its address is left out. */
static enum ak_err read_exporter(struct cfg_reader *r, yaml_node_t *val, const char *path,
                                 const struct cfg_field *fields, size_t n, char **addr,
                                 const char *default_addr)
{
    enum ak_err rc = cfg_walk(r, val, path, fields, n, r->cfg);
    if (rc == AK_OK && !*addr) {
        *addr = strdup(default_addr);
        rc = fail_nomem_if(r, *addr);
    }
    return rc;
}

static enum ak_err read_jsonl(struct cfg_reader *r, yaml_node_t *val, const char *path, void *obj)
{
    struct ak_config *cfg = obj;
    return read_exporter(r, val, path, jsonl_fields, AK_ARRAY_LEN(jsonl_fields), &cfg->jsonl_path,
                         DEFAULT_JSONL_PATH);
}

static enum ak_err read_otlp(struct cfg_reader *r, yaml_node_t *val, const char *path, void *obj)
{
    struct ak_config *cfg = obj;
    return read_exporter(r, val, path, otlp_fields, AK_ARRAY_LEN(otlp_fields),
                         &cfg->otlp_endpoint, DEFAULT_OTLP_ENDPOINT);
}

static const struct cfg_field exporter_fields[] = {
    { .key = "jsonl", .kind = CFG_FN, .fn = read_jsonl },
    { .key = "otlp", .kind = CFG_FN, .fn = read_otlp },
};

/* ---- the rest of the top level ---- */

static const struct cfg_field collector_fields[] = {
    { .key = "socket", .kind = CFG_STR, .off = OFF(ak_config, collector_socket) },
    { .key = "outbox_max_events", .kind = CFG_I64, .off = OFF(ak_config, outbox_max_events),
      .min = 1 },
    { .key = "alert_cooldown", .kind = CFG_INT, .off = OFF(ak_config, alert_cooldown_s) },
};

static const struct cfg_field egress_fields[] = {
    { .key = "listen", .kind = CFG_STR, .off = OFF(ak_config, egress_listen) },
    { .key = "transparent", .kind = CFG_STR, .off = OFF(ak_config, egress_transparent) },
    { .key = "ca_dir", .kind = CFG_STR, .off = OFF(ak_config, egress_ca_dir) },
    { .key = "unmetered_tls", .kind = CFG_CHOICE, .off = OFF(ak_config, unmetered_tls),
      .names = unmetered_tls_names },
};

/* ---- fleet ---- */

#define FLEET_TIMEOUT_MAX_MS 60000
#define FLEET_WAIT_MAX_MS    10000

static const struct cfg_field redis_fields[] = {
    { .key = "url", .kind = CFG_STR, .off = OFF(ak_fleet_cfg, redis_url), .required = true },
    { .key = "password", .kind = CFG_STR, .off = OFF(ak_fleet_cfg, redis_password) },
    { .key = "key_prefix", .kind = CFG_STR, .off = OFF(ak_fleet_cfg, key_prefix) },
    { .key = "connect_timeout_ms", .kind = CFG_INT, .off = OFF(ak_fleet_cfg, connect_timeout_ms),
      .min = 1, .max = FLEET_TIMEOUT_MAX_MS },
};

static enum ak_err read_low_water(struct cfg_reader *r, yaml_node_t *val, const char *path,
                                  void *obj)
{
    double t = 0;
    enum ak_err rc = cfg_read_double(r, val, path, &t);
    if (rc != AK_OK)
        return rc;
    if (!(t >= 0 && t < 1))
        return cfg_fail(r, val, path, "must be in [0, 1), a fraction of chunk_usd");
    *(double *)obj = t;
    return AK_OK;
}

static const struct cfg_field lease_fields[] = {
    { .key = "chunk_usd", .kind = CFG_USD, .off = OFF(ak_fleet_cfg, chunk_micros), .min = 1 },
    { .key = "low_water", .kind = CFG_FN, .off = OFF(ak_fleet_cfg, low_water),
      .fn = read_low_water },
    { .key = "wait_ms", .kind = CFG_INT, .off = OFF(ak_fleet_cfg, wait_ms),
      .max = FLEET_WAIT_MAX_MS },
    { .key = "ttl", .kind = CFG_INT, .off = OFF(ak_fleet_cfg, ttl_s), .min = 1 },
};

static const struct cfg_field fleet_fields[] = {
    { .key = "redis", .required = true, CFG_SUB(redis_fields) },
    { .key = "lease", CFG_SUB(lease_fields) },
    { .key = "on_fleet_error", .kind = CFG_CHOICE, .off = OFF(ak_fleet_cfg, on_error),
      .names = fleet_error_names },
    { .key = "host_id", .kind = CFG_STR, .off = OFF(ak_fleet_cfg, host_id) },
};

/* A budget with scope: fleet needs the fleet section. An empty url (an unset ${VAR}: the
 * shims' environment need not carry what only the collector uses) is not refused here; the
 * collector says it cannot reach Redis, and fleet budgets follow on_fleet_error. */
static enum ak_err check_fleet_scopes(struct cfg_reader *r, struct ak_config *cfg)
{
    const char *who = NULL;
    if (cfg->fleet.redis_url)
        return AK_OK;
    if (cfg->defaults.budget.set && cfg->defaults.budget.scope == AK_BUDGET_FLEET)
        who = "defaults.budget";
    for (size_t i = 0; !who && i < cfg->n_agents; i++)
        if (cfg->agents[i].budget.set && cfg->agents[i].budget.scope == AK_BUDGET_FLEET)
            who = cfg->agents[i].name;
    for (size_t i = 0; !who && i < cfg->n_shared; i++)
        if (cfg->shared[i].budget.scope == AK_BUDGET_FLEET)
            who = cfg->shared[i].name;
    if (!who)
        return AK_OK;
    return cfg_fail(r, cfg_root(r), "fleet.redis.url",
                    "budget '%s' has scope: fleet, which needs fleet.redis.url", who);
}

static const struct cfg_field limits_fields[] = {
    { .key = "max_body_bytes", .kind = CFG_U32, .off = OFF(ak_config, max_body_bytes), .min = 1 },
    { .key = "ledger_wait_ms", .kind = CFG_U32, .off = OFF(ak_config, ledger_wait_ms), .min = 1 },
};

static enum ak_err read_listen(struct cfg_reader *r, yaml_node_t *val, const char *path, void *obj)
{
    char *s = NULL;
    struct sockaddr_storage ss;
    unsigned len;
    bool loopback;
    enum ak_err rc = cfg_read_str(r, val, path, &s);
    if (rc != AK_OK)
        return rc;
    if (!ak_listen_parse(s, &ss, &len, &loopback)) {
        free(s);
        return cfg_fail(r, val, path, "expected HOST:PORT with a numeric address "
                        "(127.0.0.1:8480, [::1]:8480)");
    }
    free(*(char **)obj);
    *(char **)obj = s;
    return AK_OK;
}

static const struct cfg_field dashboard_fields[] = {
    { .key = "listen", .kind = CFG_FN, .off = OFF(ak_config, dashboard_listen), .fn = read_listen },
    { .key = "token_file", .kind = CFG_STR, .off = OFF(ak_config, dashboard_token_file) },
    { .key = "web_dir", .kind = CFG_STR, .off = OFF(ak_config, dashboard_web_dir) },
    { .key = "allow_remote", .kind = CFG_BOOL, .off = OFF(ak_config, dashboard_allow_remote) },
};

static const struct cfg_field privacy_fields[] = {
    { .key = "save_prompts", .kind = CFG_BOOL, .off = OFF(ak_config, save_prompts) },
};

static enum ak_err read_version(struct cfg_reader *r, yaml_node_t *val, const char *path,
                                void *obj)
{
    int64_t v = 0;
    enum ak_err rc = cfg_read_int(r, val, path, INT_MIN, INT_MAX, &v);
    if (rc != AK_OK)
        return rc;
    if (v != CFG_VERSION)
        return cfg_fail(r, val, path, "must be %d (the only version this build reads), not %lld",
                        CFG_VERSION, (long long)v);
    *(int *)obj = (int)v;
    return AK_OK;
}

static const struct cfg_field root_fields[] = {
    { .key = "version", .kind = CFG_FN, .off = OFF(ak_config, version), .fn = read_version },
    { .key = "state_dir", .kind = CFG_STR, .off = OFF(ak_config, state_dir) },
    { .key = "mode", .kind = CFG_CHOICE, .off = OFF(ak_config, mode), .names = mode_names },
    { .key = "on_error", .kind = CFG_CHOICE, .off = OFF(ak_config, on_error),
      .names = on_error_names },
    { .key = "http2", .kind = CFG_CHOICE, .off = OFF(ak_config, http2), .names = http2_names },
    { .key = "identity", CFG_SUB(identity_fields) },
    { .key = "hosts", .kind = CFG_LIST, .items = &host_items },
    { .key = "pricing", CFG_SUB(pricing_fields) },
    { .key = "channels", .kind = CFG_NAMED, .items = &channel_items },
    { .key = "defaults", .off = OFF(ak_config, defaults), CFG_SUB(agent_fields) },
    { .key = "agents", .kind = CFG_NAMED, .items = &agent_items },
    { .key = "shared_budgets", .kind = CFG_NAMED, .items = &shared_items },
    { .key = "exporters", CFG_SUB(exporter_fields) },
    { .key = "collector", CFG_SUB(collector_fields) },
    { .key = "fleet", .off = OFF(ak_config, fleet), CFG_SUB(fleet_fields) },
    { .key = "limits", CFG_SUB(limits_fields) },
    { .key = "privacy", CFG_SUB(privacy_fields) },
    { .key = "egress", CFG_SUB(egress_fields) },
    { .key = "dashboard", CFG_SUB(dashboard_fields) },
};

/* ---- loading ---- */

/* Starts from the defaults; the collector socket follows the file's state_dir unless set. */
static enum ak_err load_into(struct cfg_reader *r, const char *path, struct ak_config **out)
{
    struct ak_config *cfg = NULL;
    enum ak_err rc = ak_config_defaults(&cfg);
    if (rc != AK_OK)
        return cfg_nomem(r);
    r->cfg = cfg;
    free(cfg->collector_socket);
    cfg->collector_socket = NULL;
    cfg->path = strdup(path);
    rc = fail_nomem_if(r, cfg->path);
    if (rc == AK_OK)
        rc = cfg_walk(r, cfg_root(r), "", root_fields, AK_ARRAY_LEN(root_fields), cfg);
    if (rc == AK_OK)
        rc = check_fleet_scopes(r, cfg);
    if (rc == AK_OK && (cfg_default_socket(cfg) != AK_OK || cfg_default_dashboard(cfg) != AK_OK))
        rc = cfg_nomem(r);
    if (rc != AK_OK) {
        ak_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return AK_OK;
}

enum ak_err ak_config_load(const char *path, struct ak_config **out, char *err, size_t errlen)
{
    char local[AK_CONFIG_ERRLEN];
    if (!err || errlen == 0) {
        err = local;
        errlen = sizeof local;
    }
    err[0] = '\0';
    if (!path || !out) {
        snprintf(err, errlen, "config: no file given");
        return AK_ERR_INVAL;
    }
    struct cfg_reader r = { .err = err, .errlen = errlen };
    enum ak_err rc = cfg_open(&r, path);
    if (rc == AK_OK)
        rc = load_into(&r, path, out);
    cfg_close(&r);
    return rc;
}
