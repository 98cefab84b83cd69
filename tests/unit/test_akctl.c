/*
 * test_akctl.c - runs the real build/akctl against a temporary state directory filled
 * through the ledger API (events from ak_event_to_json committed against the agents' and the
 * shared budget), with the clock pinned by AGENTKAVACH_FAKE_NOW_MS: status (table and the
 * JSON shape), events and its filters, report sums, budget set, suspend/resume/reset, prices,
 * config check, doctor, help texts and the exit codes 0/1/2.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cJSON.h>
#include <math.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <time.h>

#include "core/event.h"
#include "core/ledger.h"
#include "core/period.h"
#include "pricing/pricing.h"
#include "tests/unit/tools_proc.h"

#define NOW_TEXT "2026-11-22T12:00:00Z"
#define HOUR_MS (3600LL * 1000)
#define DAY_MS (24 * HOUR_MS)
#define USD(x) ((int64_t)((x) * AK_MICROS_PER_USD))
#define MAX_ARGS 16
#define FOLLOW_WAIT_MS 10000     /* generous: only a hung machine gets near it */
#define EPS 1e-9

/* The fixture's configured budgets (must match CONFIG_TEXT). */
#define RESEARCH_LIMIT 50
#define WRITER_LIMIT 20
#define DEFAULT_LIMIT 10
#define TEAM_LIMIT 500

static const char CONFIG_TEXT[] =
    "version: 1\n"
    "defaults:\n"
    "  budget: { type: daily, limit: 10 }\n"
    "agents:\n"
    "  research-bot:\n"
    "    budget: { type: daily, limit: 50 }\n"
    "  writer-bot:\n"
    "    budget: { type: monthly, limit: 20 }\n"
    "shared_budgets:\n"
    "  research-team: { budget: { type: monthly, limit: 500 }, agents: [research-bot, writer-bot] }\n";

struct fx_event {
    const char *agent, *model;
    enum ak_provider provider;
    int64_t age_ms;               /* before "now" */
    int64_t in, out, cost;
    enum ak_decision decision;
};

/* Committed in this order (oldest first). */
static const struct fx_event fx_events[] = {
    { "adhoc-bot", "gpt-4o", AK_PROV_OPENAI, DAY_MS, 100, 50, USD(1), AK_DEC_ALLOWED },
    { "research-bot", "gpt-4o", AK_PROV_OPENAI, 3 * HOUR_MS, 1000, 500, USD(30), AK_DEC_ALLOWED },
    { "research-bot", "gpt-4o-mini", AK_PROV_OPENAI, 2 * HOUR_MS, 2000, 100, USD(10), AK_DEC_ALLOWED },
    { "writer-bot", "claude-sonnet-4-5", AK_PROV_ANTHROPIC, HOUR_MS, 300, 200, USD(5), AK_DEC_ALLOWED },
    { "writer-bot", "claude-sonnet-4-5", AK_PROV_ANTHROPIC, HOUR_MS / 2, 0, 0, 0, AK_DEC_BLOCKED_BUDGET },
};
#define N_FX (sizeof fx_events / sizeof fx_events[0])

struct fixture {
    char dir[PATH_MAX];
    char config[PATH_MAX];
    char state[PATH_MAX];
    char now_env[64];
    int64_t now_ms;
    char ids[N_FX][40];
};

static char akctl_path[PATH_MAX];

static double akctl_usd_of(int64_t micros)
{
    return (double)micros / (double)AK_MICROS_PER_USD;
}

/* ---- fixture ---- */

static bool write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    bool ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

static void fx_refs(const struct fx_event *e, struct ak_budget_ref refs[2], size_t *n)
{
    bool research = strcmp(e->agent, "research-bot") == 0;
    bool writer = strcmp(e->agent, "writer-bot") == 0;
    refs[0] = (struct ak_budget_ref){
        .scope = AK_SCOPE_AGENT, .name = e->agent,
        .type = writer ? AK_PERIOD_MONTHLY : AK_PERIOD_DAILY,
        .limit_micros = USD(research ? RESEARCH_LIMIT : writer ? WRITER_LIMIT : DEFAULT_LIMIT),
    };
    refs[1] = (struct ak_budget_ref){
        .scope = AK_SCOPE_SHARED, .name = "research-team", .type = AK_PERIOD_MONTHLY,
        .limit_micros = USD(TEAM_LIMIT),
    };
    *n = research || writer ? 2 : 1;
}

static enum ak_err fx_commit(struct ak_ledger *l, const struct fx_event *e, int64_t now_ms, char id[40])
{
    struct ak_event ev;
    struct ak_budget_ref refs[2];
    size_t n = 0;
    memset(&ev, 0, sizeof ev);
    ak_event_new_id(ev.event_id);
    memcpy(id, ev.event_id, 40);
    ev.ts_ms = now_ms - e->age_ms;
    snprintf(ev.agent, sizeof ev.agent, "%s", e->agent);
    snprintf(ev.model, sizeof ev.model, "%s", e->model);
    snprintf(ev.host, sizeof ev.host, "%s", e->provider == AK_PROV_OPENAI ? "api.openai.com" : "api.anthropic.com");
    snprintf(ev.operation, sizeof ev.operation, "%s", e->provider == AK_PROV_OPENAI ? "chat" : "messages");
    ev.provider = e->provider;
    ev.usage.input_tokens = e->in;
    ev.usage.output_tokens = e->out;
    ev.cost_micros = e->cost;
    ev.decision = e->decision;
    ev.status = e->decision == AK_DEC_ALLOWED ? 200 : 429;
    if (e->decision != AK_DEC_ALLOWED)
        snprintf(ev.reason, sizeof ev.reason, "budget of %s exhausted", e->agent);
    ev.pid = 4242;
    char *json = ak_event_to_json(&ev);
    if (!json)
        return AK_ERR_NOMEM;
    bool blocked = e->decision != AK_DEC_ALLOWED;
    if (!blocked)
        fx_refs(e, refs, &n);
    struct ak_commit c = {
        .agent = blocked ? NULL : e->agent, .budgets = refs, .n_budgets = n,
        .cost_micros = e->cost, .count_call = !blocked, .event_json = json,
        .event_len = strlen(json), .now_ms = ev.ts_ms,
    };
    enum ak_err rc = ak_ledger_commit(l, &c, NULL);
    free(json);
    return rc;
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    struct ak_ledger *l = NULL;
    if (!fx || !ak_time_parse(NOW_TEXT, &fx->now_ms))
        goto fail;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/ak-akctl-test-XXXXXX");
    if (!mkdtemp(fx->dir))
        goto fail;
    if (snprintf(fx->config, sizeof fx->config, "%s/agentkavach.yaml", fx->dir) >= (int)sizeof fx->config ||
        snprintf(fx->state, sizeof fx->state, "%s/state", fx->dir) >= (int)sizeof fx->state)
        goto fail;
    snprintf(fx->now_env, sizeof fx->now_env, "AGENTKAVACH_FAKE_NOW_MS=%lld", (long long)fx->now_ms);
    if (!write_file(fx->config, CONFIG_TEXT) || ak_ledger_open(fx->state, &l) != AK_OK)
        goto fail;
    for (size_t i = 0; i < N_FX; i++)
        if (fx_commit(l, &fx_events[i], fx->now_ms, fx->ids[i]) != AK_OK)
            goto fail;
    ak_ledger_close(l);
    *state = fx;
    return 0;
fail:
    if (l)
        ak_ledger_close(l);
    free(fx);
    return -1;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    int rc = system(cmd);
    free(fx);
    return rc == 0 ? 0 : -1;
}

static int group_setup(void **state)
{
    (void)state;
    return tp_binary("akctl", akctl_path, sizeof akctl_path) ? access(akctl_path, X_OK) : -1;
}

/* ---- running akctl ---- */

/* akctl --config F --state-dir D <args...> (NULL-terminated) with the clock pinned. */
static struct tp_result akctl(const struct fixture *fx, const char *arg, ...)
{
    char *argv[MAX_ARGS];
    size_t n = 0;
    va_list ap;
    argv[n++] = akctl_path;
    argv[n++] = "--config";
    argv[n++] = (char *)fx->config;
    argv[n++] = "--state-dir";
    argv[n++] = (char *)fx->state;
    va_start(ap, arg);
    for (const char *a = arg; a && n + 1 < MAX_ARGS; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    char *env[] = { (char *)fx->now_env, "NO_COLOR=", "AGENTKAVACH_CONFIG=",
                    "AGENTKAVACH_STATE_DIR=", NULL };
    struct tp_result r;
    assert_true(tp_run(argv, env, &r));
    return r;
}

/* Runs akctl and asserts success. */
#define akctl_ok(...)                                   \
    do {                                                \
        struct tp_result ok_ = akctl(__VA_ARGS__);      \
        assert_int_equal(ok_.code, 0);                  \
        tp_result_free(&ok_);                           \
    } while (0)

/* A failure: exit `code`, nothing on stdout, exactly one line on stderr naming `what`. */
static void assert_fails(struct tp_result r, int code, const char *what)
{
    assert_int_equal(r.code, code);
    assert_string_equal(r.out, "");
    assert_int_equal(tp_count_lines(r.err), 1);
    assert_non_null(strstr(r.err, what));
    tp_result_free(&r);
}

static cJSON *status_json(const struct fixture *fx)
{
    struct tp_result r = akctl(fx, "status", "--json", NULL);
    assert_int_equal(r.code, 0);
    cJSON *root = cJSON_Parse(r.out);
    assert_non_null(root);
    tp_result_free(&r);
    return root;
}

static cJSON *find_named(cJSON *arr, const char *field, const char *name)
{
    cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        cJSON *f = cJSON_GetObjectItemCaseSensitive(it, field);
        if (cJSON_IsString(f) && strcmp(f->valuestring, name) == 0)
            return it;
    }
    return NULL;
}

static cJSON *status_agent(cJSON *root, const char *agent)
{
    cJSON *a = find_named(cJSON_GetObjectItemCaseSensitive(root, "agents"), "agent", agent);
    assert_non_null(a);
    return a;
}

static double num(cJSON *o, const char *field)
{
    cJSON *f = cJSON_GetObjectItemCaseSensitive(o, field);
    assert_true(cJSON_IsNumber(f));
    return f->valuedouble;
}

static const char *str(cJSON *o, const char *field)
{
    cJSON *f = cJSON_GetObjectItemCaseSensitive(o, field);
    assert_true(cJSON_IsString(f));
    return f->valuestring;
}

static bool flag(cJSON *o, const char *field)
{
    cJSON *f = cJSON_GetObjectItemCaseSensitive(o, field);
    assert_true(cJSON_IsBool(f));
    return cJSON_IsTrue(f);
}

/* Sum of fixture costs/calls for agent (NULL = any) at or after since_ms (0 = all). */
static void fx_sum(const struct fixture *fx, const char *agent, int64_t since_ms,
                   int64_t *cost, int64_t *calls)
{
    *cost = *calls = 0;
    for (size_t i = 0; i < N_FX; i++) {
        const struct fx_event *e = &fx_events[i];
        if ((agent && strcmp(agent, e->agent) != 0) || fx->now_ms - e->age_ms < since_ms)
            continue;
        *cost += e->cost;
        *calls += e->decision == AK_DEC_ALLOWED;
    }
}

static int64_t today_start(const struct fixture *fx)
{
    return fx->now_ms - fx->now_ms % DAY_MS;
}

/* ---- status ---- */

static void test_status_json_shape_and_values(void **state)
{
    struct fixture *fx = *state;
    int64_t cost, calls;
    cJSON *root = status_json(fx);
    char day[AK_PERIOD_KEY_LEN], month[AK_PERIOD_KEY_LEN];
    ak_period_key(AK_PERIOD_DAILY, fx->now_ms, day);
    ak_period_key(AK_PERIOD_MONTHLY, fx->now_ms, month);

    static const char *const fields[] = { "agent", "period", "spent_usd", "limit_usd", "percent",
                                          "calls", "suspended", "reason" };
    cJSON *agents = cJSON_GetObjectItemCaseSensitive(root, "agents");
    assert_true(cJSON_IsArray(agents));
    assert_int_equal(cJSON_GetArraySize(agents), 3);   /* 2 configured + 1 seen in the ledger */
    cJSON *it;
    cJSON_ArrayForEach(it, agents)
        for (size_t i = 0; i < AK_ARRAY_LEN(fields); i++)
            assert_non_null(cJSON_GetObjectItemCaseSensitive(it, fields[i]));

    cJSON *rb = status_agent(root, "research-bot");
    fx_sum(fx, "research-bot", today_start(fx), &cost, &calls);
    assert_string_equal(str(rb, "period"), day);
    assert_true(fabs(num(rb, "spent_usd") - akctl_usd_of(cost)) < EPS);
    assert_true(fabs(num(rb, "limit_usd") - RESEARCH_LIMIT) < EPS);
    assert_true(fabs(num(rb, "percent") - 100.0 * (double)cost / (double)USD(RESEARCH_LIMIT)) < 1e-6);
    assert_int_equal((int64_t)num(rb, "calls"), calls);
    assert_false(flag(rb, "suspended"));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(rb, "reason")));

    cJSON *wb = status_agent(root, "writer-bot");
    fx_sum(fx, "writer-bot", 0, &cost, &calls);
    assert_string_equal(str(wb, "period"), month);
    assert_true(fabs(num(wb, "spent_usd") - akctl_usd_of(cost)) < EPS);
    assert_int_equal((int64_t)num(wb, "calls"), calls);

    /* seen only in the ledger: defaults.budget; its only call was yesterday */
    cJSON *ad = status_agent(root, "adhoc-bot");
    assert_true(fabs(num(ad, "limit_usd") - DEFAULT_LIMIT) < EPS);
    assert_true(fabs(num(ad, "spent_usd")) < EPS);
    assert_int_equal((int64_t)num(ad, "calls"), 0);

    cJSON *shared = cJSON_GetObjectItemCaseSensitive(root, "shared_budgets");
    cJSON *team = find_named(shared, "name", "research-team");
    assert_non_null(team);
    int64_t c1, n1, c2, n2;
    fx_sum(fx, "research-bot", 0, &c1, &n1);
    fx_sum(fx, "writer-bot", 0, &c2, &n2);
    assert_string_equal(str(team, "period"), month);
    assert_true(fabs(num(team, "spent_usd") - akctl_usd_of(c1 + c2)) < EPS);
    assert_true(fabs(num(team, "limit_usd") - TEAM_LIMIT) < EPS);
    assert_int_equal((int64_t)num(team, "calls"), n1 + n2);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(team, "agents")), 2);
    /* the "cannot happen" counters, host-wide: none on a healthy fixture, the map's size known */
    cJSON *counters = cJSON_GetObjectItemCaseSensitive(root, "counters");
    assert_non_null(counters);
    assert_int_equal((int64_t)num(counters, "internal_errors"), 0);
    assert_int_equal((int64_t)num(counters, "pruned_undelivered"), 0);
    assert_true(num(counters, "map_size") > 0);
    cJSON_Delete(root);
}

static void test_status_table_no_colour_in_a_pipe(void **state)
{
    struct fixture *fx = *state;
    struct tp_result r = akctl(fx, "status", NULL);
    assert_int_equal(r.code, 0);
    assert_null(strchr(r.out, '\033'));
    assert_non_null(strstr(r.out, "AGENT"));
    const char *row = strstr(r.out, "\nresearch-bot ");
    assert_non_null(row);
    char limit[32];
    ak_usd_format(USD(RESEARCH_LIMIT), limit, sizeof limit);
    size_t row_len = strcspn(row + 1, "\n");
    char *lim = strstr(row, limit);
    assert_true(lim && (size_t)(lim - row) < row_len);
    /* aligned: "PERIOD" column starts at the same offset in the header and the rows */
    const char *head_period = strstr(r.out, "PERIOD");
    char day[AK_PERIOD_KEY_LEN];
    ak_period_key(AK_PERIOD_DAILY, fx->now_ms, day);
    assert_int_equal(head_period - r.out, strstr(row, day) - (row + 1));
    assert_non_null(strstr(r.out, "research-team"));
    tp_result_free(&r);
}

/* Runs `akctl status` on a pseudo-terminal (so stdout is a tty) and returns what it wrote. */
static void status_on_tty(const struct fixture *fx, const char *no_color, char *buf, size_t cap)
{
    int master = -1;
    size_t used = 0;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    assert_true(pid >= 0);
    if (pid == 0) {
        if ((no_color ? setenv("NO_COLOR", no_color, 1) : unsetenv("NO_COLOR")) ||
            putenv((char *)fx->now_env))          /* the child reads the fixture's clock too */
            _exit(125);
        execl(akctl_path, akctl_path, "--state-dir", fx->state, "--config", fx->config,
              "status", (char *)NULL);
        _exit(126);
    }
    for (;;) {                         /* EIO once the child has exited and closed the tty */
        ssize_t r = read(master, buf + used, cap - 1 - used);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || (used += (size_t)r) + 1 >= cap)
            break;
    }
    buf[used] = '\0';
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    close(master);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* The line of buf that contains needle (copied into line). */
static const char *line_with(const char *buf, const char *needle, char *line, size_t len)
{
    const char *at = strstr(buf, needle);
    assert_non_null(at);
    const char *start = at;
    while (start > buf && start[-1] != '\n')
        start--;
    snprintf(line, len, "%.*s", (int)strcspn(start, "\r\n"), start);
    return line;
}

static void test_status_colour_on_a_tty(void **state)
{
    struct fixture *fx = *state;
    char buf[16 * 1024], line[1024];
    akctl_ok(fx, "suspend", "writer-bot", NULL);
    int64_t cost, calls;
    fx_sum(fx, "research-bot", today_start(fx), &cost, &calls);
    assert_true(cost * 100 >= USD(RESEARCH_LIMIT) * 70);    /* the fixture is above 70 % */

    status_on_tty(fx, NULL, buf, sizeof buf);
    assert_non_null(strstr(line_with(buf, "research-bot", line, sizeof line), "\033[33m"));
    assert_non_null(strstr(line_with(buf, "writer-bot ", line, sizeof line), "\033[31m"));
    assert_null(strchr(line_with(buf, "adhoc-bot", line, sizeof line), '\033'));

    status_on_tty(fx, "1", buf, sizeof buf);
    assert_non_null(strstr(buf, "research-bot"));
    assert_null(strchr(buf, '\033'));
}

static void test_config_and_state_dir_sources(void **state)
{
    struct fixture *fx = *state;
    char cfg_env[PATH_MAX + 32], state_env[PATH_MAX + 32];
    struct tp_result r;
    assert_true(snprintf(cfg_env, sizeof cfg_env, "AGENTKAVACH_CONFIG=%s", fx->config) < (int)sizeof cfg_env);
    assert_true(snprintf(state_env, sizeof state_env, "AGENTKAVACH_STATE_DIR=%s", fx->state) < (int)sizeof state_env);

    /* both from the environment */
    char *argv[] = { akctl_path, "status", "--json", NULL };
    char *env[] = { cfg_env, state_env, fx->now_env, NULL };
    assert_true(tp_run(argv, env, &r));
    assert_int_equal(r.code, 0);
    cJSON *root = cJSON_Parse(r.out);
    assert_non_null(root);
    assert_string_equal(str(root, "state_dir"), fx->state);
    assert_true(fabs(num(status_agent(root, "writer-bot"), "limit_usd") - WRITER_LIMIT) < EPS);
    cJSON_Delete(root);
    tp_result_free(&r);

    /* an explicit config that does not exist is refused; a missing default is not */
    char missing[PATH_MAX + 16];
    assert_true(snprintf(missing, sizeof missing, "%s/none.yaml", fx->dir) < (int)sizeof missing);
    char *argv2[] = { akctl_path, "--config", missing, "status", NULL };
    assert_true(tp_run(argv2, env, &r));
    assert_fails(r, 1, missing);
    if (access(AK_DEFAULT_CONFIG_PATH, F_OK) != 0) {
        char *env2[] = { "AGENTKAVACH_CONFIG=", state_env, NULL };
        assert_true(tp_run(argv, env2, &r));
        assert_int_equal(r.code, 0);
        root = cJSON_Parse(r.out);
        assert_non_null(root);
        assert_non_null(find_named(cJSON_GetObjectItemCaseSensitive(root, "agents"), "agent", "adhoc-bot"));
        assert_null(find_named(cJSON_GetObjectItemCaseSensitive(root, "shared_budgets"), "name", "research-team"));
        cJSON_Delete(root);
        tp_result_free(&r);
    }
}

/* ---- budget, suspend, resume, reset ---- */

static void test_budget_set_then_status(void **state)
{
    struct fixture *fx = *state;
    akctl_ok(fx, "budget", "set", "writer-bot", "--daily", "2.5", NULL);
    cJSON *root = status_json(fx);
    cJSON *wb = status_agent(root, "writer-bot");
    char day[AK_PERIOD_KEY_LEN];
    ak_period_key(AK_PERIOD_DAILY, fx->now_ms, day);
    assert_true(fabs(num(wb, "limit_usd") - 2.5) < EPS);
    assert_string_equal(str(wb, "period"), day);
    assert_true(fabs(num(status_agent(root, "research-bot"), "limit_usd") - RESEARCH_LIMIT) < EPS);
    cJSON_Delete(root);

    assert_fails(akctl(fx, "budget", "set", "writer-bot", "--daily", "lots", NULL), 2, "lots");
    assert_fails(akctl(fx, "budget", "set", "writer-bot", NULL), 2, "--daily");
    assert_fails(akctl(fx, "budget", "set", "writer-bot", "--daily", "1", "--total", "2", NULL), 2, "one of");
    assert_fails(akctl(fx, "budget", "writer-bot", "--daily", "1", NULL), 2, "budget");
}

static void test_suspend_all_then_resume_all(void **state)
{
    struct fixture *fx = *state;
    akctl_ok(fx, "suspend", "--all", "--reason", "incident 42", NULL);
    cJSON *root = status_json(fx);
    cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "agents")) {
        assert_true(flag(it, "suspended"));
        assert_non_null(strstr(str(it, "reason"), "incident 42"));
    }
    cJSON_Delete(root);
    struct tp_result r = akctl(fx, "status", NULL);
    assert_non_null(strstr(r.out, "SUSPENDED"));
    tp_result_free(&r);

    akctl_ok(fx, "resume", "--all", NULL);
    root = status_json(fx);
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "agents"))
        assert_false(flag(it, "suspended"));
    cJSON_Delete(root);
}

static void test_suspend_one_agent_now(void **state)
{
    struct fixture *fx = *state;
    akctl_ok(fx, "suspend", "research-bot", "--reason", "loop", "--now", NULL);
    cJSON *root = status_json(fx);
    assert_true(flag(status_agent(root, "research-bot"), "suspended"));
    assert_string_equal(str(status_agent(root, "research-bot"), "reason"), "loop");
    assert_false(flag(status_agent(root, "writer-bot"), "suspended"));
    cJSON_Delete(root);

    struct ak_ledger *l = NULL;
    struct ak_agent_flags f;
    assert_int_equal(ak_ledger_open(fx->state, &l), AK_OK);
    assert_int_equal(ak_ledger_agent_get(l, "research-bot", &f), AK_OK);
    assert_true(f.suspended && f.manual && f.cut_streams);
    ak_ledger_close(l);

    akctl_ok(fx, "resume", "writer-bot", NULL);        /* not suspended: fine */
    akctl_ok(fx, "resume", "research-bot", NULL);
    root = status_json(fx);
    assert_false(flag(status_agent(root, "research-bot"), "suspended"));
    cJSON_Delete(root);

    assert_fails(akctl(fx, "suspend", NULL), 2, "AGENT");
    assert_fails(akctl(fx, "suspend", "a", "--all", NULL), 2, "AGENT");
    assert_fails(akctl(fx, "suspend", "a", "--reason", NULL), 2, "--reason");
}

static void test_reset(void **state)
{
    struct fixture *fx = *state;
    akctl_ok(fx, "reset", "research-bot", NULL);
    cJSON *root = status_json(fx);
    cJSON *rb = status_agent(root, "research-bot");
    assert_true(fabs(num(rb, "spent_usd")) < EPS);
    assert_int_equal((int64_t)num(rb, "calls"), 0);
    int64_t cost, calls;
    fx_sum(fx, "writer-bot", 0, &cost, &calls);      /* others untouched */
    assert_true(fabs(num(status_agent(root, "writer-bot"), "spent_usd") - akctl_usd_of(cost)) < EPS);
    cJSON_Delete(root);

    assert_fails(akctl(fx, "reset", "nobody-bot", NULL), 1, "nobody-bot");
    assert_fails(akctl(fx, "reset", NULL), 2, "reset");
}

/* ---- events ---- */

static void test_events_json_all_in_order(void **state)
{
    struct fixture *fx = *state;
    struct tp_result r = akctl(fx, "events", "--json", NULL);
    assert_int_equal(r.code, 0);
    assert_int_equal(tp_count_lines(r.out), N_FX);
    char *save = NULL;
    size_t i = 0;
    for (char *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
        cJSON *o = cJSON_Parse(line);
        assert_non_null(o);
        assert_string_equal(str(o, "event_id"), fx->ids[i]);
        assert_string_equal(str(o, "agent"), fx_events[i].agent);
        assert_string_equal(str(o, "model"), fx_events[i].model);
        assert_string_equal(str(o, "decision"), ak_decision_name(fx_events[i].decision));
        cJSON_Delete(o);
    }
    assert_int_equal(i, N_FX);
    tp_result_free(&r);
}

/* Runs events with the given filters in JSON and returns how many lines came back; checks
 * that each matches `agent` when given. */
static size_t events_count(const struct fixture *fx, const char *agent, const char *a1,
                           const char *a2, const char *a3, const char *a4)
{
    struct tp_result r = akctl(fx, "events", "--json", a1, a2, a3, a4, NULL);
    assert_int_equal(r.code, 0);
    size_t n = 0;
    char *save = NULL;
    for (char *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
        cJSON *o = cJSON_Parse(line);
        assert_non_null(o);
        if (agent)
            assert_string_equal(str(o, "agent"), agent);
        cJSON_Delete(o);
    }
    tp_result_free(&r);
    return n;
}

static void test_events_filters(void **state)
{
    struct fixture *fx = *state;
    size_t writer = 0, since_2h = 0, research_since_2h = 0;
    for (size_t i = 0; i < N_FX; i++) {
        bool recent = fx_events[i].age_ms <= 2 * HOUR_MS;
        writer += strcmp(fx_events[i].agent, "writer-bot") == 0;
        since_2h += recent;
        research_since_2h += recent && strcmp(fx_events[i].agent, "research-bot") == 0;
    }
    char since[40];
    ak_time_format(fx->now_ms - 2 * HOUR_MS, since, sizeof since);
    assert_int_equal(events_count(fx, "writer-bot", "--agent", "writer-bot", NULL, NULL), writer);
    assert_int_equal(events_count(fx, NULL, "--since", "2h", NULL, NULL), since_2h);
    assert_int_equal(events_count(fx, NULL, "--since", since, NULL, NULL), since_2h);
    assert_int_equal(events_count(fx, "research-bot", "--agent", "research-bot", "--since", since),
                     research_since_2h);
    assert_int_equal(events_count(fx, NULL, "--agent", "no-such-bot", NULL, NULL), 0);

    /* --limit: the last N, in order */
    struct tp_result r = akctl(fx, "events", "--json", "--limit", "2", NULL);
    assert_int_equal(r.code, 0);
    assert_int_equal(tp_count_lines(r.out), 2);
    assert_non_null(strstr(r.out, fx->ids[N_FX - 2]));
    assert_true(strstr(r.out, fx->ids[N_FX - 2]) < strstr(r.out, fx->ids[N_FX - 1]));
    tp_result_free(&r);

    assert_fails(akctl(fx, "events", "--since", "yesterday-ish", NULL), 2, "yesterday-ish");
    assert_fails(akctl(fx, "events", "--limit", "0", NULL), 2, "--limit");
    assert_fails(akctl(fx, "events", "--agent", NULL), 2, "--agent");
}

static void test_events_human(void **state)
{
    struct fixture *fx = *state;
    struct tp_result r = akctl(fx, "events", "--agent", "writer-bot", NULL);
    assert_int_equal(r.code, 0);
    assert_int_equal(tp_count_lines(r.out), 2);
    const char *blocked = strstr(r.out, "blocked_budget");
    assert_non_null(blocked);
    assert_non_null(strstr(r.out, "claude-sonnet-4-5"));
    assert_non_null(strstr(r.out, "anthropic"));
    assert_non_null(strstr(r.out, "budget of writer-bot exhausted"));
    char ts[40];
    ak_time_format(fx->now_ms - HOUR_MS, ts, sizeof ts);
    assert_non_null(strstr(r.out, ts));
    tp_result_free(&r);
}

/* Reads from fd until `lines` newlines arrived in total or the wait ran out. */
static size_t read_lines(int fd, char *buf, size_t cap, size_t *used, size_t lines)
{
    size_t n = 0;
    for (size_t i = 0; i < *used; i++)
        n += buf[i] == '\n';
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long waited = 0; n < lines && waited < FOLLOW_WAIT_MS;) {
        struct pollfd p = { fd, POLLIN, 0 };
        int pr = poll(&p, 1, 100);
        clock_gettime(CLOCK_MONOTONIC, &t);     /* time really waited, not polls counted */
        waited = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (pr <= 0)
            continue;
        ssize_t r = read(fd, buf + *used, cap - 1 - *used);
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r; i++)
            n += buf[*used + (size_t)i] == '\n';
        *used += (size_t)r;
    }
    buf[*used] = '\0';
    return n;
}

static void test_events_follow(void **state)
{
    struct fixture *fx = *state;
    int fds[2];
    char buf[64 * 1024];
    size_t used = 0;
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (dup2(fds[1], 1) < 0 || putenv((char *)fx->now_env))   /* the fixture's clock too */
            _exit(125);
        close(fds[0]);
        execl(akctl_path, akctl_path, "--state-dir", fx->state, "--config", fx->config,
              "events", "--json", "--follow", (char *)NULL);
        _exit(126);
    }
    close(fds[1]);
    assert_int_equal(read_lines(fds[0], buf, sizeof buf, &used, N_FX), N_FX);

    struct ak_ledger *l = NULL;
    char id[40];
    const struct fx_event late = { "research-bot", "gpt-4o", AK_PROV_OPENAI, 0, 10, 10, 100, AK_DEC_ALLOWED };
    assert_int_equal(ak_ledger_open(fx->state, &l), AK_OK);
    assert_int_equal(fx_commit(l, &late, fx->now_ms, id), AK_OK);
    ak_ledger_close(l);
    assert_int_equal(read_lines(fds[0], buf, sizeof buf, &used, N_FX + 1), N_FX + 1);
    assert_non_null(strstr(buf, id));

    int st = 0;
    kill(pid, SIGINT);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    close(fds[0]);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* ---- report ---- */

struct csv_row {
    char key[64];
    long long calls, blocked, in, out;
    double cost;
};

static size_t csv_parse(char *text, struct csv_row *rows, size_t max, const char *header)
{
    char *save = NULL;
    size_t n = 0;
    char *line = strtok_r(text, "\n", &save);
    assert_non_null(line);
    assert_string_equal(line, header);
    while ((line = strtok_r(NULL, "\n", &save)) && n < max) {
        struct csv_row *r = &rows[n++];
        assert_int_equal(sscanf(line, "%63[^,],%lld,%lld,%lld,%lld,%lf", r->key, &r->calls,
                                &r->blocked, &r->in, &r->out, &r->cost), 6);
    }
    return n;
}

/* The fixture's totals for rows whose key (agent, model or day) equals key. */
static struct csv_row fx_group(const struct fixture *fx, const char *by, const char *key)
{
    struct csv_row want = { 0 };
    for (size_t i = 0; i < N_FX; i++) {
        const struct fx_event *e = &fx_events[i];
        char day[40];
        ak_time_format(fx->now_ms - e->age_ms, day, sizeof day);
        day[10] = '\0';
        const char *k = strcmp(by, "agent") == 0 ? e->agent : strcmp(by, "model") == 0 ? e->model : day;
        if (strcmp(k, key) != 0)
            continue;
        want.calls += e->decision == AK_DEC_ALLOWED;
        want.blocked += e->decision != AK_DEC_ALLOWED;
        want.in += e->in;
        want.out += e->out;
        want.cost += akctl_usd_of(e->cost);
    }
    return want;
}

static void report_check(const struct fixture *fx, const char *by, size_t groups_expected)
{
    char header[128];
    struct csv_row rows[16];
    snprintf(header, sizeof header, "%s,calls,blocked,input_tokens,output_tokens,cost_usd", by);
    struct tp_result r = akctl(fx, "report", "--by", by, "--csv", NULL);
    assert_int_equal(r.code, 0);
    size_t n = csv_parse(r.out, rows, 16, header);
    assert_int_equal(n, groups_expected);
    long long total_calls = 0;
    for (size_t i = 0; i < n; i++) {
        struct csv_row want = fx_group(fx, by, rows[i].key);
        assert_true(want.calls + want.blocked > 0);
        assert_int_equal(rows[i].calls, want.calls);
        assert_int_equal(rows[i].blocked, want.blocked);
        assert_int_equal(rows[i].in, want.in);
        assert_int_equal(rows[i].out, want.out);
        assert_true(fabs(rows[i].cost - want.cost) < 1e-6);
        total_calls += rows[i].calls + rows[i].blocked;
        if (i > 0)
            assert_true(strcmp(rows[i - 1].key, rows[i].key) < 0);
    }
    assert_int_equal(total_calls, N_FX);
    tp_result_free(&r);
}

static void test_report_sums(void **state)
{
    struct fixture *fx = *state;
    report_check(fx, "agent", 3);
    report_check(fx, "model", 3);
    report_check(fx, "day", 2);

    /* --since drops yesterday's agent */
    struct tp_result r = akctl(fx, "report", "--csv", "--since", "1h", NULL);
    assert_int_equal(r.code, 0);
    assert_null(strstr(r.out, "adhoc-bot"));
    assert_null(strstr(r.out, "research-bot"));
    assert_non_null(strstr(r.out, "writer-bot"));
    tp_result_free(&r);

    /* the table ends with the total */
    int64_t cost, calls;
    char total[32];
    fx_sum(fx, NULL, 0, &cost, &calls);
    ak_usd_format(cost, total, sizeof total);
    r = akctl(fx, "report", NULL);
    assert_int_equal(r.code, 0);
    const char *t = strstr(r.out, "\nTOTAL ");
    assert_non_null(t);
    assert_non_null(strstr(t, total));
    tp_result_free(&r);

    assert_fails(akctl(fx, "report", "--by", "planet", NULL), 2, "planet");
}

/* ---- prices, config, doctor ---- */

static void test_prices(void **state)
{
    struct fixture *fx = *state;
    struct ak_prices *p = NULL;
    struct ak_price gpt4o;
    char err[256], want[64];
    assert_int_equal(ak_prices_load_default(NULL, &p, err, sizeof err), AK_OK);
    assert_int_equal(ak_price_lookup(p, NULL, AK_PROV_OPENAI, "gpt-4o", &gpt4o), AK_OK);
    ak_prices_free(p);
    snprintf(want, sizeof want, "input:          $%.2f per 1M tokens", (double)gpt4o.input_pico / 1e6);

    struct tp_result r = akctl(fx, "prices", "gpt-4o", NULL);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, want));
    assert_non_null(strstr(r.out, "exact name of openai/gpt-4o"));
    tp_result_free(&r);

    r = akctl(fx, "prices", "gpt-4o-2099-01-31", NULL);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "dated snapshot of openai/gpt-4o\n"));
    assert_non_null(strstr(r.out, want));
    tp_result_free(&r);

    r = akctl(fx, "prices", NULL);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, " gpt-4o "));
    assert_non_null(strstr(r.out, " claude-sonnet-4-5 "));
    assert_true(tp_count_lines(r.out) > 20);
    tp_result_free(&r);

    assert_fails(akctl(fx, "prices", "no-such-model-xyz", NULL), 1, "no-such-model-xyz");
    assert_fails(akctl(fx, "prices", "a", "b", NULL), 2, "prices");
}

static void test_config_check(void **state)
{
    struct fixture *fx = *state;
    char bad[PATH_MAX + 8], where[PATH_MAX + 16];
    struct tp_result r = akctl(fx, "config", "check", fx->config, NULL);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "ok"));
    tp_result_free(&r);

    assert_true(snprintf(bad, sizeof bad, "%s/bad.yaml", fx->dir) < (int)sizeof bad);
    assert_true(write_file(bad, "version: 1\nagents:\n  bot:\n    budget:\n      type: daily\n      limit: -5\n"));
    assert_true(snprintf(where, sizeof where, "%s:6:", bad) < (int)sizeof where);
    assert_fails(akctl(fx, "config", "check", bad, NULL), 1, where);
    assert_fails(akctl(fx, "config", "check", NULL), 2, "config");
    assert_fails(akctl(fx, "config", "lint", fx->config, NULL), 2, "config");

    /* the global --config is loaded the same way: a bad one refuses every command */
    char *argv[] = { akctl_path, "--config", bad, "--state-dir", fx->state, "status", NULL };
    assert_true(tp_run(argv, NULL, &r));
    assert_fails(r, 1, where);
}

static void test_doctor(void **state)
{
    struct fixture *fx = *state;
    char script[PATH_MAX + 16];
    struct tp_result r = akctl(fx, "doctor", "curl", NULL);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, ": covered (plane inproc, LD_PRELOAD=libakshim.so): libssl linked dynamically"));
    tp_result_free(&r);

    assert_true(snprintf(script, sizeof script, "%s/agent.sh", fx->dir) < (int)sizeof script);
    assert_true(write_file(script, "#!/bin/sh\necho hi\n"));
    r = akctl(fx, "doctor", script, NULL);
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.out, "script, interpreter /bin/sh"));
    assert_non_null(strstr(r.out, "/bin/sh: not covered in-process (plane egress"));
    tp_result_free(&r);

    if (access("/sbin/ldconfig", X_OK) == 0) {            /* static-pie on Debian */
        r = akctl(fx, "doctor", "/sbin/ldconfig", NULL);
        assert_int_equal(r.code, 1);
        assert_non_null(strstr(r.out, "akrun --agent NAME -- CMD, which sends it through akproxy): statically linked"));
        tp_result_free(&r);
    }
    assert_fails(akctl(fx, "doctor", "ak-no-such-program", NULL), 1, "not found");
    assert_fails(akctl(fx, "doctor", NULL), 2, "doctor");
}

/* ---- help and usage ---- */

static void test_help_and_usage(void **state)
{
    struct fixture *fx = *state;
    static const char *const cmds[] = { "status", "events", "budget", "suspend", "resume",
                                        "reset", "report", "prices", "config", "doctor" };
    struct tp_result r = akctl(fx, "--help", NULL);
    assert_int_equal(r.code, 0);
    for (size_t i = 0; i < AK_ARRAY_LEN(cmds); i++)
        assert_non_null(strstr(r.out, cmds[i]));
    tp_result_free(&r);

    r = akctl(fx, "help", "budget", NULL);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "usage: akctl budget set AGENT --daily|--monthly|--total USD"));
    struct tp_result r2 = akctl(fx, "budget", "--help", NULL);
    assert_int_equal(r2.code, 0);
    assert_string_equal(r.out, r2.out);
    tp_result_free(&r);
    tp_result_free(&r2);

    assert_fails(akctl(fx, "frobnicate", NULL), 2, "frobnicate");
    assert_fails(akctl(fx, "help", "frobnicate", NULL), 2, "frobnicate");
    assert_fails(akctl(fx, "status", "--bogus", NULL), 2, "--bogus");
    assert_fails(akctl(fx, "status", "extra", NULL), 2, "extra");

    char *argv[] = { akctl_path, NULL };
    assert_true(tp_run(argv, NULL, &r));
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "usage: akctl"));
    tp_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_status_json_shape_and_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_table_no_colour_in_a_pipe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_colour_on_a_tty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_and_state_dir_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_set_then_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_suspend_all_then_resume_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_suspend_one_agent_now, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_json_all_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_human, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_follow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_sums, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_doctor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help_and_usage, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
