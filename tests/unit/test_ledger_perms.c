/*
 * test_ledger_perms.c - who may write the ledger (core/ledger.c): the files get 0600 plus the
 * state directory's group bits and never a bit for others, whatever the umask, the
 * directory's other bits (an old 1777 install) or the files' old mode (0666).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ledger.h"

static mode_t mode_of(const char *dir, const char *name)
{
    char p[256];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    assert_int_equal(stat(p, &st), 0);
    return st.st_mode & 07777;
}

static void open_in(mode_t dir_mode, mode_t umask_, mode_t old_file_mode, mode_t want)
{
    char dir[] = "/tmp/ak_perms_XXXXXX", p[256];
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chmod(dir, dir_mode), 0);
    if (old_file_mode) {                 /* a ledger left by an older install */
        struct ak_ledger *l = NULL;
        assert_int_equal(ak_ledger_open(dir, &l), AK_OK);
        ak_ledger_close(l);
        snprintf(p, sizeof p, "%s/state.mdb", dir);
        assert_int_equal(chmod(p, old_file_mode), 0);
        snprintf(p, sizeof p, "%s/state.mdb-lock", dir);
        assert_int_equal(chmod(p, old_file_mode), 0);
    }
    mode_t old = umask(umask_);
    struct ak_ledger *l = NULL;
    assert_int_equal(ak_ledger_open(dir, &l), AK_OK);
    umask(old);
    assert_int_equal(mode_of(dir, "state.mdb"), want);
    assert_int_equal(mode_of(dir, "state.mdb-lock"), want);
    ak_ledger_close(l);
    snprintf(p, sizeof p, "%s/state.mdb", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/state.mdb-lock", dir);
    unlink(p);
    rmdir(dir);
}

static void test_group_directory(void **state)
{
    (void)state;
    open_in(02770, 022, 0, 0660);
    open_in(02770, 077, 0, 0660);
    open_in(02750, 022, 0, 0640);
}

static void test_private_directory(void **state)
{
    (void)state;
    open_in(0700, 022, 0, 0600);
}

static void test_world_writable_install_is_narrowed(void **state)
{
    (void)state;
    open_in(01777, 022, 0, 0660);
    open_in(01777, 0, 0666, 0660);
    open_in(02770, 022, 0666, 0660);
}

int main(void)
{
    setenv("AGENTKAVACH_LOG", "off", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_directory),
        cmocka_unit_test(test_private_directory),
        cmocka_unit_test(test_world_writable_install_is_narrowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
