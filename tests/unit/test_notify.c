/*
 * test_notify.c - the shim's poke to akcollector (core/notify.c): a datagram reaches a
 * listening collector socket, nothing breaks (and errno is kept) when nobody listens, the
 * configured socket wins over the state_dir default, and after a fork both the child and
 * the parent can still poke (the child makes its own socket; the parent's stays usable).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/notify.h"

#define POLL_MS 2000

struct listener {
    char dir[64];
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int fd;
};

static int setup(void **state)
{
    struct listener *l = calloc(1, sizeof *l);
    assert_non_null(l);
    snprintf(l->dir, sizeof l->dir, "/tmp/ak_notify_XXXXXX");
    assert_non_null(mkdtemp(l->dir));
    assert_true(ak_notify_socket_path(l->dir, NULL, l->path, sizeof l->path));
    l->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(l->fd >= 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    memcpy(sa.sun_path, l->path, strlen(l->path) + 1);
    assert_int_equal(bind(l->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    *state = l;
    return 0;
}

static int teardown(void **state)
{
    struct listener *l = *state;
    close(l->fd);
    unlink(l->path);
    rmdir(l->dir);
    free(l);
    return 0;
}

/* Number of pokes waiting on the listener (waits up to POLL_MS for the first). */
static int pokes(struct listener *l)
{
    struct pollfd p = { .fd = l->fd, .events = POLLIN };
    int n = 0;
    char b[16];
    if (poll(&p, 1, POLL_MS) <= 0)
        return 0;
    while (recv(l->fd, b, sizeof b, MSG_DONTWAIT) > 0)
        n++;
    return n;
}

static void test_path(void **state)
{
    (void)state;
    char out[108];
    assert_true(ak_notify_socket_path("/var/lib/ak", NULL, out, sizeof out));
    assert_string_equal(out, "/var/lib/ak/collector.sock");
    assert_true(ak_notify_socket_path("/var/lib/ak", "/run/ak.sock", out, sizeof out));
    assert_string_equal(out, "/run/ak.sock");
    char longdir[200];
    memset(longdir, 'a', sizeof longdir - 1);
    longdir[sizeof longdir - 1] = '\0';
    assert_false(ak_notify_socket_path(longdir, NULL, out, sizeof out));
    assert_false(ak_notify_socket_path(NULL, NULL, out, sizeof out));
}

static void test_poke_arrives(void **state)
{
    struct listener *l = *state;
    ak_notify_collector(l->dir);
    ak_notify_collector(l->dir);
    assert_int_equal(pokes(l), 2);
    ak_notify_collector_at(l->path);
    assert_int_equal(pokes(l), 1);
}

static void test_nobody_listening(void **state)
{
    struct listener *l = *state;
    char other[80];
    snprintf(other, sizeof other, "%s/none", l->dir);
    errno = 1234;
    ak_notify_collector(other);                 /* no socket there */
    ak_notify_collector_at("");
    ak_notify_collector(NULL);
    assert_int_equal(errno, 1234);
    assert_int_equal(pokes(l), 0);
    ak_notify_collector(l->dir);                /* and the cached socket still works */
    assert_int_equal(pokes(l), 1);
}

static void test_child_after_fork(void **state)
{
    struct listener *l = *state;
    ak_notify_collector(l->dir);                /* the parent's socket exists now */
    assert_int_equal(pokes(l), 1);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        ak_notify_collector(l->dir);
        _exit(0);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(pokes(l), 1);
    ak_notify_collector(l->dir);                /* the parent's own socket is untouched */
    assert_int_equal(pokes(l), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path),
        cmocka_unit_test_setup_teardown(test_poke_arrives, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nobody_listening, setup, teardown),
        cmocka_unit_test_setup_teardown(test_child_after_fork, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
