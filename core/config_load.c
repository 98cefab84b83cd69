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

#include "core/config_read.h"

#define CONFIG_VERSION        1
#define PORT_MAX              65535
#define DEFAULT_JSONL_PATH    "/var/log/agentkavach/events.jsonl"
#define DEFAULT_OTLP_ENDPOINT "http://127.0.0.1:4318"
#define DEFAULT_PD_EVENTS_URL "https://events.pagerduty.com/v2/enqueue"
#define KILL_CHANNEL_NAME     "kill"
#define PRICE_NOT_GIVEN       (-1.0)

#define OFF(type, field) offsetof(struct type, field)

/* Names in the order of their enum values. */
static const char *const mode_names[] = { "enforce", "monitor", "off", NULL };
static const char *const on_error_names[] = { "open", "closed", NULL };
static const char *const period_names[] = { "daily", "monthly", "total", NULL };
static const char *const unknown_model_names[] = { "allow", "block", NULL };
static const char *const channel_type_names[] = { "slack", "pagerduty", "webhook", "email", NULL };
static const char *const fsync_names[] = { "batch", "always", "never", NULL };

static enum ak_err fail_nomem_if(struct cfg_reader *r, const void *p)
{
    return p ? AK_OK : cfg_nomem(r);
}

/* ---- budgets and guardrails ---- */

static const struct cfg_field budget_fields[] = {
    { .key = "type", .kind = CFG_CHOICE, .off = OFF(ak_budget, type), .names = period_names },
    { .key = "limit", .kind = CFG_USD, .off = OFF(ak_budget, limit_micros), .required = true },
};

static enum ak_err read_budget(struct cfg_reader *r, yaml_node_t *val, const char *path, void *obj)
{
    struct ak_budget *b = obj;
    enum ak_err rc = cfg_walk(r, val, path, budget_fields, AK_ARRAY_LEN(budget_fields), b);
    if (rc == AK_OK)
        b->set = true;
    return rc;
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

static enum ak_err read_alert_channels(struct cfg_reader *r, yaml_node_t *val, const char *path,
                                       void *obj)
{
    struct ak_alert_rule *a = obj;
    enum ak_err rc = cfg_read_str_list(r, val, path, &a->channels, &a->n_channels);
    if (rc != AK_OK)
        return rc;
    if (a->n_channels == 0)
        return cfg_fail(r, val, path, "must name at least one channel");
    for (size_t i = 0; i < a->n_channels; i++) {
        if (ak_config_channel(r->cfg, a->channels[i]))
            continue;
        char item[CFG_PATH_MAX];
        cfg_path_index(item, path, i);
        return cfg_fail(r, cfg_seq_item(r, val, i), item,
                        "unknown channel '%s' (define it under channels, or use kill)",
                        a->channels[i]);
    }
    return AK_OK;
}

static const struct cfg_field alert_fields[] = {
    { .key = "threshold", .kind = CFG_FN, .off = OFF(ak_alert_rule, threshold),
      .required = true, .fn = read_threshold },
    { .key = "channels", .kind = CFG_FN, .required = true, .fn = read_alert_channels },
    { .key = "template", .kind = CFG_STR, .off = OFF(ak_alert_rule, template) },
};

static enum ak_err read_alert_list(struct cfg_reader *r, yaml_node_t *val, const char *path,
                                   struct ak_alert_rule **alerts, size_t *n_alerts)
{
    size_t len = 0;
    enum ak_err rc = cfg_seq_len(r, val, path, &len);
    if (rc != AK_OK || len == 0)
        return rc;
    *alerts = calloc(len, sizeof **alerts);
    if (!*alerts)
        return cfg_nomem(r);
    *n_alerts = len;
    for (size_t i = 0; i < len && rc == AK_OK; i++) {
        char item[CFG_PATH_MAX];
        cfg_path_index(item, path, i);
        rc = cfg_walk(r, cfg_seq_item(r, val, i), item, alert_fields,
                      AK_ARRAY_LEN(alert_fields), &(*alerts)[i]);
    }
    return rc;
}

static enum ak_err read_agent_alerts(struct cfg_reader *r, yaml_node_t *val, const char *path,
                                     void *obj)
{
    struct ak_agent_cfg *a = obj;
    return read_alert_list(r, val, path, &a->alerts, &a->n_alerts);
}

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

static const struct cfg_field agent_fields[] = {
    { .key = "budget", .kind = CFG_FN, .off = OFF(ak_agent_cfg, budget), .fn = read_budget },
    { .key = "guardrails", .off = OFF(ak_agent_cfg, guardrails), CFG_SUB(guardrail_fields) },
    { .key = "alerts", .kind = CFG_FN, .fn = read_agent_alerts },
    { .key = "on_kill", .off = OFF(ak_agent_cfg, on_kill), CFG_SUB(on_kill_fields) },
};

static enum ak_err agent_entry(struct cfg_reader *r, const char *name, yaml_node_t *val,
                               const char *path, void *obj, size_t i)
{
    struct ak_config *cfg = obj;
    struct ak_agent_cfg *a = &cfg->agents[i];
    cfg->n_agents = i + 1;
    a->name = strdup(name);
    enum ak_err rc = fail_nomem_if(r, a->name);
    if (rc == AK_OK)
        rc = cfg_walk(r, val, path, agent_fields, AK_ARRAY_LEN(agent_fields), a);
    return rc;
}

static enum ak_err read_agents(struct cfg_reader *r, yaml_node_t *val, const char *path, void *obj)
{
    struct ak_config *cfg = obj;
    size_t n = cfg_map_len(val);
    if (n) {
        cfg->agents = calloc(n, sizeof *cfg->agents);
        if (!cfg->agents)
            return cfg_nomem(r);
    }
    return cfg_walk_named(r, val, path, "agent", agent_entry, cfg);
}

/* ---- shared budgets ---- */

static enum ak_err read_shared_members(struct cfg_reader *r, yaml_node_t *val, const char *path,
                                       void *obj)
{
    struct ak_shared_budget *s = obj;
    enum ak_err rc = cfg_read_str_list(r, val, path, &s->agents, &s->n_agents);
    if (rc != AK_OK)
        return rc;
    if (s->n_agents == 0)
        return cfg_fail(r, val, path, "must list at least one agent");
    for (size_t i = 0; i < s->n_agents; i++) {
        char item[CFG_PATH_MAX];
        cfg_path_index(item, path, i);
        if (!ak_config_agent(r->cfg, s->agents[i]))
            return cfg_fail(r, cfg_seq_item(r, val, i), item,
                            "unknown agent '%s' (list it under agents first)", s->agents[i]);
        for (size_t j = 0; j < i; j++)
            if (strcmp(s->agents[j], s->agents[i]) == 0)
                return cfg_fail(r, cfg_seq_item(r, val, i), item, "agent '%s' is listed twice",
                                s->agents[i]);
    }
    return AK_OK;
}

static enum ak_err read_shared_alerts(struct cfg_reader *r, yaml_node_t *val, const char *path,
                                      void *obj)
{
    struct ak_shared_budget *s = obj;
    return read_alert_list(r, val, path, &s->alerts, &s->n_alerts);
}

static const struct cfg_field shared_fields[] = {
    { .key = "budget", .kind = CFG_FN, .off = OFF(ak_shared_budget, budget), .required = true,
      .fn = read_budget },
    { .key = "agents", .kind = CFG_FN, .required = true, .fn = read_shared_members },
    { .key = "alerts", .kind = CFG_FN, .fn = read_shared_alerts },
};

static enum ak_err shared_entry(struct cfg_reader *r, const char *name, yaml_node_t *val,
                                const char *path, void *obj, size_t i)
{
    struct ak_config *cfg = obj;
    struct ak_shared_budget *s = &cfg->shared[i];
    cfg->n_shared = i + 1;
    s->name = strdup(name);
    enum ak_err rc = fail_nomem_if(r, s->name);
    if (rc == AK_OK)
        rc = cfg_walk(r, val, path, shared_fields, AK_ARRAY_LEN(shared_fields), s);
    return rc;
}

static enum ak_err read_shared(struct cfg_reader *r, yaml_node_t *val, const char *path, void *obj)
{
    struct ak_config *cfg = obj;
    size_t n = cfg_map_len(val);
    if (n) {
        cfg->shared = calloc(n, sizeof *cfg->shared);
        if (!cfg->shared)
            return cfg_nomem(r);
    }
    return cfg_walk_named(r, val, path, "shared budget", shared_entry, cfg);
}

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

static enum ak_err channel_entry(struct cfg_reader *r, const char *name, yaml_node_t *val,
                                 const char *path, void *obj, size_t i)
{
    struct ak_config *cfg = obj;
    struct ak_channel *c = &cfg->channels[i];
    cfg->n_channels = i + 1;
    if (strcmp(name, KILL_CHANNEL_NAME) == 0)
        return cfg_fail(r, val, path, "'kill' is a built-in channel and cannot be redefined");
    c->name = strdup(name);
    enum ak_err rc = fail_nomem_if(r, c->name);
    if (rc == AK_OK)
        rc = channel_type(r, val, path, c);
    if (rc == AK_OK)
        rc = cfg_walk(r, val, path, channel_schemas[c->type].fields,
                      channel_schemas[c->type].n, c);
    if (rc == AK_OK && c->type == AK_CHAN_PAGERDUTY && !c->events_url) {
        c->events_url = strdup(DEFAULT_PD_EVENTS_URL);
        rc = fail_nomem_if(r, c->events_url);
    }
    return rc;
}

static enum ak_err read_channels(struct cfg_reader *r, yaml_node_t *val, const char *path,
                                 void *obj)
{
    struct ak_config *cfg = obj;
    size_t n = cfg_map_len(val);
    if (n) {
        cfg->channels = calloc(n, sizeof *cfg->channels);
        if (!cfg->channels)
            return cfg_nomem(r);
    }
    return cfg_walk_named(r, val, path, "channel", channel_entry, cfg);
}

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

static enum ak_err read_rules(struct cfg_reader *r, yaml_node_t *val, const char *path, void *obj)
{
    struct ak_config *cfg = obj;
    size_t len = 0;
    enum ak_err rc = cfg_seq_len(r, val, path, &len);
    if (rc != AK_OK || len == 0)
        return rc;
    cfg->identity_rules = calloc(len, sizeof *cfg->identity_rules);
    if (!cfg->identity_rules)
        return cfg_nomem(r);
    cfg->n_identity_rules = len;
    for (size_t i = 0; i < len && rc == AK_OK; i++) {
        char item[CFG_PATH_MAX];
        cfg_path_index(item, path, i);
        rc = cfg_walk(r, cfg_seq_item(r, val, i), item, rule_fields, AK_ARRAY_LEN(rule_fields),
                      &cfg->identity_rules[i]);
    }
    return rc;
}

static const struct cfg_field identity_fields[] = {
    { .key = "rules", .kind = CFG_FN, .fn = read_rules },
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

static enum ak_err read_hosts(struct cfg_reader *r, yaml_node_t *val, const char *path, void *obj)
{
    struct ak_config *cfg = obj;
    size_t len = 0;
    enum ak_err rc = cfg_seq_len(r, val, path, &len);
    if (rc != AK_OK || len == 0)
        return rc;
    cfg->hosts = calloc(len, sizeof *cfg->hosts);
    if (!cfg->hosts)
        return cfg_nomem(r);
    cfg->n_hosts = len;
    for (size_t i = 0; i < len && rc == AK_OK; i++) {
        char item[CFG_PATH_MAX];
        cfg_path_index(item, path, i);
        rc = cfg_walk(r, cfg_seq_item(r, val, i), item, host_fields, AK_ARRAY_LEN(host_fields),
                      &cfg->hosts[i]);
    }
    return rc;
}

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

static enum ak_err read_overrides(struct cfg_reader *r, yaml_node_t *val, const char *path,
                                  void *obj)
{
    struct ak_config *cfg = obj;
    size_t len = 0;
    enum ak_err rc = cfg_seq_len(r, val, path, &len);
    if (rc != AK_OK || len == 0)
        return rc;
    cfg->price_overrides = calloc(len, sizeof *cfg->price_overrides);
    if (!cfg->price_overrides)
        return cfg_nomem(r);
    cfg->n_price_overrides = len;
    for (size_t i = 0; i < len && rc == AK_OK; i++) {
        struct ak_price_override *o = &cfg->price_overrides[i];
        o->cached_input_per_mtok = o->cache_write_per_mtok = o->reasoning_per_mtok =
            PRICE_NOT_GIVEN;
        char item[CFG_PATH_MAX];
        cfg_path_index(item, path, i);
        rc = cfg_walk(r, cfg_seq_item(r, val, i), item, override_fields,
                      AK_ARRAY_LEN(override_fields), o);
    }
    return rc;
}

static const struct cfg_field pricing_fields[] = {
    { .key = "file", .kind = CFG_STR, .off = OFF(ak_config, pricing_file) },
    { .key = "unknown_model", .kind = CFG_CHOICE, .off = OFF(ak_config, unknown_model),
      .names = unknown_model_names },
    { .key = "overrides", .kind = CFG_FN, .fn = read_overrides },
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

static const struct cfg_field limits_fields[] = {
    { .key = "max_body_bytes", .kind = CFG_U32, .off = OFF(ak_config, max_body_bytes), .min = 1 },
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
    if (v != CONFIG_VERSION)
        return cfg_fail(r, val, path, "must be %d (the only version this build reads), not %lld",
                        CONFIG_VERSION, (long long)v);
    *(int *)obj = (int)v;
    return AK_OK;
}

static const struct cfg_field root_fields[] = {
    { .key = "version", .kind = CFG_FN, .off = OFF(ak_config, version), .fn = read_version },
    { .key = "state_dir", .kind = CFG_STR, .off = OFF(ak_config, state_dir) },
    { .key = "mode", .kind = CFG_CHOICE, .off = OFF(ak_config, mode), .names = mode_names },
    { .key = "on_error", .kind = CFG_CHOICE, .off = OFF(ak_config, on_error),
      .names = on_error_names },
    { .key = "identity", CFG_SUB(identity_fields) },
    { .key = "hosts", .kind = CFG_FN, .fn = read_hosts },
    { .key = "pricing", CFG_SUB(pricing_fields) },
    { .key = "channels", .kind = CFG_FN, .fn = read_channels },
    { .key = "defaults", .off = OFF(ak_config, defaults), CFG_SUB(agent_fields) },
    { .key = "agents", .kind = CFG_FN, .fn = read_agents },
    { .key = "shared_budgets", .kind = CFG_FN, .fn = read_shared },
    { .key = "exporters", CFG_SUB(exporter_fields) },
    { .key = "collector", CFG_SUB(collector_fields) },
    { .key = "limits", CFG_SUB(limits_fields) },
    { .key = "privacy", CFG_SUB(privacy_fields) },
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
    if (rc == AK_OK && cfg_default_socket(cfg) != AK_OK)
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
