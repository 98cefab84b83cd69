/*
 * tools_proc.h - for the tests of the command-line tools (test_akctl, test_akrun): find the
 * built binaries beside the test binary (build/tests/.. -> build/), and run one with extra
 * environment, capturing its exit code, stdout and stderr. Header-only (static functions),
 * included by those two tests only, so nothing leaks into the other test binaries.
 */
#ifndef AK_TESTS_TOOLS_PROC_H
#define AK_TESTS_TOOLS_PROC_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TP_MAX_OUTPUT (4 * 1024 * 1024)

struct tp_result {
    int code;                 /* exit status; 128+N when killed by signal N */
    char *out;                /* stdout, NUL-terminated */
    char *err;                /* stderr, NUL-terminated */
};

/* build/ (the directory of this test binary's parent) into dir; false on failure. */
static bool tp_build_dir(char *dir, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return false;
    self[n] = '\0';
    for (int i = 0; i < 2; i++) {           /* strip "test_x", then "tests" */
        char *slash = strrchr(self, '/');
        if (!slash)
            return false;
        *slash = '\0';
    }
    return snprintf(dir, len, "%s", self) < (int)len;
}

/* build/<name> into path. */
static bool tp_binary(const char *name, char *path, size_t len)
{
    char dir[PATH_MAX];
    return tp_build_dir(dir, sizeof dir) && snprintf(path, len, "%s/%s", dir, name) < (int)len;
}

static char *tp_slurp_fd(int fd)
{
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap);
    if (!buf || lseek(fd, 0, SEEK_SET) < 0) {
        free(buf);
        return NULL;
    }
    for (;;) {
        if (used + 1 >= cap) {
            if (cap >= TP_MAX_OUTPUT)
                break;
            char *b = realloc(buf, cap * 2);
            if (!b)
                break;
            buf = b;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + used, cap - 1 - used);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        used += (size_t)r;
    }
    buf[used] = '\0';
    return buf;
}

static int tp_tmpfd(void)
{
    char name[] = "/tmp/ak-tool-out-XXXXXX";
    int fd = mkstemp(name);
    if (fd >= 0)
        unlink(name);
    return fd;
}

/* Runs argv (argv[0] a path) with env_extra ("NAME=VALUE" entries added, "NAME=" with an
 * empty value removes NAME; NULL-terminated, may be NULL). Returns false when it could not
 * be started at all. */
static bool tp_run(char *const argv[], char *const env_extra[], struct tp_result *res)
{
    memset(res, 0, sizeof *res);
    res->code = -1;
    int out = tp_tmpfd(), err = tp_tmpfd();
    if (out < 0 || err < 0)
        return false;
    pid_t pid = fork();
    if (pid == 0) {
        for (size_t i = 0; env_extra && env_extra[i]; i++) {
            char name[256];
            const char *eq = strchr(env_extra[i], '=');
            if (!eq || (size_t)(eq - env_extra[i]) >= sizeof name)
                _exit(125);
            memcpy(name, env_extra[i], (size_t)(eq - env_extra[i]));
            name[eq - env_extra[i]] = '\0';
            if (eq[1] ? setenv(name, eq + 1, 1) : unsetenv(name))
                _exit(125);
        }
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(125);
        execv(argv[0], argv);
        _exit(126);
    }
    if (pid < 0)
        return false;
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return false;
    res->code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    res->out = tp_slurp_fd(out);
    res->err = tp_slurp_fd(err);
    close(out);
    close(err);
    return res->out && res->err;
}

static void tp_result_free(struct tp_result *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

/* Number of lines in s (a final line without '\n' counts). */
static size_t tp_count_lines(const char *s)
{
    size_t n = 0;
    for (const char *p = s; *p; p++)
        if (*p == '\n' || p[1] == '\0')
            n++;
    return n;
}

#endif
