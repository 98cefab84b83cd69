/*
 * test_usage.c - the sparse parse of reply bodies (engine/usage.c): only top-level members are
 * taken, text that merely looks like a member is not, and anything malformed is refused so
 * that the caller falls back to a full parse. And the one-pass scan of stream payloads
 * (ak_usage_scan) against the byte searches it replaced, at every length of real events.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
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

/* The values the sparse parse builds itself are the trees cJSON would build, and whatever it
 * does not build (fractions, exponents, escapes, arrays, deep nesting, long or odd numbers) is
 * cJSON's own parse: printed back, each value equals cJSON_Parse of its text. */
static void test_wanted_values_equal_cjson(void **state)
{
    (void)state;
    static const char *const values[] = {
        "{\"prompt_tokens\":25,\"completion_tokens\":9,\"prompt_tokens_details\":{\"cached_tokens\":0},"
        "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0}}",
        "{}", "{ \"a\" : 1 , \"b\" :\n{ } }", "\"gpt-4o-mini-2024-07-18\"", "\"\"", "null", "true",
        "false", "0", "123456789012345", "1234567890123456789", "1.5", "2e3", "-4", "007",
        "{\"a\":1.25}", "\"esc\\\"aped\\u00e9\"", "[1,2,{\"a\":3}]", "{\"a\":[]}",
        "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":1}}}}}}", "{\"dup\":1,\"dup\":2}",
        "{\"a\":1,\"a b\":\"x y\"}",
    };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char body[512];
        snprintf(body, sizeof body, "{\"id\":\"x\",\"usage\": %s ,\"model\":\"m\"}", values[i]);
        cJSON *r = sparse(body), *want = cJSON_Parse(values[i]);
        assert_non_null(r);
        assert_non_null(want);
        char *got_s = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(r, "usage"));
        char *want_s = cJSON_PrintUnformatted(want);
        if (!got_s || strcmp(got_s, want_s) != 0)
            fail_msg("value %zu: got %s, want %s", i, got_s ? got_s : "(none)", want_s);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(r, "model")->valuestring, "m");
        cJSON_free(got_s);
        cJSON_free(want_s);
        cJSON_Delete(want);
        cJSON_Delete(r);
    }
    /* broken values are refused, however far the builder got */
    static const char *const bad[] = {
        "{\"usage\":{\"a\":1,}}", "{\"usage\":{\"a\" 1}}", "{\"usage\":{\"a\":01x}}",
        "{\"usage\":\"open}", "{\"usage\":{\"a\":1}", "{\"usage\":tru}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (sparse(bad[i]))
            fail_msg("accepted %s", bad[i]);
}

/* ---- ak_usage_scan against a reference made of plain byte searches (the code it replaced) */

static size_t ref_value_at(const unsigned char *p, size_t n, size_t i)
{
    while (i < n && strchr(" \t\r\n", p[i]) && p[i])
        i++;
    if (i >= n || p[i] != ':')
        return n;
    for (i++; i < n && p[i] && strchr(" \t\r\n", p[i]); i++)
        ;
    return i;
}

static bool ref_worth(const unsigned char *p, size_t n, bool need_model)
{
    for (size_t off = 0; off < n;) {
        const unsigned char *hit = memmem(p + off, n - off, "\"usage", 6);
        if (!hit)
            break;
        size_t k = (size_t)(hit - p) + 6;
        if (n - k >= 1 && p[k] == '"')
            k += 1;
        else if (n - k >= 9 && memcmp(p + k, "Metadata\"", 9) == 0)
            k += 9;
        size_t v = ref_value_at(p, n, k);
        if (v < n && p[v] == '{')
            return true;
        off = (size_t)(hit - p) + 6;
    }
    if (memmem(p, n, "\"error\"", 7))
        return true;
    return need_model && memmem(p, n, "\"model", 6);
}

static int64_t ref_text(const char *key, const unsigned char *p, size_t n)
{
    size_t klen = strlen(key), off = 0;
    int64_t total = 0;
    while (off < n) {
        const unsigned char *hit = memmem(p + off, n - off, key, klen);
        if (!hit)
            break;
        size_t v = ref_value_at(p, n, (size_t)(hit - p) + klen);
        off = (size_t)(hit - p) + klen;
        if (v < n && p[v] == '"') {
            size_t i = v + 1;
            while (i < n && p[i] != '"') {
                if (p[i] == '\\' && i + 1 < n)
                    i++;
                i++;
                total++;
            }
            off = i;
        }
    }
    return total;
}

/* Every prefix of each payload (so that keys fall at every place of a 16-byte block and at
 * the very end), with and without need_model, in three wire formats. */
static void test_scan_matches_byte_search(void **state)
{
    (void)state;
    static const char *const payloads[] = {
        "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1727346169,"
        "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" wo\\\"rd\\n\"},"
        "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
        "{\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":25,\"completion_tokens\":9}}",
        "{\"usage\" : \n {\"x\":1}, \"content\" :  \"abc\", \"content\":\"\", \"content\":7}",
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
        "\"text\":\"Hello \\u00e9\"}}",
        "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}",
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]}}],\"usageMetadata\":"
        "{\"promptTokenCount\":3},\"modelVersion\":\"gemini-2.5-flash\"}",
        "{\"type\":\"response.output_text.delta\",\"delta\":\"Hel\\\"lo\",\"usage\":\"x\"}",
        "\"\"\"\"\"u\"e\"m\"c\"content\"\"content\":\"",
    };
    static const struct { enum ak_operation op; enum ak_provider prov; const char *key; } fmts[] = {
        { AK_OP_CHAT, AK_PROV_OPENAI, "\"content\"" },
        { AK_OP_MESSAGES, AK_PROV_ANTHROPIC, "\"text\"" },
        { AK_OP_RESPONSES, AK_PROV_OPENAI, "\"delta\"" },
    };
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        const unsigned char *p = (const unsigned char *)payloads[i];
        size_t len = strlen(payloads[i]);
        for (size_t n = 0; n <= len; n++)
            for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++)
                for (int need = 0; need < 2; need++) {
                    int64_t text = -1;
                    bool worth = ak_usage_scan(fmts[f].op, fmts[f].prov, p, n, need, &text);
                    if (worth != ref_worth(p, n, need) || text != ref_text(fmts[f].key, p, n))
                        fail_msg("payload %zu, %zu bytes, format %zu, need_model %d: worth %d "
                                 "text %lld", i, n, f, need, worth, (long long)text);
                }
    }
    /* what it is for: usage:null is not worth a parse, a usage object is; text is counted */
    int64_t text = 0;
    const char *chunk = payloads[0];
    assert_false(ak_usage_scan(AK_OP_CHAT, AK_PROV_OPENAI, (const unsigned char *)chunk,
                               strlen(chunk), false, &text));
    assert_int_equal(text, 7);                   /* ` wo\"rd\n`: escapes count as one byte */
    assert_true(ak_usage_scan(AK_OP_CHAT, AK_PROV_OPENAI, (const unsigned char *)payloads[1],
                              strlen(payloads[1]), false, &text));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_top_level_members_only),
        cmocka_unit_test(test_values_that_look_like_keys),
        cmocka_unit_test(test_malformed_is_refused),
        cmocka_unit_test(test_scan_matches_byte_search),
        cmocka_unit_test(test_wanted_values_equal_cjson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
