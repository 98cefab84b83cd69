/*
 * test_refusal.c - the synthetic 429 (engine/refusal.c): status line and headers of DESIGN.md,
 * a Content-Length that matches, each provider's exact error shape, escaping of the message,
 * and ak_estimate_tokens.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "engine/exchange.h"

#define MSG "Budget exceeded for agent \"research-bot\" (daily $5.00)\n run: akctl budget set"

/* Splits the response; checks the head; returns the parsed body. */
static cJSON *refusal_shaped(enum ak_provider prov, bool json_array)
{
    struct ak_buf out = { 0 };
    assert_int_equal(ak_refusal_build(prov, MSG, json_array, &out), AK_OK);
    ak_buf_append(&out, "", 1, 0);
    const char *s = (const char *)out.data;
    const char *body = strstr(s, "\r\n\r\n");
    assert_non_null(body);
    body += 4;
    assert_memory_equal(s, "HTTP/1.1 429 Too Many Requests\r\n", 32);
    assert_non_null(strstr(s, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strstr(s, "\r\nConnection: close\r\n"));
    assert_non_null(strstr(s, "\r\nx-should-retry: false\r\n"));
    assert_null(strcasestr(s, "retry-after"));
    const char *cl = strstr(s, "Content-Length: ");
    assert_non_null(cl);
    assert_int_equal(strtoul(cl + 16, NULL, 10), strlen(body));
    cJSON *j = cJSON_Parse(body);
    assert_non_null(j);
    ak_buf_free(&out);
    return j;
}

static cJSON *refusal(enum ak_provider prov)
{
    return refusal_shaped(prov, false);
}

/* Gemini's streamGenerateContent without alt=sse answers a JSON array, errors included. */
static void test_gemini_array(void **state)
{
    (void)state;
    cJSON *j = refusal_shaped(AK_PROV_GEMINI, true);
    assert_true(cJSON_IsArray(j));
    assert_int_equal(cJSON_GetArraySize(j), 1);
    cJSON *e = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(j, 0), "error");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(e, "code")->valueint, 429);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(e, "status")->valuestring, "RESOURCE_EXHAUSTED");
    cJSON_Delete(j);
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

static void test_openai(void **state)
{
    (void)state;
    cJSON *j = refusal(AK_PROV_OPENAI);
    assert_int_equal(cJSON_GetArraySize(j), 1);
    cJSON *e = cJSON_GetObjectItem(j, "error");
    assert_string_equal(str(e, "message"), MSG);
    assert_string_equal(str(e, "type"), "insufficient_quota");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(e, "param")));
    assert_string_equal(str(e, "code"), "budget_exceeded");
    cJSON_Delete(j);
}

static void test_anthropic(void **state)
{
    (void)state;
    cJSON *j = refusal(AK_PROV_ANTHROPIC);
    assert_string_equal(str(j, "type"), "error");
    cJSON *e = cJSON_GetObjectItem(j, "error");
    assert_string_equal(str(e, "type"), "rate_limit_error");
    assert_string_equal(str(e, "message"), MSG);
    cJSON_Delete(j);
}

static void test_gemini(void **state)
{
    (void)state;
    cJSON *j = refusal(AK_PROV_GEMINI);
    cJSON *e = cJSON_GetObjectItem(j, "error");
    assert_int_equal(cJSON_GetObjectItem(e, "code")->valueint, 429);
    assert_string_equal(str(e, "status"), "RESOURCE_EXHAUSTED");
    /* our message, then Google's wording of an exhausted quota: Gemini CLI stops on it
     * instead of retrying for minutes (tests/integration/t_egress_agents.sh) */
    assert_string_equal(str(e, "message"),
                        MSG " (Quota exceeded for metric: agentkavach budget, limit: 0)");
    cJSON_Delete(j);
}

static void test_mistral(void **state)
{
    (void)state;
    cJSON *j = refusal(AK_PROV_MISTRAL);
    assert_string_equal(str(j, "object"), "error");
    assert_string_equal(str(j, "message"), MSG);
    assert_string_equal(str(j, "type"), "rate_limited");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "param")));
    assert_string_equal(str(j, "code"), "budget_exceeded");
    cJSON_Delete(j);
}

static void test_estimate(void **state)
{
    (void)state;
    const unsigned char text[] = "The quick brown fox jumps over the lazy dog.";
    assert_int_equal(ak_estimate_tokens(text, 0), 0);
    assert_int_equal(ak_estimate_tokens(text, 1), 1);
    assert_in_range(ak_estimate_tokens(text, sizeof text - 1), 9, 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemini_array),
        cmocka_unit_test(test_openai),
        cmocka_unit_test(test_anthropic),
        cmocka_unit_test(test_gemini),
        cmocka_unit_test(test_mistral),
        cmocka_unit_test(test_estimate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
