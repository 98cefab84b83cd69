/*
 * spawn.c - load cost of a preloaded object for programs that never talk to an LLM.
 *
 * usage: spawn -n ITER [-r ROUND] [-l NAME] -m LABEL=PRELOAD [-m ...] -- CMD [ARGS...]
 *   PRELOAD "-" means no LD_PRELOAD at all.
 * Each iteration runs CMD once per mode, modes in turn (A/B/C, A/B/C ...), so that machine
 * noise hits every mode alike; posix_spawn + waitpid is timed per run. Prints one RESULT line
 * per mode with the median microseconds per exec.
 */
#include "bench/benchlib.h"

#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MODES_MAX 8
#define PRELOAD_VAR "LD_PRELOAD="
#define NO_PRELOAD "-"

extern char **environ;

struct mode {
    const char *label;
    char **envp;
    double *us;
};

/* environ without LD_PRELOAD, plus LD_PRELOAD=path unless path is "-". */
static char **env_with_preload(const char *path)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **envp = calloc(n + 2, sizeof *envp);
    if (!envp)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], PRELOAD_VAR, strlen(PRELOAD_VAR)) != 0)
            envp[k++] = environ[i];
    if (strcmp(path, NO_PRELOAD) != 0) {
        size_t len = strlen(PRELOAD_VAR) + strlen(path) + 1;
        char *var = malloc(len);
        if (!var) {
            free(envp);
            return NULL;
        }
        snprintf(var, len, "%s%s", PRELOAD_VAR, path);
        envp[k++] = var;
    }
    return envp;
}

/* Microseconds for one spawn-and-wait; < 0 when CMD could not run or failed. */
static double spawn_once(char **argv, char **envp)
{
    pid_t pid;
    int st;
    int64_t t0 = bl_now_ns();
    if (posix_spawn(&pid, argv[0], NULL, NULL, argv, envp) != 0)
        return -1;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    return (double)(bl_now_ns() - t0) / BL_NS_PER_US;
}

static int parse_mode(char *arg, struct mode *m)
{
    char *eq = strchr(arg, '=');
    if (!eq)
        return -1;
    *eq = '\0';
    m->label = arg;
    m->envp = env_with_preload(eq + 1);
    return m->envp ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct mode modes[MODES_MAX];
    int n_modes = 0, iters = 0, round = 0, opt;
    const char *label = "cmd";
    while ((opt = getopt(argc, argv, "n:r:l:m:")) != -1) {
        if (opt == 'n')
            iters = atoi(optarg);
        else if (opt == 'r')
            round = atoi(optarg);
        else if (opt == 'l')
            label = optarg;
        else if (opt == 'm' && n_modes < MODES_MAX && parse_mode(optarg, &modes[n_modes]) == 0)
            n_modes++;
        else
            goto usage;
    }
    if (iters <= 0 || n_modes == 0 || optind >= argc)
        goto usage;
    for (int m = 0; m < n_modes; m++) {
        modes[m].us = calloc((size_t)iters, sizeof *modes[m].us);
        if (!modes[m].us)
            return 1;
    }
    char **cmd = argv + optind;
    for (int i = 0; i < iters; i++) {
        for (int m = 0; m < n_modes; m++) {
            modes[m].us[i] = spawn_once(cmd, modes[m].envp);
            if (modes[m].us[i] < 0) {
                fprintf(stderr, "spawn: %s failed under mode %s\n", cmd[0], modes[m].label);
                return 1;
            }
        }
    }
    for (int m = 0; m < n_modes; m++)
        printf("RESULT bench=load cmd=%s mode=%s round=%d us=%.1f\n", label, modes[m].label, round, bl_median(modes[m].us, (size_t)iters));
    return 0;
usage:
    fprintf(stderr, "usage: spawn -n ITER [-r ROUND] [-l NAME] -m LABEL=PRELOAD|- [-m ...] -- CMD...\n");
    return 2;
}
