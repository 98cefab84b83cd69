/*
 * test_akrun.c - runs the real build/akrun: the environment it gives the command (agent,
 * config, state dir, LD_PRELOAD with the shim first and an existing preload kept), and its
 * exit codes for bad usage (2) and a command that does not exist (127). --no-proxy: the egress
 * side (akproxy, trust bundles) is tested with real programs in t_egress_akrun.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/tools_proc.h"

#define NOT_A_LIB "/nonexistent/ak-test-preload.so"

static char akrun_path[PATH_MAX];
static char shim_path[PATH_MAX];

static int setup(void **state)
{
    (void)state;
    char dir[PATH_MAX];
    if (!tp_binary("akrun", akrun_path, sizeof akrun_path) || !tp_build_dir(dir, sizeof dir))
        return -1;
    if (snprintf(shim_path, sizeof shim_path, "%s/libakshim.so", dir) >= (int)sizeof shim_path)
        return -1;
    return access(akrun_path, X_OK);
}

/* The value of NAME in `env` output, or NULL; *val points into out. */
static const char *env_value(const char *out, const char *name, char *val, size_t len)
{
    size_t n = strlen(name);
    for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            size_t l = strcspn(p + n + 1, "\n");
            snprintf(val, len, "%.*s", (int)l, p + n + 1);
            return val;
        }
    }
    return NULL;
}

static void test_sets_environment_and_preload(void **state)
{
    (void)state;
    char *argv[] = { akrun_path, "--no-proxy", "--agent", "research-bot", "--config", "/tmp/ak-test.yaml",
                     "--state-dir", "/tmp/ak-test-state", "--", "env", NULL };
    char *env[] = { "LD_PRELOAD=" NOT_A_LIB, "AGENTKAVACH_DISABLE=1", NULL };
    struct tp_result r;
    char val[PATH_MAX * 2], want[PATH_MAX * 2];
    assert_true(tp_run(argv, env, &r));
    if (access(shim_path, R_OK) != 0) {
        /* no shim in the build tree (and none installed): refused with one clear line */
        assert_int_equal(r.code, 1);
        assert_non_null(strstr(r.err, "libakshim.so not found"));
        tp_result_free(&r);
        skip();
    }
    assert_int_equal(r.code, 0);
    assert_string_equal(env_value(r.out, "AGENTKAVACH_AGENT", val, sizeof val), "research-bot");
    assert_string_equal(env_value(r.out, "AGENTKAVACH_CONFIG", val, sizeof val), "/tmp/ak-test.yaml");
    assert_string_equal(env_value(r.out, "AGENTKAVACH_STATE_DIR", val, sizeof val), "/tmp/ak-test-state");
    snprintf(want, sizeof want, "%s:%s", shim_path, NOT_A_LIB);
    assert_string_equal(env_value(r.out, "LD_PRELOAD", val, sizeof val), want);
    tp_result_free(&r);
}

static void test_preload_not_doubled_and_optional_env_left_alone(void **state)
{
    (void)state;
    char *argv[] = { akrun_path, "--no-proxy", "--agent=writer-bot", "env", NULL };
    char preset[PATH_MAX + 16];
    snprintf(preset, sizeof preset, "LD_PRELOAD=%s", shim_path);
    char *env[] = { preset, "AGENTKAVACH_CONFIG=", "AGENTKAVACH_STATE_DIR=",
                    "AGENTKAVACH_DISABLE=1", NULL };
    struct tp_result r;
    char val[PATH_MAX * 2];
    if (access(shim_path, R_OK) != 0)
        skip();
    assert_true(tp_run(argv, env, &r));
    assert_int_equal(r.code, 0);
    assert_string_equal(env_value(r.out, "AGENTKAVACH_AGENT", val, sizeof val), "writer-bot");
    assert_string_equal(env_value(r.out, "LD_PRELOAD", val, sizeof val), shim_path);
    assert_null(env_value(r.out, "AGENTKAVACH_CONFIG", val, sizeof val));
    assert_null(env_value(r.out, "AGENTKAVACH_STATE_DIR", val, sizeof val));
    tp_result_free(&r);
}

static void test_passes_arguments_and_exit_code(void **state)
{
    (void)state;
    char *argv[] = { akrun_path, "--no-proxy", "--agent", "a", "--", "sh", "-c", "echo \"$0 $1\"; exit 7",
                     "x y", "--agent", NULL };
    char *env[] = { "AGENTKAVACH_DISABLE=1", NULL };
    struct tp_result r;
    if (access(shim_path, R_OK) != 0)
        skip();
    assert_true(tp_run(argv, env, &r));
    assert_int_equal(r.code, 7);
    assert_string_equal(r.out, "x y --agent\n");
    tp_result_free(&r);
}

static void test_command_not_found_is_127(void **state)
{
    (void)state;
    char *argv[] = { akrun_path, "--no-proxy", "--agent", "a", "--", "ak-no-such-command-xyz", NULL };
    struct tp_result r;
    if (access(shim_path, R_OK) != 0)
        skip();
    assert_true(tp_run(argv, NULL, &r));
    assert_int_equal(r.code, 127);
    assert_string_equal(r.err, "akrun: ak-no-such-command-xyz: not found\n");
    tp_result_free(&r);
}

static void test_usage_errors_are_2(void **state)
{
    (void)state;
    char *no_agent[] = { akrun_path, "--", "env", NULL };
    char *no_cmd[] = { akrun_path, "--agent", "a", "--", NULL };
    char *missing_val[] = { akrun_path, "--agent", NULL };
    char *unknown[] = { akrun_path, "--agent", "a", "--bogus", "--", "env", NULL };
    char *const *cases[] = { no_agent, no_cmd, missing_val, unknown };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tp_result r;
        assert_true(tp_run(cases[i], NULL, &r));
        assert_int_equal(r.code, 2);
        assert_int_equal(tp_count_lines(r.err), 1);
        assert_non_null(strstr(r.err, "akrun: "));
        assert_string_equal(r.out, "");
        tp_result_free(&r);
    }
}

static void test_help(void **state)
{
    (void)state;
    char *argv[] = { akrun_path, "--help", NULL };
    struct tp_result r;
    assert_true(tp_run(argv, NULL, &r));
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "usage: akrun --agent NAME"));
    tp_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sets_environment_and_preload),
        cmocka_unit_test(test_preload_not_doubled_and_optional_env_left_alone),
        cmocka_unit_test(test_passes_arguments_and_exit_code),
        cmocka_unit_test(test_command_not_found_is_127),
        cmocka_unit_test(test_usage_errors_are_2),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
