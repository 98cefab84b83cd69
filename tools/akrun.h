/*
 * akrun.h - what akrun.c (options, environment, running the command) and akrun_proxy.c (the
 * egress plane: akproxy, trust bundles, proxy variables) share. libc only.
 */
#ifndef AKRUN_H
#define AKRUN_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

struct akrun_opts {
    const char *agent, *config, *state_dir;
    const char *proxy;            /* --proxy ADDR */
    bool no_proxy;                /* --no-proxy: the in-process plane only */
    char **cmd;
};

struct akrun_proxy {
    char addr[128];               /* host:port of the akproxy in use */
    pid_t private_pid;            /* a private akproxy started for this run; 0 = none */
    char dir[PATH_MAX];           /* the run's directory: the CA and the trust bundles */
};

/* Finds akproxy (or starts a private one) and sets HTTPS_PROXY and the trust variables. */
int akrun_proxy_setup(const struct akrun_opts *o, struct akrun_proxy *p);
/* Stops a private akproxy and removes the run's files. */
void akrun_proxy_stop(struct akrun_proxy *p);

#endif
