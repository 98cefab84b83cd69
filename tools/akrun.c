/*
 * akrun.c - run a program under agentkavach without touching its environment by hand:
 *   akrun --agent NAME [--config FILE] [--state-dir DIR] [--proxy ADDR|--no-proxy] -- CMD ARGS...
 * sets AGENTKAVACH_AGENT (and AGENTKAVACH_CONFIG / AGENTKAVACH_STATE_DIR when given), puts
 * libakshim.so first in LD_PRELOAD (an existing LD_PRELOAD is kept after it), sends the
 * program's HTTPS through akproxy with trust in its host CA (akrun_proxy.c; a private akproxy
 * is started for the run when none answers), runs CMD and waits for it.
 * Programs on the system libssl stay on the cheaper in-process plane: akproxy relays, without
 * metering, the connections of a process that has the shim and a shared libssl loaded, so no
 * call is counted twice. The shim is the one beside akrun's own binary (the build tree:
 * build/akrun next to build/libakshim.so), else AK_LIBDIR/libakshim.so. libc only.
 * Exit: CMD's status (128+N for a signal), 2 bad usage, 127 CMD not found, 126 CMD not
 * executable, 1 no shim to preload.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/akrun.h"

#ifndef AK_LIBDIR
#define AK_LIBDIR "/usr/local/lib/agentkavach"
#endif

#define SHIM_NAME "libakshim.so"
#define EXIT_NO_SHIM 1
#define EXIT_USAGE 2
#define EXIT_NOEXEC 126
#define EXIT_NOTFOUND 127
#define EXIT_SIGNAL_BASE 128

static const char usage_text[] =
    "usage: akrun --agent NAME [--config FILE] [--state-dir DIR] [--proxy ADDR|--no-proxy] -- CMD [ARGS...]\n"
    "Runs CMD with libakshim.so preloaded, AGENTKAVACH_AGENT=NAME and its HTTPS sent through\n"
    "akproxy (HTTPS_PROXY, and trust bundles with the host CA), so that its LLM calls are\n"
    "metered and held to NAME's budget whatever its TLS stack.\n"
    "  --agent NAME      the agent name (required)\n"
    "  --config FILE     sets AGENTKAVACH_CONFIG\n"
    "  --state-dir DIR   sets AGENTKAVACH_STATE_DIR\n"
    "  --proxy ADDR      akproxy's address (default $AGENTKAVACH_PROXY, else 127.0.0.1:8479);\n"
    "                    when none answers, a private akproxy runs for the command's lifetime\n"
    "  --no-proxy        the preloaded shim only (programs on the system libssl)\n"
    "Exit status: CMD's own, or 2 bad usage, 126 CMD not executable, 127 CMD not found,\n"
    "1 libakshim.so not found.\n";

static int usage_error(const char *fmt, const char *arg)
{
    fputs("akrun: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (try 'akrun --help')\n", stderr);
    return EXIT_USAGE;
}

/* "--name V" or "--name=V" at argv[*i]: 1 taken, 0 not this option, -1 value missing. */
static int opt_take(const char *name, int argc, char **argv, int *i, const char **val)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *val = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *val = argv[++*i];
    return 1;
}

/* Returns -1 to go on, else the exit code (0 after --help). */
static int opts_parse(int argc, char **argv, struct akrun_opts *o)
{
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (a[0] != '-')
            break;                       /* CMD without a "--" */
        int t = opt_take("--agent", argc, argv, &i, &o->agent);
        if (t == 0)
            t = opt_take("--config", argc, argv, &i, &o->config);
        if (t == 0)
            t = opt_take("--state-dir", argc, argv, &i, &o->state_dir);
        if (t == 0)
            t = opt_take("--proxy", argc, argv, &i, &o->proxy);
        if (t == 0 && strcmp(a, "--no-proxy") == 0) {
            o->no_proxy = true;
            t = 1;
        }
        if (t < 0)
            return usage_error("%s needs a value", a);
        if (t == 0)
            return usage_error("unknown option '%s'", a);
    }
    if (!o->agent || !*o->agent)
        return usage_error("%s", "--agent NAME is required");
    if (i >= argc || !argv[i][0])
        return usage_error("%s", "no command to run");
    o->cmd = argv + i;
    return -1;
}

static int file_readable(const char *path)
{
    return access(path, R_OK) == 0;
}

/* The shim beside our own binary, else the installed one. */
static int shim_find(char *out, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            int w = snprintf(out, len, "%s/%s", self, SHIM_NAME);
            if (w > 0 && (size_t)w < len && file_readable(out))
                return 1;
        }
    }
    int w = snprintf(out, len, "%s/%s", AK_LIBDIR, SHIM_NAME);
    return w > 0 && (size_t)w < len && file_readable(out);
}

/* Is `shim` already one of the entries of an LD_PRELOAD list (space or colon separated)? */
static int preload_has(const char *list, const char *shim)
{
    size_t n = strlen(shim);
    for (const char *p = list; *p;) {
        size_t l = strcspn(p, ": ");
        if (l == n && strncmp(p, shim, n) == 0)
            return 1;
        p += l;
        p += strspn(p, ": ");
    }
    return 0;
}

static int env_set(const char *name, const char *value)
{
    if (!value)
        return 0;
    if (setenv(name, value, 1) != 0) {
        fprintf(stderr, "akrun: cannot set %s: %s\n", name, strerror(errno));
        return -1;
    }
    return 0;
}

static int preload_set(const char *shim)
{
    const char *old = getenv("LD_PRELOAD");
    int rc;
    if (!old || !*old)
        return env_set("LD_PRELOAD", shim);
    if (preload_has(old, shim))
        return 0;
    size_t len = strlen(shim) + 1 + strlen(old) + 1;
    char *v = malloc(len);
    if (!v) {
        fputs("akrun: out of memory\n", stderr);
        return -1;
    }
    snprintf(v, len, "%s:%s", shim, old);
    rc = env_set("LD_PRELOAD", v);
    free(v);
    return rc;
}

static int exec_cmd(char **cmd)
{
    execvp(cmd[0], cmd);
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
        fprintf(stderr, "akrun: %s: not found\n", cmd[0]);
        return EXIT_NOTFOUND;
    }
    fprintf(stderr, "akrun: %s: %s\n", cmd[0], strerror(err));
    return EXIT_NOEXEC;
}

static volatile sig_atomic_t child_pid;

static void forward_signal(int sig)
{
    if (child_pid > 0)
        kill((pid_t)child_pid, sig);
}

/* Runs CMD as a child (akrun stays to stop a private akproxy and remove the run's files),
 * passing on the signals a user or a supervisor sends. */
static int run_child(char **cmd)
{
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "akrun: fork: %s\n", strerror(errno));
        return EXIT_NOEXEC;
    }
    if (pid == 0)
        _exit(exec_cmd(cmd));
    child_pid = pid;
    struct sigaction sa = { .sa_handler = forward_signal };
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(st))
        return EXIT_SIGNAL_BASE + WTERMSIG(st);
    return WIFEXITED(st) ? WEXITSTATUS(st) : EXIT_NOEXEC;
}

int main(int argc, char **argv)
{
    struct akrun_opts o = { 0 };
    struct akrun_proxy px;
    char shim[PATH_MAX];
    int code = opts_parse(argc, argv, &o);
    if (code >= 0)
        return code;
    if (!shim_find(shim, sizeof shim)) {
        fprintf(stderr, "akrun: %s not found beside akrun nor in %s\n", SHIM_NAME, AK_LIBDIR);
        return EXIT_NO_SHIM;
    }
    if (env_set("AGENTKAVACH_AGENT", o.agent) != 0 || env_set("AGENTKAVACH_CONFIG", o.config) != 0 ||
        env_set("AGENTKAVACH_STATE_DIR", o.state_dir) != 0)
        return EXIT_NO_SHIM;
    if (o.no_proxy)
        return preload_set(shim) != 0 ? EXIT_NO_SHIM : exec_cmd(o.cmd);
    akrun_proxy_setup(&o, &px);     /* failing, it said why: the shim alone still meters */
    code = preload_set(shim) != 0 ? EXIT_NO_SHIM : run_child(o.cmd);
    akrun_proxy_stop(&px);
    return code;
}
