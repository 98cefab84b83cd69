/*
 * test_report.c - totals from event records (core/report.c), as `akctl report` prints them
 * and the dashboard's /api/report serves them: grouping by agent, model, provider, UTC day
 * and hour; the agent and since filters; refused and unmetered calls counted apart; an
 * operator's action (decision "control", with its actor) round-trips through JSON and is
 * never counted as a call.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/period.h"
#include "core/report.h"

#define HOUR_MS (3600LL * 1000)
#define T0 1795996800000LL          /* 2026-11-30T00:00:00Z */

static struct ak_event ev_make(const char *agent, enum ak_provider p, const char *model,
                               int64_t ts, int64_t cost, enum ak_decision d)
{
    struct ak_event ev;
    memset(&ev, 0, sizeof ev);
    snprintf(ev.agent, sizeof ev.agent, "%s", agent);
    snprintf(ev.model, sizeof ev.model, "%s", model);
    ev.provider = p;
    ev.ts_ms = ts;
    ev.cost_micros = cost;
    ev.decision = d;
    ev.usage.input_tokens = 10;
    ev.usage.output_tokens = 5;
    return ev;
}

static void add_all(struct ak_report *r)
{
    struct ak_event evs[] = {
        ev_make("a", AK_PROV_OPENAI, "gpt-4o", T0 + 1 * HOUR_MS, 100, AK_DEC_ALLOWED),
        ev_make("a", AK_PROV_OPENAI, "gpt-4o", T0 + 1 * HOUR_MS + 5, 200, AK_DEC_ALLOWED),
        ev_make("b", AK_PROV_ANTHROPIC, "claude", T0 + 2 * HOUR_MS, 300, AK_DEC_UNMETERED),
        ev_make("b", AK_PROV_ANTHROPIC, "", T0 + 26 * HOUR_MS, 0, AK_DEC_BLOCKED_BUDGET),
        ev_make("a", AK_PROV_NONE, "", T0 + 3 * HOUR_MS, 0, AK_DEC_CONTROL),
    };
    for (size_t i = 0; i < AK_ARRAY_LEN(evs); i++)
        assert_int_equal(ak_report_add(r, &evs[i]), AK_OK);
    ak_report_sort(r);
}

static void test_by_hour_and_day(void **state)
{
    struct ak_report r = { .by = AK_REPORT_HOUR };
    add_all(&r);
    assert_int_equal(r.n, 3);     /* the control event makes no group */
    assert_string_equal(r.groups[0].key, "2026-11-30T01");
    assert_int_equal(r.groups[0].calls, 2);
    assert_int_equal(r.groups[0].cost_micros, 300);
    assert_string_equal(r.groups[1].key, "2026-11-30T02");
    assert_int_equal(r.groups[1].unmetered, 1);
    assert_string_equal(r.groups[2].key, "2026-12-01T02");
    assert_int_equal(r.groups[2].blocked, 1);
    assert_int_equal(r.groups[2].calls, 0);
    ak_report_free(&r);

    struct ak_report d = { .by = AK_REPORT_DAY };
    add_all(&d);
    assert_int_equal(d.n, 2);
    assert_string_equal(d.groups[0].key, "2026-11-30");
    assert_int_equal(d.groups[0].calls, 3);
    assert_int_equal(d.groups[0].cost_micros, 600);
    ak_report_free(&d);
}

static void test_by_provider_model_filters(void **state)
{
    struct ak_report r = { .by = AK_REPORT_PROVIDER };
    add_all(&r);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.groups[0].key, "anthropic");
    assert_string_equal(r.groups[1].key, "openai");
    assert_int_equal(r.groups[1].input_tokens, 20);
    ak_report_free(&r);

    struct ak_report m = { .by = AK_REPORT_MODEL, .agent = "b" };
    add_all(&m);
    assert_int_equal(m.n, 2);
    assert_string_equal(m.groups[0].key, "(unknown)");
    assert_string_equal(m.groups[1].key, "claude");
    ak_report_free(&m);

    struct ak_report s = { .by = AK_REPORT_AGENT, .has_since = true, .since_ms = T0 + 2 * HOUR_MS };
    add_all(&s);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.groups[0].key, "b");
    cJSON *j = ak_report_json(&s);
    assert_non_null(j);
    char *text = cJSON_PrintUnformatted(j);
    assert_non_null(strstr(text, "\"by\":\"agent\""));
    assert_non_null(strstr(text, "\"key\":\"b\",\"calls\":1,\"blocked\":1,\"unmetered\":1"));
    free(text);
    cJSON_Delete(j);
    ak_report_free(&s);
}

static void test_by_names(void **state)
{
    enum ak_report_by by;
    const char *names[] = { "agent", "model", "provider", "day", "hour" };
    for (size_t i = 0; i < AK_ARRAY_LEN(names); i++) {
        assert_true(ak_report_by_parse(names[i], &by));
        assert_string_equal(ak_report_by_name(by), names[i]);
    }
    assert_false(ak_report_by_parse("week", &by));
    assert_false(ak_report_by_parse(NULL, &by));
}

static void test_control_event_round_trip(void **state)
{
    struct ak_event ev = ev_make("bot", AK_PROV_NONE, "", T0, 0, AK_DEC_CONTROL), back;
    ak_event_new_id(ev.event_id);
    snprintf(ev.operation, sizeof ev.operation, "suspend");
    snprintf(ev.reason, sizeof ev.reason, "suspended: runaway");
    snprintf(ev.actor, sizeof ev.actor, "dashboard 127.0.0.1:5000");
    char *json = ak_event_to_json(&ev);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"decision\":\"control\""));
    assert_non_null(strstr(json, "\"actor\":\"dashboard 127.0.0.1:5000\"}"));
    assert_int_equal(ak_event_from_json(json, strlen(json), &back), AK_OK);
    assert_int_equal(back.decision, AK_DEC_CONTROL);
    assert_string_equal(back.actor, "dashboard 127.0.0.1:5000");
    assert_false(ak_event_is_call(&back));
    free(json);

    ev.decision = AK_DEC_ALLOWED;     /* a call has no actor: the field is left out */
    ev.actor[0] = '\0';
    json = ak_event_to_json(&ev);
    assert_null(strstr(json, "actor"));
    assert_int_equal(ak_event_from_json(json, strlen(json), &back), AK_OK);
    assert_true(ak_event_is_call(&back));
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_by_hour_and_day),
        cmocka_unit_test(test_by_provider_model_filters),
        cmocka_unit_test(test_by_names),
        cmocka_unit_test(test_control_event_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
