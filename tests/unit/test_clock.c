/*
 * test_clock.c - the injectable clock (core/ak.c ak_now_ms): the real clock when nothing pins
 * it, AGENTKAVACH_FAKE_NOW_MS "N" (stands still), "N@M" (starts at N when CLOCK_MONOTONIC read
 * M ms and advances with it), and ak_time_set_source before both.
 */
#include "core/ak.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define PINNED_MS 1795348800000LL      /* 2026-11-22T12:00:00Z */
#define WAIT_MS 30
#define SLACK_MS 5000                  /* a loaded machine may stall this long between reads */

/* CLOCK_MONOTONIC as core/ak.c reads it: by a direct system call, which libfaketime (the
 * suite also runs under faketime) does not move. */
static int64_t mono_ms(void)
{
    struct timespec ts = { 0, 0 };
    assert_int_equal(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts), 0);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int restore(void **state)
{
    (void)state;
    unsetenv("AGENTKAVACH_FAKE_NOW_MS");
    ak_time_set_source(NULL);
    return 0;
}

static void test_real_clock_when_unpinned(void **state)
{
    (void)state;
    unsetenv("AGENTKAVACH_FAKE_NOW_MS");
    int64_t before = wall_ms(), now = ak_now_ms(), after = wall_ms();
    assert_true(before <= now && now <= after);
}

static void test_fixed_instant_stands_still(void **state)
{
    (void)state;
    char v[32];
    snprintf(v, sizeof v, "%lld", PINNED_MS);
    setenv("AGENTKAVACH_FAKE_NOW_MS", v, 1);
    assert_int_equal(ak_now_ms(), PINNED_MS);
    sleep_ms(WAIT_MS);
    assert_int_equal(ak_now_ms(), PINNED_MS);
}

static void test_anchored_clock_advances(void **state)
{
    (void)state;
    char v[64];
    int64_t anchor = mono_ms();
    snprintf(v, sizeof v, "%lld@%lld", PINNED_MS, (long long)anchor);
    setenv("AGENTKAVACH_FAKE_NOW_MS", v, 1);
    int64_t first = ak_now_ms();
    assert_true(first >= PINNED_MS && first < PINNED_MS + SLACK_MS);
    sleep_ms(WAIT_MS);
    int64_t second = ak_now_ms();
    assert_true(second - first >= WAIT_MS && second - first < WAIT_MS + SLACK_MS);
    /* an anchor taken earlier means time has passed since the start instant */
    snprintf(v, sizeof v, "%lld@%lld", PINNED_MS, (long long)(mono_ms() - 60000));
    setenv("AGENTKAVACH_FAKE_NOW_MS", v, 1);
    int64_t later = ak_now_ms();
    assert_true(later >= PINNED_MS + 60000 && later < PINNED_MS + 60000 + SLACK_MS);
}

static int64_t source_42(void) { return 42; }

static void test_source_before_env(void **state)
{
    (void)state;
    setenv("AGENTKAVACH_FAKE_NOW_MS", "7", 1);
    ak_time_set_source(source_42);
    assert_int_equal(ak_now_ms(), 42);
    ak_time_set_source(NULL);
    assert_int_equal(ak_now_ms(), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_real_clock_when_unpinned, restore),
        cmocka_unit_test_teardown(test_fixed_instant_stands_still, restore),
        cmocka_unit_test_teardown(test_anchored_clock_advances, restore),
        cmocka_unit_test_teardown(test_source_before_env, restore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
