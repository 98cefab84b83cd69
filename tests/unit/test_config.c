/*
 * test_config.c - agentkavach.yaml loading (core/config*.c): the shipped example and default
 * load with the values they say, an empty file is all defaults, ${VAR} interpolation, the
 * look-up helpers, and one test per kind of refusal checking that the message names the
 * file, the line and the key path an operator has to fix.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>

#include "core/config.h"

#define ERRLEN    AK_CONFIG_ERRLEN
#define USD(x)    ((int64_t)((x) * AK_MICROS_PER_USD))
#define MIB       (1024LL * 1024)
#define TEMP_PATH 64

/* ---- helpers ---- */

/* A file of the source tree, found from the test binary (build/tests/) or the cwd. */
static void repo_path(const char *rel, char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    assert_true(n > 0);
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    snprintf(out, len, "%s/../../%s", exe, rel);
    if (access(out, R_OK) != 0)
        snprintf(out, len, "%s", rel);
}

static void write_temp(const char *text, char path[TEMP_PATH])
{
    strcpy(path, "/tmp/ak_test_config_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

static struct ak_config *load_ok(const char *path)
{
    char err[ERRLEN] = "";
    struct ak_config *cfg = NULL;
    enum ak_err rc = ak_config_load(path, &cfg, err, sizeof err);
    if (rc != AK_OK)
        print_error("load %s: %s\n", path, err);
    assert_int_equal(rc, AK_OK);
    assert_non_null(cfg);
    return cfg;
}

static struct ak_config *load_text_ok(const char *text)
{
    char path[TEMP_PATH];
    write_temp(text, path);
    struct ak_config *cfg = load_ok(path);
    unlink(path);
    return cfg;
}

static struct ak_config *load_repo_file(const char *rel)
{
    char path[PATH_MAX + 16];
    repo_path(rel, path, sizeof path);
    return load_ok(path);
}

/* ---- the shipped files ---- */

static void test_example_loads(void **state)
{
    setenv("AGENTKAVACH_SLACK_WEBHOOK_URL", "https://hooks.example/slack-test", 1);
    unsetenv("AGENTKAVACH_PAGERDUTY_ROUTING_KEY");
    unsetenv("AGENTKAVACH_STATE_DIR");
    struct ak_config *cfg = load_repo_file("agentkavach.yaml.example");

    assert_int_equal(cfg->version, 1);
    assert_string_equal(cfg->state_dir, "/var/lib/agentkavach");
    assert_int_equal(cfg->mode, AK_MODE_ENFORCE);
    assert_int_equal(cfg->on_error, AK_ON_ERROR_OPEN);
    assert_int_equal(cfg->http2, AK_HTTP2_DOWNGRADE);
    assert_non_null(strstr(cfg->path, "agentkavach.yaml.example"));

    assert_int_equal(cfg->n_identity_rules, 2);
    assert_string_equal(cfg->identity_rules[0].match_exe, "*/research_bot");
    assert_null(cfg->identity_rules[0].match_user);
    assert_string_equal(cfg->identity_rules[0].agent, "research-bot");
    assert_string_equal(cfg->identity_rules[1].match_user, "svc-writer");
    assert_string_equal(cfg->identity_rules[1].match_argv0, "*writer*");
    assert_string_equal(cfg->identity_default, "{exe}");

    assert_int_equal(cfg->n_hosts, 2);
    assert_string_equal(cfg->hosts[0].host, "llm.internal");
    assert_int_equal(cfg->hosts[0].port, 8443);
    assert_int_equal(cfg->hosts[0].provider, AK_PROV_OPENAI);
    assert_int_equal(cfg->hosts[1].port, 0);

    assert_null(cfg->pricing_file);
    assert_int_equal(cfg->unknown_model, AK_UNKNOWN_ALLOW);
    assert_int_equal(cfg->n_price_overrides, 1);
    assert_string_equal(cfg->price_overrides[0].model, "my-finetune");
    assert_true(cfg->price_overrides[0].input_per_mtok == 3.0);
    assert_true(cfg->price_overrides[0].output_per_mtok == 12.0);
    assert_true(cfg->price_overrides[0].cached_input_per_mtok == 1.5);

    assert_int_equal(cfg->n_channels, 4);
    const struct ak_channel *slack = ak_config_channel(cfg, "slack");
    assert_non_null(slack);
    assert_int_equal(slack->type, AK_CHAN_SLACK);
    assert_string_equal(slack->url, "https://hooks.example/slack-test");
    assert_non_null(slack->template);
    const struct ak_channel *pd = ak_config_channel(cfg, "pagerduty");
    assert_int_equal(pd->type, AK_CHAN_PAGERDUTY);
    assert_string_equal(pd->routing_key, "");   /* unset variable: empty, not a refusal */
    assert_string_equal(pd->events_url, "https://events.pagerduty.com/v2/enqueue");
    assert_int_equal(ak_config_channel(cfg, "ops")->type, AK_CHAN_WEBHOOK);
    const struct ak_channel *mail = ak_config_channel(cfg, "oncall");
    assert_int_equal(mail->type, AK_CHAN_EMAIL);
    assert_string_equal(mail->smtp_url, "smtp://mail.internal:25");
    assert_int_equal(mail->n_to, 1);
    assert_string_equal(mail->to[0], "oncall@example.com");

    assert_true(cfg->defaults.budget.set);
    assert_int_equal(cfg->defaults.budget.type, AK_PERIOD_DAILY);
    assert_int_equal(cfg->defaults.budget.limit_micros, USD(10));

    assert_int_equal(cfg->n_agents, 3);
    assert_false(ak_config_agent(cfg, "batch-indexer")->budget.set);   /* budget: none */
    const struct ak_agent_cfg *rb = ak_config_agent(cfg, "research-bot");
    assert_non_null(rb);
    assert_int_equal(rb->budget.limit_micros, USD(50));
    assert_int_equal(rb->guardrails.max_tokens_per_call, 8000);
    assert_int_equal(rb->guardrails.max_calls, 1000);
    assert_int_equal(rb->guardrails.max_runtime_s, 3600);
    assert_int_equal(rb->guardrails.loop_window, 20);
    assert_int_equal(rb->guardrails.loop_max_repeats, 5);
    assert_int_equal(rb->guardrails.spend_rate_micros, USD(5));
    assert_int_equal(rb->guardrails.spend_rate_per_s, 60);
    assert_int_equal(rb->guardrails.max_errors_count, 10);
    assert_int_equal(rb->guardrails.max_errors_per_s, 900);
    assert_int_equal(rb->n_alerts, 2);
    assert_true(rb->alerts[0].threshold == 0.7);
    assert_int_equal(rb->alerts[0].n_channels, 1);
    assert_null(rb->alerts[0].template);
    assert_int_equal(rb->alerts[1].n_channels, 3);
    assert_string_equal(rb->alerts[1].channels[2], "kill");
    assert_non_null(rb->alerts[1].template);
    assert_int_equal(rb->on_kill.signal, SIGTERM);
    assert_string_equal(rb->on_kill.command, "/usr/local/bin/page-owner");
    const struct ak_agent_cfg *wb = ak_config_agent(cfg, "writer-bot");
    assert_int_equal(wb->budget.type, AK_PERIOD_MONTHLY);
    assert_int_equal(wb->guardrails.max_calls, 0);

    assert_int_equal(cfg->n_shared, 1);
    assert_string_equal(cfg->shared[0].name, "research-team");
    assert_int_equal(cfg->shared[0].budget.limit_micros, USD(500));
    assert_int_equal(cfg->shared[0].n_agents, 2);
    assert_string_equal(cfg->shared[0].agents[1], "writer-bot");
    assert_int_equal(cfg->shared[0].n_alerts, 1);
    assert_true(cfg->shared[0].alerts[0].threshold == 0.9);

    assert_string_equal(cfg->jsonl_path, "/var/log/agentkavach/events.jsonl");
    assert_int_equal(cfg->jsonl_max_bytes, 64 * MIB);
    assert_int_equal(cfg->jsonl_keep, 5);
    assert_string_equal(cfg->jsonl_fsync, "batch");
    assert_string_equal(cfg->otlp_endpoint, "http://127.0.0.1:4318");
    assert_int_equal(cfg->otlp_interval_s, 10);
    assert_string_equal(cfg->collector_socket, "/var/lib/agentkavach/collector.sock");
    assert_int_equal(cfg->outbox_max_events, 1000000);
    assert_int_equal(cfg->alert_cooldown_s, 300);
    assert_int_equal(cfg->max_body_bytes, 8 * MIB);
    assert_false(cfg->save_prompts);
    assert_string_equal(cfg->dashboard_listen, "127.0.0.1:8480");
    assert_string_equal(cfg->dashboard_token_file, "/etc/agentkavach/dashboard.token");
    assert_string_equal(cfg->dashboard_web_dir, "/usr/local/share/agentkavach/web");
    assert_false(cfg->dashboard_allow_remote);
    ak_config_free(cfg);
    unsetenv("AGENTKAVACH_SLACK_WEBHOOK_URL");
}

static void test_dist_default_loads(void **state)
{
    struct ak_config *cfg = load_repo_file("dist/agentkavach.yaml");
    assert_int_equal(cfg->mode, AK_MODE_ENFORCE);
    assert_true(cfg->defaults.budget.set);
    assert_true(cfg->defaults.budget.limit_micros > 0);
    assert_non_null(cfg->jsonl_path);
    assert_null(cfg->otlp_endpoint);
    assert_int_equal(cfg->n_channels, 0);
    assert_int_equal(cfg->n_agents, 0);
    ak_config_free(cfg);
}

/* ---- defaults ---- */

static void assert_all_defaults(const struct ak_config *cfg)
{
    assert_int_equal(cfg->version, 1);
    assert_string_equal(cfg->state_dir, AK_DEFAULT_STATE_DIR);
    assert_int_equal(cfg->mode, AK_MODE_ENFORCE);
    assert_int_equal(cfg->on_error, AK_ON_ERROR_OPEN);
    assert_string_equal(cfg->identity_default, "{exe}");
    assert_int_equal(cfg->n_identity_rules + cfg->n_hosts + cfg->n_channels + cfg->n_agents +
                         cfg->n_shared + cfg->n_price_overrides, 0);
    assert_null(cfg->pricing_file);
    assert_int_equal(cfg->unknown_model, AK_UNKNOWN_ALLOW);
    assert_false(cfg->defaults.budget.set);
    assert_null(cfg->jsonl_path);
    assert_int_equal(cfg->jsonl_max_bytes, 64 * MIB);
    assert_int_equal(cfg->jsonl_keep, 5);
    assert_string_equal(cfg->jsonl_fsync, "batch");
    assert_null(cfg->otlp_endpoint);
    assert_int_equal(cfg->otlp_interval_s, 10);
    assert_string_equal(cfg->collector_socket, AK_DEFAULT_STATE_DIR "/collector.sock");
    assert_int_equal(cfg->outbox_max_events, 1000000);
    assert_int_equal(cfg->alert_cooldown_s, 300);
    assert_int_equal(cfg->max_body_bytes, AK_DEFAULT_MAX_BODY);
    assert_false(cfg->save_prompts);
}

static void test_empty_file_is_defaults(void **state)
{
    unsetenv("AGENTKAVACH_STATE_DIR");
    struct ak_config *cfg = load_text_ok("");
    assert_all_defaults(cfg);
    ak_config_free(cfg);
    cfg = load_repo_file("tests/unit/fixtures/config/comments_only.yaml");
    assert_all_defaults(cfg);
    ak_config_free(cfg);
    assert_int_equal(ak_config_defaults(&cfg), AK_OK);
    assert_all_defaults(cfg);
    assert_null(cfg->path);
    ak_config_free(cfg);
}

static void test_choices_and_sections(void **state)
{
    struct ak_config *cfg = load_text_ok(
        "mode: monitor\n"
        "on_error: closed\n"
        "http2: native\n"
        "state_dir: /srv/ak\n"
        "pricing: { file: p.yaml, unknown_model: block }\n"
        "exporters:\n"
        "  jsonl: { fsync: always, keep: 0 }\n"
        "  otlp: {}\n"
        "limits: { max_body_bytes: 1024 }\n"
        "privacy: { save_prompts: yes }\n"
        "collector: { alert_cooldown: 0 }\n"
        "identity:\n"   /* a key without a value is as if it were missing */
        "agents:\n"
        "  a: { on_kill: { signal: 9 } }\n"
        "  b: { on_kill: { signal: SIGUSR1 } }\n"
        "  c: { budget: { type: total, limit: 0.000001 } }\n");
    assert_int_equal(cfg->mode, AK_MODE_MONITOR);
    assert_int_equal(cfg->on_error, AK_ON_ERROR_CLOSED);
    assert_int_equal(cfg->http2, AK_HTTP2_NATIVE);
    assert_string_equal(cfg->collector_socket, "/srv/ak/collector.sock");
    assert_string_equal(cfg->pricing_file, "p.yaml");
    assert_int_equal(cfg->unknown_model, AK_UNKNOWN_BLOCK);
    assert_string_equal(cfg->jsonl_path, "/var/log/agentkavach/events.jsonl");
    assert_string_equal(cfg->jsonl_fsync, "always");
    assert_int_equal(cfg->jsonl_keep, 0);
    assert_string_equal(cfg->otlp_endpoint, "http://127.0.0.1:4318");
    assert_int_equal(cfg->max_body_bytes, 1024);
    assert_true(cfg->save_prompts);
    assert_int_equal(cfg->alert_cooldown_s, 0);
    assert_int_equal(ak_config_agent(cfg, "a")->on_kill.signal, SIGKILL);
    assert_int_equal(ak_config_agent(cfg, "b")->on_kill.signal, SIGUSR1);
    assert_int_equal(ak_config_agent(cfg, "c")->budget.type, AK_PERIOD_TOTAL);
    assert_int_equal(ak_config_agent(cfg, "c")->budget.limit_micros, 1);
    assert_false(ak_config_agent(cfg, "a")->budget.set);
    ak_config_free(cfg);
}

/* ---- environment ---- */

static void test_interpolation(void **state)
{
    setenv("AK_TEST_DIR", "/tmp/akdir", 1);
    setenv("AK_TEST_HOOK", "https://hooks.example/T0", 1);
    setenv("AK_TEST_HOST", "ops.example", 1);
    setenv("AK_TEST_PORT", "8080", 1);
    setenv("AK_TEST_LIMIT", "12.5", 1);
    setenv("AK_TEST_AGENT", "env-bot", 1);
    unsetenv("AK_TEST_UNSET");
    struct ak_config *cfg = load_repo_file("tests/unit/fixtures/config/interpolate.yaml");
    assert_string_equal(cfg->state_dir, "/tmp/akdir/state");
    assert_string_equal(ak_config_channel(cfg, "hook")->url, "https://hooks.example/T0");
    assert_string_equal(ak_config_channel(cfg, "ops")->url, "https://ops.example:8080/x");
    assert_string_equal(ak_config_channel(cfg, "ops")->secret, "");
    assert_int_equal(cfg->defaults.budget.limit_micros, USD(12.5));
    /* only ${NAME} is replaced: $NAME, invalid names and an unclosed brace stay as written */
    assert_string_equal(cfg->identity_default, "$HOME ${not-a-name} ${AK_TEST_DIR");
    assert_non_null(ak_config_agent(cfg, "env-bot"));
    ak_config_free(cfg);

    setenv("AK_TEST_LIMIT", "-3", 1);   /* the value is checked after interpolation */
    char path[PATH_MAX + 16], err[ERRLEN] = "";
    repo_path("tests/unit/fixtures/config/interpolate.yaml", path, sizeof path);
    assert_int_equal(ak_config_load(path, &cfg, err, sizeof err), AK_ERR_CONFIG);
    assert_non_null(strstr(err, ":7: defaults.budget.limit: must be >= 0"));
    unsetenv("AK_TEST_LIMIT");
}

static void test_env_paths(void **state)
{
    unsetenv("AGENTKAVACH_CONFIG");
    assert_string_equal(ak_config_path_from_env(), AK_DEFAULT_CONFIG_PATH);
    setenv("AGENTKAVACH_CONFIG", "/tmp/x.yaml", 1);
    assert_string_equal(ak_config_path_from_env(), "/tmp/x.yaml");
    unsetenv("AGENTKAVACH_CONFIG");

    struct ak_config *cfg = load_text_ok("state_dir: /srv/file-dir\n");
    assert_string_equal(ak_config_state_dir(cfg), "/srv/file-dir");
    setenv("AGENTKAVACH_STATE_DIR", "/srv/env-dir", 1);
    assert_string_equal(ak_config_state_dir(cfg), "/srv/env-dir");
    ak_config_free(cfg);
    cfg = load_text_ok("state_dir: /srv/file-dir\n");   /* the socket follows the env too */
    assert_string_equal(cfg->collector_socket, "/srv/env-dir/collector.sock");
    ak_config_free(cfg);
    unsetenv("AGENTKAVACH_STATE_DIR");
}

/* ---- look-ups ---- */

static void test_lookups(void **state)
{
    struct ak_config *cfg = load_text_ok(
        "hosts:\n"
        "  - { host: llm.internal, port: 8443, provider: openai }\n"
        "  - { host: \"*.corp.example\", provider: anthropic }\n"
        "  - { host: mistral.local, port: 0, provider: mistral }\n"
        "channels:\n"
        "  s: { type: slack, webhook_url: \"https://hooks.example/x\" }\n"
        "defaults: { budget: { limit: 3 } }\n"
        "agents:\n"
        "  bot: { budget: { limit: 7 } }\n");
    assert_int_equal(ak_config_host_provider(cfg, "llm.internal", 8443), AK_PROV_OPENAI);
    assert_int_equal(ak_config_host_provider(cfg, "LLM.Internal", 8443), AK_PROV_OPENAI);
    assert_int_equal(ak_config_host_provider(cfg, "llm.internal", 443), AK_PROV_NONE);
    assert_int_equal(ak_config_host_provider(cfg, "a.corp.example", 443), AK_PROV_ANTHROPIC);
    assert_int_equal(ak_config_host_provider(cfg, "x.y.corp.example", 1), AK_PROV_ANTHROPIC);
    assert_int_equal(ak_config_host_provider(cfg, "corp.example", 443), AK_PROV_NONE);
    assert_int_equal(ak_config_host_provider(cfg, "evilcorp.example", 443), AK_PROV_NONE);
    assert_int_equal(ak_config_host_provider(cfg, "mistral.local", 9), AK_PROV_MISTRAL);
    assert_int_equal(ak_config_host_provider(cfg, "api.openai.com", 443), AK_PROV_NONE);

    assert_int_equal(ak_config_agent_or_default(cfg, "bot")->budget.limit_micros, USD(7));
    assert_ptr_equal(ak_config_agent_or_default(cfg, "stranger"), &cfg->defaults);
    assert_int_equal(ak_config_agent_or_default(cfg, NULL)->budget.limit_micros, USD(3));
    assert_null(ak_config_agent(cfg, "stranger"));

    assert_int_equal(ak_config_channel(cfg, "s")->type, AK_CHAN_SLACK);
    assert_int_equal(ak_config_channel(cfg, "kill")->type, AK_CHAN_KILL);
    assert_null(ak_config_channel(cfg, "nope"));
    ak_config_free(cfg);
}

/* ---- refusals ---- */

static void test_missing_file(void **state)
{
    char err[ERRLEN] = "";
    struct ak_config *cfg = (struct ak_config *)&err;   /* must stay untouched */
    enum ak_err rc = ak_config_load("/nonexistent/ak.yaml", &cfg, err, sizeof err);
    assert_int_equal(rc, AK_ERR_IO);
    assert_string_equal(err, "/nonexistent/ak.yaml: cannot open: No such file or directory");
    assert_ptr_equal(cfg, (struct ak_config *)&err);
    assert_int_equal(ak_config_load("/tmp", &cfg, err, sizeof err), AK_ERR_IO);
    assert_string_equal(err, "/tmp: cannot open: Is a directory");
}

struct refusal {
    const char *name;
    const char *yaml;
    int line;
    const char *path;   /* key path the message must name */
    const char *what;   /* words the message must contain */
};

#define SLACK_S "channels:\n  s: { type: slack, webhook_url: x }\n"

static const struct refusal refusals[] = {
    { "unknown_top_key", "version: 1\nmode: enforce\nmodes: monitor\n", 3, "modes",
      "unknown key" },
    { "unknown_nested_key", "agents:\n  bot:\n    guardrails:\n      max_token: 5\n", 4,
      "agents.bot.guardrails.max_token", "unknown key" },
    { "unknown_key_in_list_item", "hosts:\n  - host: a.example\n    provider: openai\n"
      "    prot: 1\n", 4, "hosts[0].prot", "unknown key" },
    { "key_of_other_channel_type", "channels:\n  s:\n    type: slack\n    webhook_url: x\n"
      "    routing_key: y\n", 5, "channels.s.routing_key", "unknown key" },
    { "duplicate_key", "mode: enforce\nmode: off\n", 2, "mode", "duplicate key" },
    { "string_for_map", "agents:\n  bot:\n    budget: fifty\n", 3, "agents.bot.budget",
      "must be a map" },
    { "map_for_string", "state_dir:\n  a: b\n", 2, "state_dir", "must be a single value" },
    { "string_for_list", "hosts: llm.internal\n", 1, "hosts", "must be a list" },
    { "top_level_list", "- a\n- b\n", 1, "top level", "must be a map" },
    { "non_number_limit", "defaults:\n  budget: { type: daily, limit: lots }\n", 2,
      "defaults.budget.limit", "USD" },
    { "non_number_guardrail", "agents:\n  bot:\n    guardrails: { max_calls: many }\n", 3,
      "agents.bot.guardrails.max_calls", "whole number" },
    { "negative_limit", "agents:\n  bot:\n    budget:\n      limit: -5\n", 4,
      "agents.bot.budget.limit", "must be >= 0" },
    { "negative_guardrail", "defaults:\n  guardrails:\n    max_tokens_per_call: -1\n", 3,
      "defaults.guardrails.max_tokens_per_call", "must be >= 0" },
    { "zero_rate_period", "defaults:\n  guardrails:\n    max_spend_rate: { usd: 1, per: 0 }\n",
      3, "defaults.guardrails.max_spend_rate.per", "must be >= 1" },
    { "missing_budget_limit", "agents:\n  bot:\n    budget:\n      type: daily\n", 4,
      "agents.bot.budget.limit", "is required" },
    { "threshold_zero", SLACK_S "agents:\n  bot:\n    alerts:\n"
      "      - { threshold: 0, channels: [s] }\n", 6, "agents.bot.alerts[0].threshold",
      "(0, 1]" },
    { "threshold_above_one", SLACK_S "defaults:\n  alerts:\n"
      "      - { threshold: 0.5, channels: [s] }\n      - { threshold: 1.5, channels: [s] }\n",
      6, "defaults.alerts[1].threshold", "(0, 1]" },
    { "unknown_mode", "mode: block\n", 1, "mode", "unknown value 'block'" },
    { "dashboard_listen_name", "dashboard:\n  listen: localhost:8480\n", 2, "dashboard.listen",
      "HOST:PORT" },
    { "dashboard_listen_port", "dashboard:\n  listen: 127.0.0.1:99999\n", 2, "dashboard.listen",
      "HOST:PORT" },
    { "unknown_on_error", "version: 1\non_error: maybe\n", 2, "on_error",
      "unknown value 'maybe'" },
    { "unknown_http2", "version: 1\nhttp2: h2c\n", 2, "http2", "unknown value 'h2c'" },
    { "unknown_budget_type", "defaults:\n  budget:\n    type: weekly\n    limit: 1\n", 3,
      "defaults.budget.type", "unknown value 'weekly'" },
    { "unknown_provider", "hosts:\n  - { host: a.example, provider: cohere }\n", 2,
      "hosts[0].provider", "unknown provider 'cohere'" },
    { "bad_host_wildcard", "hosts:\n  - { host: \"api.*.example\", provider: openai }\n", 2,
      "hosts[0].host", "wildcard" },
    { "unknown_channel_type", "channels:\n  x:\n    type: sms\n", 3, "channels.x.type",
      "unknown value 'sms'" },
    { "channel_without_type", "channels:\n  x:\n    url: y\n", 3, "channels.x.type",
      "is required" },
    { "kill_redefined", "channels:\n  kill: { type: slack, webhook_url: x }\n", 2,
      "channels.kill", "built-in" },
    { "alert_channel_undefined", "agents:\n  bot:\n    alerts:\n      - threshold: 0.5\n"
      "        channels:\n          - kill\n          - slack\n", 7,
      "agents.bot.alerts[0].channels[1]", "unknown channel 'slack'" },
    { "shared_unknown_agent", "agents:\n  a: {}\nshared_budgets:\n  team:\n"
      "    budget: { limit: 5 }\n    agents:\n      - a\n      - ghost\n", 8,
      "shared_budgets.team.agents[1]", "unknown agent 'ghost'" },
    { "channel_listed_twice", SLACK_S "defaults:\n  alerts:\n"
      "    - { threshold: 1, channels: [s, kill, s] }\n", 5, "defaults.alerts[0].channels[2]",
      "listed twice" },
    { "no_alert_channels", "defaults:\n  alerts:\n    - threshold: 1\n      channels: []\n", 4,
      "defaults.alerts[0].channels", "at least one channel" },
    { "duplicate_agent", "agents:\n  a: {}\n  b: {}\n  a: {}\n", 4, "agents.a",
      "duplicate agent name" },
    { "unknown_signal", "agents:\n  a:\n    on_kill: { signal: STOP }\n", 3,
      "agents.a.on_kill.signal", "unknown signal 'STOP'" },
    { "bad_fsync", "exporters:\n  jsonl:\n    fsync: sometimes\n", 3, "exporters.jsonl.fsync",
      "unknown value 'sometimes'" },
    { "bad_bool", "privacy:\n  save_prompts: maybe\n", 2, "privacy.save_prompts",
      "true or false" },
    { "version_2", "version: 2\n", 1, "version", "must be 1" },
    { "second_document", "mode: enforce\n---\nmode: off\n", 3, "top level",
      "only one YAML document" },
};

static void run_refusal(void **state)
{
    const struct refusal *t = *state;
    char path[TEMP_PATH], err[ERRLEN] = "", want[ERRLEN];
    write_temp(t->yaml, path);
    struct ak_config *cfg = (struct ak_config *)&err;   /* must stay untouched */
    enum ak_err rc = ak_config_load(path, &cfg, err, sizeof err);
    unlink(path);
    snprintf(want, sizeof want, "%s:%d: %s: ", path, t->line, t->path);
    if (rc != AK_ERR_CONFIG || strncmp(err, want, strlen(want)) != 0 || !strstr(err, t->what))
        print_error("%s: got rc %d \"%s\"; want \"%s...%s\"\n", t->name, rc, err, want, t->what);
    assert_int_equal(rc, AK_ERR_CONFIG);
    assert_ptr_equal(cfg, (struct ak_config *)&err);
    assert_true(strncmp(err, want, strlen(want)) == 0);
    assert_non_null(strstr(err, t->what));
    assert_null(strchr(err, '\n'));
}

/* defaults fill in every key a listed agent leaves out; budget: none opts out */
static void test_defaults_fill_listed_agents(void **state)
{
    struct ak_config *cfg = load_text_ok(
        "version: 1\n"
        "channels:\n  s: { type: slack, webhook_url: \"http://127.0.0.1:9/x\" }\n"
        "defaults:\n"
        "  budget: { type: daily, limit: 0.05 }\n"
        "  guardrails: { max_calls: 7, max_tokens_per_call: 100 }\n"
        "  alerts: [ { threshold: 0.5, channels: [s] } ]\n"
        "  on_kill: { signal: TERM, command: \"echo hi\" }\n"
        "agents:\n"
        "  only-guard: { guardrails: { max_tokens_per_call: 8000 } }\n"
        "  own: { budget: { type: monthly, limit: 3 }, alerts: [ { threshold: 0.9, channels: [s] } ] }\n"
        "  none: { budget: none }\n");
    const struct ak_agent_cfg *g = ak_config_agent(cfg, "only-guard");
    assert_non_null(g);
    assert_true(g->budget.set && g->budget_inherited);
    assert_int_equal(g->budget.type, AK_PERIOD_DAILY);
    assert_int_equal(g->budget.limit_micros, USD(0.05));
    assert_int_equal(g->guardrails.max_tokens_per_call, 8000);   /* its own */
    assert_int_equal(g->guardrails.max_calls, 7);                /* the default's */
    assert_int_equal(g->n_alerts, 1);
    assert_string_equal(g->alerts[0].channels[0], "s");
    assert_int_equal(g->on_kill.signal, SIGTERM);
    assert_string_equal(g->on_kill.command, "echo hi");
    const struct ak_agent_cfg *o = ak_config_agent(cfg, "own");
    assert_true(o->budget.set && !o->budget_inherited);
    assert_int_equal(o->budget.limit_micros, USD(3));
    assert_int_equal(o->n_alerts, 1);
    assert_true(o->alerts[0].threshold > 0.89 && o->alerts[0].threshold < 0.91);
    const struct ak_agent_cfg *n = ak_config_agent(cfg, "none");
    assert_false(n->budget.set);
    assert_int_equal(n->guardrails.max_calls, 7);
    ak_config_free(cfg);
}

/* ak_config_resolve: the one way the shim, the collector and akctl find their config */
static void test_resolve(void **state)
{
    char err[ERRLEN] = "", path[TEMP_PATH];
    struct ak_config *cfg = NULL;
    char *saved = getenv("AGENTKAVACH_CONFIG") ? strdup(getenv("AGENTKAVACH_CONFIG")) : NULL;
    setenv("AGENTKAVACH_CONFIG", "/nonexistent/agentkavach.yaml", 1);
    assert_int_equal(ak_config_resolve(NULL, &cfg, err, sizeof err), AK_ERR_IO);  /* asked for */
    assert_non_null(strstr(err, "/nonexistent/agentkavach.yaml"));
    write_temp("version: 1\nmode: monitor\n", path);
    assert_int_equal(ak_config_resolve(path, &cfg, err, sizeof err), AK_OK);   /* --config wins */
    assert_int_equal(cfg->mode, AK_MODE_MONITOR);
    ak_config_free(cfg);
    setenv("AGENTKAVACH_CONFIG", path, 1);
    assert_int_equal(ak_config_resolve(NULL, &cfg, err, sizeof err), AK_OK);
    assert_int_equal(cfg->mode, AK_MODE_MONITOR);
    ak_config_free(cfg);
    unlink(path);
    if (saved)
        setenv("AGENTKAVACH_CONFIG", saved, 1);
    else
        unsetenv("AGENTKAVACH_CONFIG");
    free(saved);
}

/* libyaml's own words, with the line where it noticed the problem. */
static void test_syntax_error(void **state)
{
    char path[TEMP_PATH], err[ERRLEN] = "", want[ERRLEN];
    write_temp("version: 1\nmode: enforce\n  bad: indent\n", path);
    struct ak_config *cfg = NULL;
    enum ak_err rc = ak_config_load(path, &cfg, err, sizeof err);
    unlink(path);
    assert_int_equal(rc, AK_ERR_CONFIG);
    assert_null(cfg);
    snprintf(want, sizeof want, "%s:3: syntax error: ", path);
    assert_true(strncmp(err, want, strlen(want)) == 0);
    assert_non_null(strstr(err, "mapping values are not allowed"));
}

/* dashboard.listen: numeric IPv4 or bracketed IPv6, a port, and whether it is loopback. */
static void test_listen_parse(void **state)
{
    struct sockaddr_storage ss;
    unsigned len = 0;
    bool lo = false;
    assert_true(ak_listen_parse("127.0.0.1:8480", &ss, &len, &lo));
    assert_true(lo);
    assert_true(ak_listen_parse("127.9.0.1:1", &ss, &len, &lo));
    assert_true(lo);
    assert_true(ak_listen_parse("[::1]:8480", &ss, &len, &lo));
    assert_true(lo);
    assert_true(ak_listen_parse("0.0.0.0:8480", &ss, &len, &lo));
    assert_false(lo);
    assert_true(ak_listen_parse("[::]:8480", &ss, &len, &lo));
    assert_false(lo);
    const char *bad[] = { "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
                          "127.0.0.1:-1", "127.0.0.1:80x", "localhost:80", "::1:80", "[::1]" };
    for (size_t i = 0; i < AK_ARRAY_LEN(bad); i++)
        assert_false(ak_listen_parse(bad[i], &ss, &len, &lo));
}

/* An empty dashboard section is no dashboard; listen alone gets the default token and web dir. */
static void test_dashboard_defaults(void **state)
{
    char path[TEMP_PATH];
    write_temp("dashboard:\n  listen: 127.0.0.1:9000\n", path);
    struct ak_config *cfg = load_ok(path);
    unlink(path);
    assert_string_equal(cfg->dashboard_listen, "127.0.0.1:9000");
    assert_string_equal(cfg->dashboard_token_file, AK_DEFAULT_DASHBOARD_TOKEN);
    assert_string_equal(cfg->dashboard_web_dir, AK_DEFAULT_DASHBOARD_WEB);
    ak_config_free(cfg);
    write_temp("version: 1\n", path);
    cfg = load_ok(path);
    unlink(path);
    assert_null(cfg->dashboard_listen);
    assert_null(cfg->dashboard_token_file);
    ak_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_loads),
        cmocka_unit_test(test_dist_default_loads),
        cmocka_unit_test(test_empty_file_is_defaults),
        cmocka_unit_test(test_choices_and_sections),
        cmocka_unit_test(test_interpolation),
        cmocka_unit_test(test_env_paths),
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_listen_parse),
        cmocka_unit_test(test_dashboard_defaults),
        cmocka_unit_test(test_defaults_fill_listed_agents),
        cmocka_unit_test(test_resolve),
    };
    struct CMUnitTest refusal_tests[AK_ARRAY_LEN(refusals)];
    for (size_t i = 0; i < AK_ARRAY_LEN(refusals); i++)
        refusal_tests[i] = (struct CMUnitTest){ .name = refusals[i].name,
                                                .test_func = run_refusal,
                                                .initial_state = (void *)&refusals[i] };
    int failed = cmocka_run_group_tests_name("config", tests, NULL, NULL);
    failed += _cmocka_run_group_tests("config_refusals", refusal_tests,
                                      AK_ARRAY_LEN(refusal_tests), NULL, NULL);
    return failed ? 1 : 0;
}
