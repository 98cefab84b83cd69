/*
 * config.c - the configuration as a value: its built-in defaults, where it comes from (the
 * environment), freeing it, and the look-ups the shim, collector and akctl use. Reading and
 * validating the YAML file is core/config_load.c (schema) and core/config_read.c (reader).
 */
#include "core/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/config_read.h"

#define DEFAULT_IDENTITY        "{exe}"
#define DEFAULT_JSONL_MAX_BYTES (64LL * 1024 * 1024)
#define DEFAULT_JSONL_KEEP      5
#define DEFAULT_JSONL_FSYNC     "batch"
#define DEFAULT_OTLP_INTERVAL_S 10
#define DEFAULT_OUTBOX_MAX      1000000
#define DEFAULT_ALERT_COOLDOWN  300
#define COLLECTOR_SOCKET_NAME   "collector.sock"
#define DEFAULT_FLEET_PREFIX    "agentkavach:"
#define DEFAULT_FLEET_TIMEOUT   500
#define DEFAULT_FLEET_CHUNK     (5 * AK_MICROS_PER_USD)
#define DEFAULT_FLEET_LOW_WATER 0.25
#define DEFAULT_FLEET_WAIT_MS   100
#define DEFAULT_FLEET_TTL_S     30

/* ---- defaults ---- */

enum ak_err cfg_default_socket(struct ak_config *cfg)
{
    if (cfg->collector_socket)
        return AK_OK;
    const char *dir = ak_config_state_dir(cfg);
    size_t len = strlen(dir) + sizeof "/" COLLECTOR_SOCKET_NAME;
    cfg->collector_socket = malloc(len);
    if (!cfg->collector_socket)
        return AK_ERR_NOMEM;
    snprintf(cfg->collector_socket, len, "%s/%s", dir, COLLECTOR_SOCKET_NAME);
    return AK_OK;
}

enum ak_err cfg_default_dashboard(struct ak_config *cfg)
{
    if (!cfg->dashboard_listen)
        return AK_OK;
    if (!cfg->dashboard_token_file && !(cfg->dashboard_token_file = strdup(AK_DEFAULT_DASHBOARD_TOKEN)))
        return AK_ERR_NOMEM;
    if (!cfg->dashboard_web_dir && !(cfg->dashboard_web_dir = strdup(AK_DEFAULT_DASHBOARD_WEB)))
        return AK_ERR_NOMEM;
    return AK_OK;
}

enum ak_err ak_config_defaults(struct ak_config **out)
{
    struct ak_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return AK_ERR_NOMEM;
    cfg->version = CFG_VERSION;
    cfg->mode = AK_MODE_ENFORCE;
    cfg->on_error = AK_ON_ERROR_OPEN;
    cfg->http2 = AK_HTTP2_DOWNGRADE;
    cfg->unknown_model = AK_UNKNOWN_ALLOW;
    cfg->jsonl_max_bytes = DEFAULT_JSONL_MAX_BYTES;
    cfg->jsonl_keep = DEFAULT_JSONL_KEEP;
    cfg->otlp_interval_s = DEFAULT_OTLP_INTERVAL_S;
    cfg->outbox_max_events = DEFAULT_OUTBOX_MAX;
    cfg->alert_cooldown_s = DEFAULT_ALERT_COOLDOWN;
    cfg->max_body_bytes = AK_DEFAULT_MAX_BODY;
    cfg->ledger_wait_ms = AK_DEFAULT_LEDGER_WAIT_MS;
    cfg->fleet.connect_timeout_ms = DEFAULT_FLEET_TIMEOUT;
    cfg->fleet.chunk_micros = DEFAULT_FLEET_CHUNK;
    cfg->fleet.low_water = DEFAULT_FLEET_LOW_WATER;
    cfg->fleet.wait_ms = DEFAULT_FLEET_WAIT_MS;
    cfg->fleet.ttl_s = DEFAULT_FLEET_TTL_S;
    cfg->fleet.key_prefix = strdup(DEFAULT_FLEET_PREFIX);
    cfg->state_dir = strdup(AK_DEFAULT_STATE_DIR);
    cfg->identity_default = strdup(DEFAULT_IDENTITY);
    cfg->jsonl_fsync = strdup(DEFAULT_JSONL_FSYNC);
    cfg->egress_listen = strdup(AK_EGRESS_LISTEN);
    cfg->egress_ca_dir = strdup(AK_EGRESS_CA_DIR);
    if (!cfg->state_dir || !cfg->identity_default || !cfg->jsonl_fsync || !cfg->fleet.key_prefix ||
        !cfg->egress_listen || !cfg->egress_ca_dir ||
        cfg_default_socket(cfg) != AK_OK) {
        ak_config_free(cfg);
        return AK_ERR_NOMEM;
    }
    *out = cfg;
    return AK_OK;
}

const char *ak_config_path_from_env(void)
{
    const char *p = getenv("AGENTKAVACH_CONFIG");
    return p && *p ? p : AK_DEFAULT_CONFIG_PATH;
}

enum ak_err ak_config_resolve(const char *path, struct ak_config **out, char *err, size_t errlen)
{
    const char *env = getenv("AGENTKAVACH_CONFIG");
    bool asked = path || (env && *env);
    if (err && errlen)
        err[0] = '\0';
    if (!path)
        path = ak_config_path_from_env();
    if (!asked && access(path, F_OK) != 0 && errno == ENOENT)
        return ak_config_defaults(out);      /* nothing installed: the embedded defaults */
    return ak_config_load(path, out, err, errlen);
}

const char *ak_config_state_dir(const struct ak_config *cfg)
{
    const char *env = getenv("AGENTKAVACH_STATE_DIR");
    if (env && *env)
        return env;
    return cfg && cfg->state_dir ? cfg->state_dir : AK_DEFAULT_STATE_DIR;
}

/* ---- freeing ---- */

static void free_strs(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

static void free_alerts(struct ak_alert_rule *alerts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free_strs(alerts[i].channels, alerts[i].n_channels);
        free(alerts[i].template);
    }
    free(alerts);
}

static void free_agent(struct ak_agent_cfg *a)
{
    free(a->name);
    free_alerts(a->alerts, a->n_alerts);
    free(a->on_kill.command);
    free_strs(a->users, a->n_users);
}

void cfg_alerts_free(struct ak_alert_rule *alerts, size_t n)
{
    free_alerts(alerts, n);
}

/* ---- copying (a listed agent starts as a copy of `defaults`) ---- */

static char *dup_or_null(const char *s, bool *oom)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *oom = true;
    return d;
}

static struct ak_alert_rule *copy_alerts(const struct ak_alert_rule *src, size_t n, bool *oom)
{
    struct ak_alert_rule *dst = n ? calloc(n, sizeof *dst) : NULL;
    if (n && !dst) {
        *oom = true;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        dst[i].threshold = src[i].threshold;
        dst[i].template = dup_or_null(src[i].template, oom);
        dst[i].channels = src[i].n_channels ? calloc(src[i].n_channels, sizeof(char *)) : NULL;
        if (src[i].n_channels && !dst[i].channels) {
            *oom = true;
            continue;
        }
        dst[i].n_channels = src[i].n_channels;
        for (size_t j = 0; j < src[i].n_channels; j++)
            dst[i].channels[j] = dup_or_null(src[i].channels[j], oom);
    }
    return dst;
}

enum ak_err cfg_agent_inherit(struct ak_agent_cfg *a, const struct ak_agent_cfg *d)
{
    bool oom = false;
    a->budget = d->budget;
    a->budget_inherited = d->budget.set;
    a->guardrails = d->guardrails;
    a->on_kill.signal = d->on_kill.signal;
    a->on_kill.command = dup_or_null(d->on_kill.command, &oom);
    a->alerts = copy_alerts(d->alerts, d->n_alerts, &oom);
    a->n_alerts = a->alerts ? d->n_alerts : 0;
    return oom ? AK_ERR_NOMEM : AK_OK;
}

static void free_channel(struct ak_channel *c)
{
    free(c->name);
    free(c->url);
    free(c->routing_key);
    free(c->events_url);
    free(c->secret);
    free(c->smtp_url);
    free(c->from);
    free_strs(c->to, c->n_to);
    free(c->template);
}

static void free_identity(struct ak_config *cfg)
{
    for (size_t i = 0; i < cfg->n_identity_rules; i++) {
        struct ak_identity_rule *r = &cfg->identity_rules[i];
        free(r->match_exe);
        free(r->match_user);
        free(r->match_argv0);
        free(r->agent);
    }
    free(cfg->identity_rules);
    free(cfg->identity_default);
}

static void free_budgets(struct ak_config *cfg)
{
    free_agent(&cfg->defaults);
    for (size_t i = 0; i < cfg->n_agents; i++)
        free_agent(&cfg->agents[i]);
    free(cfg->agents);
    for (size_t i = 0; i < cfg->n_shared; i++) {
        free(cfg->shared[i].name);
        free_strs(cfg->shared[i].agents, cfg->shared[i].n_agents);
        free_alerts(cfg->shared[i].alerts, cfg->shared[i].n_alerts);
    }
    free(cfg->shared);
}

void ak_config_free(struct ak_config *cfg)
{
    if (!cfg)
        return;
    free_identity(cfg);
    for (size_t i = 0; i < cfg->n_hosts; i++)
        free(cfg->hosts[i].host);
    free(cfg->hosts);
    for (size_t i = 0; i < cfg->n_price_overrides; i++)
        free(cfg->price_overrides[i].model);
    free(cfg->price_overrides);
    for (size_t i = 0; i < cfg->n_channels; i++)
        free_channel(&cfg->channels[i]);
    free(cfg->channels);
    free_budgets(cfg);
    free(cfg->path);
    free(cfg->state_dir);
    free(cfg->pricing_file);
    free(cfg->jsonl_path);
    free(cfg->jsonl_fsync);
    free(cfg->otlp_endpoint);
    free(cfg->collector_socket);
    free(cfg->egress_listen);
    free(cfg->egress_transparent);
    free(cfg->egress_ca_dir);
    free(cfg->dashboard_listen);
    free(cfg->dashboard_token_file);
    free(cfg->dashboard_web_dir);
    free(cfg->fleet.redis_url);
    free(cfg->fleet.redis_password);
    free(cfg->fleet.key_prefix);
    free(cfg->fleet.host_id);
    free(cfg);
}

/* ---- look-ups ---- */

const struct ak_agent_cfg *ak_config_agent(const struct ak_config *cfg, const char *agent)
{
    if (!cfg || !agent)
        return NULL;
    for (size_t i = 0; i < cfg->n_agents; i++)
        if (cfg->agents[i].name && strcmp(cfg->agents[i].name, agent) == 0)
            return &cfg->agents[i];
    return NULL;
}

const struct ak_agent_cfg *ak_config_agent_or_default(const struct ak_config *cfg,
                                                      const char *agent)
{
    static const struct ak_agent_cfg none;   /* for a NULL cfg: no budget, no guardrails */
    const struct ak_agent_cfg *a = ak_config_agent(cfg, agent);
    if (a)
        return a;
    return cfg ? &cfg->defaults : &none;
}

const struct ak_shared_budget *ak_config_shared(const struct ak_config *cfg, const char *name)
{
    for (size_t i = 0; cfg && name && i < cfg->n_shared; i++)
        if (cfg->shared[i].name && strcmp(cfg->shared[i].name, name) == 0)
            return &cfg->shared[i];
    return NULL;
}

/* "kill" is built in: usable in alerts without a definition (it suspends the agent). */
static const struct ak_channel kill_channel = {
    .name = (char *)CFG_KILL_CHANNEL,
    .type = AK_CHAN_KILL,
};

const struct ak_channel *ak_config_channel(const struct ak_config *cfg, const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; cfg && i < cfg->n_channels; i++)
        if (cfg->channels[i].name && strcmp(cfg->channels[i].name, name) == 0)
            return &cfg->channels[i];
    return strcmp(name, CFG_KILL_CHANNEL) == 0 ? &kill_channel : NULL;
}

/* "*.suffix" matches any name ending in ".suffix" (not the bare suffix); else exact. */
static bool host_matches(const char *pattern, const char *host)
{
    if (pattern[0] == '*' && pattern[1] == '.') {
        size_t pl = strlen(pattern + 1), hl = strlen(host);
        return hl > pl && strcasecmp(host + hl - pl, pattern + 1) == 0;
    }
    return strcasecmp(pattern, host) == 0;
}

enum ak_provider ak_config_host_provider(const struct ak_config *cfg, const char *host, int port)
{
    if (!cfg || !host)
        return AK_PROV_NONE;
    for (size_t i = 0; i < cfg->n_hosts; i++) {
        const struct ak_host *h = &cfg->hosts[i];
        if (h->host && (h->port == 0 || port == 0 || h->port == port) && host_matches(h->host, host))
            return h->provider;
    }
    return AK_PROV_NONE;
}

/* ---- listen addresses ---- */

#define PORT_MAX 65535
#define HOST_TEXT 64

static bool listen_port(const char *s, uint16_t *port)
{
    char *end = NULL;
    if (!*s || *s == '-' || *s == '+')
        return false;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || v == 0 || v > PORT_MAX)
        return false;
    *port = htons((uint16_t)v);
    return true;
}

bool ak_listen_parse(const char *s, struct sockaddr_storage *out, unsigned *len, bool *loopback)
{
    char host[HOST_TEXT];
    const char *colon = s ? strrchr(s, ':') : NULL;
    if (!colon || (size_t)(colon - s) >= sizeof host)
        return false;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    memset(out, 0, sizeof *out);
    size_t hl = strlen(host);
    if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
        host[hl - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1 || !listen_port(colon + 1, &a->sin6_port))
            return false;
        a->sin6_family = AF_INET6;
        *len = sizeof *a;
        *loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
        return true;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)out;
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1 || !listen_port(colon + 1, &a->sin_port))
        return false;
    a->sin_family = AF_INET;
    *len = sizeof *a;
    *loopback = (ntohl(a->sin_addr.s_addr) >> IN_CLASSA_NSHIFT) == IN_LOOPBACKNET;
    return true;
}
