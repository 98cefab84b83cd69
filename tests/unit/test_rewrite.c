/*
 * test_rewrite.c - the include_usage rewrite is byte-exact (engine/jsplice.c, engine/xreq.c).
 * The property, checked on every input here and by tests/fuzz/fuzz_req.c: the rewritten
 * request parses as the same request plus stream_options.include_usage; its body differs from
 * the client's in one splice no longer than the member added; its head is the client's head
 * without Content-Length/Transfer-Encoding/Accept-Encoding/Content-Encoding, plus one
 * Content-Length before the blank line. The inputs are the audit's: "a\u0000b", a big
 * integer, 1e999, a leading empty line, a malformed head end, and stream_options shapes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/rewrite_check.h"

#define MAX_BODY (256 * 1024)

static void expect_exact(const char *head, const char *body)
{
    char msg[8192];
    int n = snprintf(msg, sizeof msg, "%sContent-Length: %zu\r\n\r\n%s", head, strlen(body), body);
    assert_true(n > 0 && (size_t)n < sizeof msg);
    char why[256] = "";
    enum rw_verdict v = rw_check((const unsigned char *)msg, (size_t)n, MAX_BODY, why, sizeof why);
    if (v != RW_OK)
        fail_msg("%s: %s\nhead: %s\nbody: %s", rw_verdict_name(v), why, head, body);
}

#define HEAD "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n" \
             "Accept-Encoding: gzip\r\nContent-Type: application/json\r\n"

static void test_values_kept(void **state)
{
    (void)state;
    expect_exact(HEAD, "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                       "\"content\":\"a\\u0000b\"}]}");
    expect_exact(HEAD, "{\"model\":\"gpt-4o\",\"stream\":true,\"seed\":9007199254740993,"
                       "\"messages\":[]}");
    expect_exact(HEAD, "{\"model\":\"gpt-4o\",\"stream\":true,\"temperature\":1e999,"
                       "\"messages\":[]}");
    expect_exact(HEAD, " \n{ \"model\" : \"gpt-4o\" ,\n \"stream\" : true , \"messages\" : [ ] }\n");
    expect_exact(HEAD, "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[{\"content\":"
                       "\"q\\\"}{\\\\\"}],\"x\":{\"stream_options\":1}}");
}

static void test_stream_options_shapes(void **state)
{
    (void)state;
    expect_exact(HEAD, "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{}}");
    expect_exact(HEAD, "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{ }}");
    expect_exact(HEAD, "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":"
                       "{\"include_obfuscation\":false}}");
    expect_exact(HEAD, "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":"
                       "{\"include_usage\":false,\"x\":[1,2]}}");
    expect_exact(HEAD, "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":null}");
    expect_exact(HEAD, "{\"stream_options\":\"no\",\"model\":\"gpt-4o\",\"stream\":true}");
}

static void test_heads_kept(void **state)
{
    (void)state;
    const char *body = "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[]}";
    /* RFC 9112 lets a client send empty lines first; the parser skips them */
    expect_exact("\r\n" HEAD, body);
    expect_exact("\r\n\r\n" HEAD "X-Folded: a\r\n b\r\n", body);
    expect_exact("POST /v1/chat/completions HTTP/1.1\nHost: x\nContent-Type: application/json\n",
                 body);
    expect_exact(HEAD "Content-Encoding: identity\r\n", body);
}

/* A malformed head end ("\r\n\r" and one more byte): the rewrite ends the head where the
 * parser did, so the body the server gets starts where it started for us. */
static void test_malformed_head_end(void **state)
{
    (void)state;
    const char *body = "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[]}";
    char msg[1024];
    int n = snprintf(msg, sizeof msg, HEAD "Content-Length: %zu\r\n\rX%s", strlen(body), body);
    char why[256] = "";
    enum rw_verdict v = rw_check((const unsigned char *)msg, (size_t)n, MAX_BODY, why, sizeof why);
    assert_true(v == RW_OK || v == RW_NOT_REWRITTEN || v == RW_NOT_DONE);
    if (v != RW_OK)
        print_message("malformed head: %s (%s)\n", rw_verdict_name(v), why);
}

/* What is not rewritten, rather than rewritten wrongly. */
static void test_refused(void **state)
{
    (void)state;
    const char *bodies[] = {
        "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{},\"stream_options\":{}}",
        "{\"model\":\"gpt-4o\",\"stream\":true,\"stream\\u005foptions\":{}}",
        "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":0,"
        "\"include_usage\":0}}",
        /* fuzz_req found it: a raw control byte in a key (cJSON cuts the key at a NUL) */
        "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\x01\":null}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        char msg[1024], why[256] = "";
        int n = snprintf(msg, sizeof msg, HEAD "Content-Length: %zu\r\n\r\n%s", strlen(bodies[i]),
                         bodies[i]);
        enum rw_verdict v = rw_check((const unsigned char *)msg, (size_t)n, MAX_BODY, why,
                                     sizeof why);
        assert_int_equal(v, RW_NOT_REWRITTEN);
    }
}

/* fuzz_req found it: a bare CR ends a header for http_parser but not for a line split, so a
 * Content-Length behind one was kept and a second added. Such a head is not rewritten. */
static void test_bare_cr_in_head(void **state)
{
    (void)state;
    const char *body = "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[]}";
    char msg[1024], why[256] = "";
    int n = snprintf(msg, sizeof msg, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                     "X-A: \r\xf0" "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    enum rw_verdict v = rw_check((const unsigned char *)msg, (size_t)n, MAX_BODY, why, sizeof why);
    assert_true(v == RW_NOT_REWRITTEN || v == RW_NOT_DONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_kept),
        cmocka_unit_test(test_stream_options_shapes),
        cmocka_unit_test(test_heads_kept),
        cmocka_unit_test(test_malformed_head_end),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_bare_cr_in_head),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
