/*
 * test_event.c - the event record as JSON (core/event.c): field names and order of the
 * DESIGN.md contract, null handling, exact round trips, refusal of malformed records, and
 * unique well-formed UUID v4 ids.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/event.h"
#include "core/period.h"

#define N_IDS 2000
#define UUID_TEXT_LEN 36

static void fill_event(struct ak_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ak_event_new_id(ev->event_id);
    assert_true(ak_time_parse("2026-11-22T08:15:30.250Z", &ev->ts_ms));
    snprintf(ev->agent, sizeof ev->agent, "research-bot");
    snprintf(ev->customer, sizeof ev->customer, "cust-42");
    ev->provider = AK_PROV_ANTHROPIC;
    snprintf(ev->host, sizeof ev->host, "api.anthropic.com");
    snprintf(ev->operation, sizeof ev->operation, "messages");
    snprintf(ev->model, sizeof ev->model, "claude-sonnet-4-5");
    ev->stream = true;
    ev->usage = (struct ak_usage){ .input_tokens = 1200, .output_tokens = 345,
                                   .cached_input_tokens = 1000, .cache_write_tokens = 100,
                                   .reasoning_tokens = 45 };
    ev->cost_micros = 123;
    ev->cost_source = AK_COST_ESTIMATE;
    ev->status = 200;
    ev->decision = AK_DEC_BLOCKED_GUARDRAIL;
    snprintf(ev->reason, sizeof ev->reason, "loop detected: 5 repeats in 20 calls");
    ev->duration_ms = 1834;
    ev->pid = 4242;
    snprintf(ev->exe, sizeof ev->exe, "/usr/bin/python3.11");
    snprintf(ev->key_fp, sizeof ev->key_fp, "0123456789ab");
    ev->plane = AK_PLANE_EGRESS;
}

static void assert_events_equal(const struct ak_event *a, const struct ak_event *b)
{
    assert_string_equal(a->event_id, b->event_id);
    assert_int_equal(a->ts_ms, b->ts_ms);
    assert_string_equal(a->agent, b->agent);
    assert_string_equal(a->customer, b->customer);
    assert_int_equal(a->provider, b->provider);
    assert_string_equal(a->host, b->host);
    assert_string_equal(a->operation, b->operation);
    assert_string_equal(a->model, b->model);
    assert_int_equal(a->stream, b->stream);
    assert_memory_equal(&a->usage, &b->usage, sizeof a->usage);
    assert_int_equal(a->cost_micros, b->cost_micros);
    assert_int_equal(a->cost_source, b->cost_source);
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->decision, b->decision);
    assert_string_equal(a->reason, b->reason);
    assert_int_equal(a->duration_ms, b->duration_ms);
    assert_int_equal(a->pid, b->pid);
    assert_string_equal(a->exe, b->exe);
    assert_string_equal(a->key_fp, b->key_fp);
    assert_int_equal(a->plane, b->plane);
    if (a->prompt || b->prompt) {
        assert_non_null(a->prompt);
        assert_non_null(b->prompt);
        assert_string_equal(a->prompt, b->prompt);
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    struct ak_event ev, back;
    fill_event(&ev);
    char prompt[] = "Summarise \"the\" report\n\twith unicode: \xc3\xa9";
    ev.prompt = prompt;
    char *json = ak_event_to_json(&ev);
    assert_non_null(json);
    assert_null(strchr(json, '\n'));
    assert_int_equal(ak_event_from_json(json, strlen(json), &back), AK_OK);
    assert_events_equal(&ev, &back);
    ak_event_clear(&back);
    assert_null(back.prompt);
    free(json);
}

static void test_round_trip_costs(void **state)
{
    (void)state;
    static const int64_t costs[] = { 0, 1, 123, 999999, 1000000, 12345678901, 7, 100 };
    for (size_t i = 0; i < AK_ARRAY_LEN(costs); i++) {
        struct ak_event ev, back;
        fill_event(&ev);
        ev.cost_micros = costs[i];
        char *json = ak_event_to_json(&ev);
        assert_non_null(json);
        assert_int_equal(ak_event_from_json(json, strlen(json), &back), AK_OK);
        assert_int_equal(back.cost_micros, costs[i]);
        free(json);
    }
}

/* cost_usd is an exact decimal, never an exponent: what an operator greps for */
static void test_cost_text(void **state)
{
    (void)state;
    static const struct { int64_t micros; const char *text; } cases[] = {
        { 0, "\"cost_usd\":0," }, { 3, "\"cost_usd\":0.000003," }, { 1500000, "\"cost_usd\":1.5," },
        { 12345678901, "\"cost_usd\":12345.678901," }, { 100, "\"cost_usd\":0.0001," },
    };
    for (size_t i = 0; i < AK_ARRAY_LEN(cases); i++) {
        struct ak_event ev;
        fill_event(&ev);
        ev.cost_micros = cases[i].micros;
        char *json = ak_event_to_json(&ev);
        assert_non_null(json);
        assert_non_null(strstr(json, cases[i].text));
        free(json);
    }
}

/* Text from servers, configs and the environment round-trips whatever it contains. */
static void test_text_escapes(void **state)
{
    (void)state;
    struct ak_event ev, back;
    fill_event(&ev);
    snprintf(ev.agent, sizeof ev.agent, "a\"gent\\x\n\ty\x01z");
    snprintf(ev.reason, sizeof ev.reason, "line1\r\nline2 \"q\" \x1f end");
    snprintf(ev.model, sizeof ev.model, "mod\xc3\xa9le");
    char *json = ak_event_to_json(&ev);
    assert_non_null(json);
    assert_null(strchr(json, '\n'));              /* one line, as JSONL needs */
    assert_int_equal(ak_event_from_json(json, strlen(json), &back), AK_OK);
    assert_string_equal(back.agent, ev.agent);
    assert_string_equal(back.reason, ev.reason);
    assert_string_equal(back.model, ev.model);
    free(json);
}

/* A forked child never repeats the ids its parent is about to use (the random pool). The
 * fork is done twice, one id apart, so that at least once the pool is not empty at fork. */
#define FORK_IDS 16

static void ids_after_fork(void)
{
    char parent[FORK_IDS][40], child[FORK_IDS][40];
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (int i = 0; i < FORK_IDS; i++)
            ak_event_new_id(child[i]);
        ssize_t w = write(fds[1], child, sizeof child);
        _exit(w == (ssize_t)sizeof child ? 0 : 1);
    }
    for (int i = 0; i < FORK_IDS; i++)
        ak_event_new_id(parent[i]);
    assert_int_equal(read(fds[0], child, sizeof child), (ssize_t)sizeof child);
    int st = 0;
    waitpid(pid, &st, 0);
    close(fds[0]);
    close(fds[1]);
    for (int i = 0; i < FORK_IDS; i++)
        for (int j = 0; j < FORK_IDS; j++)
            assert_string_not_equal(parent[i], child[j]);
}

static void test_ids_differ_across_fork(void **state)
{
    (void)state;
    char id[40];
    ak_event_new_id(id);
    ids_after_fork();
    ak_event_new_id(id);
    ids_after_fork();
}

/* plane: "egress" round-trips; a record from before planes existed reads as in-process; an
 * unknown plane is refused rather than guessed. */
static void test_plane(void **state)
{
    (void)state;
    struct ak_event ev, back;
    fill_event(&ev);
    char *json = ak_event_to_json(&ev);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"plane\":\"egress\""));
    char *p = strstr(json, ",\"plane\":\"egress\"");
    assert_non_null(p);
    memmove(p, p + strlen(",\"plane\":\"egress\""), strlen(p + strlen(",\"plane\":\"egress\"")) + 1);
    assert_int_equal(ak_event_from_json(json, strlen(json), &back), AK_OK);
    assert_int_equal(back.plane, AK_PLANE_INPROC);
    free(json);
    ev.plane = AK_PLANE_INPROC;
    json = ak_event_to_json(&ev);
    assert_non_null(strstr(json, "\"plane\":\"inproc\""));
    p = strstr(json, "inproc");
    memcpy(p, "bogus!", 6);
    assert_int_equal(ak_event_from_json(json, strlen(json), &back), AK_ERR_PARSE);
    free(json);
}

static void test_field_names_in_order(void **state)
{
    (void)state;
    static const char *const names[] = {
        "event_id", "ts", "agent", "customer", "provider", "host", "operation", "model",
        "stream", "input_tokens", "output_tokens", "cached_input_tokens",
        "cache_write_tokens", "reasoning_tokens", "cost_usd", "cost_source", "status",
        "decision", "reason", "duration_ms", "pid", "exe", "key_fp", "plane",
    };
    struct ak_event ev;
    fill_event(&ev);
    char *json = ak_event_to_json(&ev);
    assert_non_null(json);
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    size_t i = 0;
    for (cJSON *it = o->child; it; it = it->next, i++) {
        assert_true(i < AK_ARRAY_LEN(names));
        assert_string_equal(it->string, names[i]);
    }
    assert_int_equal(i, AK_ARRAY_LEN(names));
    assert_string_equal(cJSON_GetObjectItem(o, "ts")->valuestring, "2026-11-22T08:15:30.250Z");
    assert_string_equal(cJSON_GetObjectItem(o, "provider")->valuestring, "anthropic");
    assert_string_equal(cJSON_GetObjectItem(o, "decision")->valuestring, "blocked_guardrail");
    assert_string_equal(cJSON_GetObjectItem(o, "cost_source")->valuestring, "estimate");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "stream")));
    assert_int_equal(cJSON_GetObjectItem(o, "input_tokens")->valueint, 1200);
    /* 123 micro-USD prints as exactly 0.000123 */
    assert_non_null(strstr(json, "\"cost_usd\":0.000123,"));
    cJSON_Delete(o);
    free(json);
}

static void test_nulls_and_prompt(void **state)
{
    (void)state;
    struct ak_event ev, back;
    fill_event(&ev);
    ev.customer[0] = ev.reason[0] = ev.key_fp[0] = '\0';
    char *json = ak_event_to_json(&ev);
    assert_non_null(json);
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "customer")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "reason")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "key_fp")));
    assert_null(cJSON_GetObjectItem(o, "prompt"));
    assert_int_equal(ak_event_from_json(json, strlen(json), &back), AK_OK);
    assert_string_equal(back.customer, "");
    assert_string_equal(back.reason, "");
    assert_string_equal(back.key_fp, "");
    assert_null(back.prompt);
    cJSON_Delete(o);
    free(json);

    char prompt[] = "hello";
    ev.prompt = prompt;
    json = ak_event_to_json(&ev);
    assert_non_null(json);
    o = cJSON_Parse(json);
    assert_non_null(o);
    cJSON *last = o->child;
    while (last->next)
        last = last->next;
    assert_string_equal(last->string, "prompt");
    assert_string_equal(last->valuestring, "hello");
    cJSON_Delete(o);
    free(json);
}

static void test_from_json_refuses_malformed(void **state)
{
    (void)state;
    struct ak_event ev, back;
    fill_event(&ev);
    char *json = ak_event_to_json(&ev);
    assert_non_null(json);
    assert_int_equal(ak_event_from_json("[1,2]", 5, &back), AK_ERR_PARSE);
    assert_int_equal(ak_event_from_json("{\"event_id\":", 12, &back), AK_ERR_PARSE);
    assert_int_equal(ak_event_from_json(NULL, 0, &back), AK_ERR_PARSE);

    cJSON *o = cJSON_Parse(json);
    cJSON_DeleteItemFromObject(o, "model");
    char *missing = cJSON_PrintUnformatted(o);
    assert_int_equal(ak_event_from_json(missing, strlen(missing), &back), AK_ERR_PARSE);
    free(missing);
    assert_non_null(cJSON_AddStringToObject(o, "model", "m"));
    cJSON_ReplaceItemInObject(o, "decision", cJSON_CreateString("maybe"));
    char *bad = cJSON_PrintUnformatted(o);
    assert_int_equal(ak_event_from_json(bad, strlen(bad), &back), AK_ERR_PARSE);
    free(bad);
    cJSON_Delete(o);
    free(json);
}

static void test_enum_names(void **state)
{
    (void)state;
    static const char *const decisions[] = { "allowed", "blocked_budget", "blocked_suspended",
                                             "blocked_guardrail", "unmetered" };
    for (size_t i = 0; i < AK_ARRAY_LEN(decisions); i++) {
        enum ak_decision d;
        assert_true(ak_decision_parse(decisions[i], &d));
        assert_string_equal(ak_decision_name(d), decisions[i]);
    }
    static const char *const sources[] = { "usage", "estimate", "unpriced" };
    for (size_t i = 0; i < AK_ARRAY_LEN(sources); i++) {
        enum ak_cost_source s;
        assert_true(ak_cost_source_parse(sources[i], &s));
        assert_string_equal(ak_cost_source_name(s), sources[i]);
    }
    enum ak_decision d;
    assert_false(ak_decision_parse("Allowed", &d));
}

static int cmp_ids(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_ids_unique_v4(void **state)
{
    (void)state;
    char (*ids)[40] = calloc(N_IDS, sizeof *ids);
    assert_non_null(ids);
    for (size_t i = 0; i < N_IDS; i++) {
        ak_event_new_id(ids[i]);
        assert_int_equal(strlen(ids[i]), UUID_TEXT_LEN);
        assert_int_equal(ids[i][8], '-');
        assert_int_equal(ids[i][13], '-');
        assert_int_equal(ids[i][14], '4');
        assert_non_null(strchr("89ab", ids[i][19]));
        assert_int_equal(strspn(ids[i], "0123456789abcdef-"), UUID_TEXT_LEN);
    }
    qsort(ids, N_IDS, sizeof *ids, cmp_ids);
    for (size_t i = 1; i < N_IDS; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_round_trip_costs),
        cmocka_unit_test(test_cost_text),
        cmocka_unit_test(test_text_escapes),
        cmocka_unit_test(test_ids_differ_across_fork),
        cmocka_unit_test(test_field_names_in_order),
        cmocka_unit_test(test_plane),
        cmocka_unit_test(test_nulls_and_prompt),
        cmocka_unit_test(test_from_json_refuses_malformed),
        cmocka_unit_test(test_enum_names),
        cmocka_unit_test(test_ids_unique_v4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
