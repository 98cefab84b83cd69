/*
 * test_usage.c - the sparse parse of reply bodies (engine/usage.c): only top-level members are
 * taken, text that merely looks like a member is not, and anything malformed is refused so
 * that the caller falls back to a full parse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "engine/usage.h"

static cJSON *sparse(const char *s)
{
    return ak_usage_sparse_parse((const unsigned char *)s, strlen(s));
}

static void test_top_level_members_only(void **state)
{
    (void)state;
    cJSON *r = sparse("{\"id\":\"x\",\"choices\":[{\"message\":{\"content\":\"the \\\"usage\\\": {\\\"prompt_tokens\\\": 999}\","
                      "\"usage\":{\"prompt_tokens\":7}}}],\"model\":\"gpt-4o\",\n \"usage\" : {\"prompt_tokens\":11}}");
    assert_non_null(r);
    cJSON *u = cJSON_GetObjectItemCaseSensitive(r, "usage");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens")->valueint, 11);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(r, "model")->valuestring, "gpt-4o");
    assert_null(cJSON_GetObjectItemCaseSensitive(r, "id"));      /* not wanted: skipped */
    assert_null(cJSON_GetObjectItemCaseSensitive(r, "choices"));
    cJSON_Delete(r);
}

static void test_values_that_look_like_keys(void **state)
{
    (void)state;
    /* "usage" as a value and inside an array at depth 1 is not a member */
    cJSON *r = sparse("{\"note\":\"usage\",\"list\":[\"usage\",{\"usage\":{\"a\":1}}],\"type\":\"message\"}");
    assert_non_null(r);
    assert_null(cJSON_GetObjectItemCaseSensitive(r, "usage"));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(r, "type")->valuestring, "message");
    cJSON_Delete(r);
}

static void test_malformed_is_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "[1,2]", "{\"usage\":{\"a\":1}", "{\"usage\":{\"a\":}}", "{\"a\":\"unterminated}",
        "{\"usage\":{}} trailing", "{\"a\":1}}", "   ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_null(sparse(bad[i]));
    cJSON *r = sparse("  {\"usage\":null}\r\n");
    assert_non_null(r);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r, "usage")));
    cJSON_Delete(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_top_level_members_only),
        cmocka_unit_test(test_values_that_look_like_keys),
        cmocka_unit_test(test_malformed_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
