/*
 * akrun_proxy.c - akrun's side of the egress plane: find akproxy (or start a private one for
 * the run), fetch its host CA, and give the command what it needs to go through it: the
 * HTTPS_PROXY variables with the agent in the URL's user part, and trust bundles (what each
 * trust variable or the system store held, plus the host CA) for the variables runtimes read:
 * SSL_CERT_FILE, NODE_EXTRA_CA_CERTS, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, DENO_CERT.
 * libc only, like the rest of akrun.
 */
#include "tools/akrun.h"
#include "core/ak.h"             /* constants only: akrun links nothing but libc */

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PROXY "127.0.0.1:8479"            /* egress.listen's default */
#define CA_PATH "/agentkavach/ca.pem"             /* akproxy serves its CA here */
#define SYSTEM_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
#define PROXY_NAME "akproxy"
#define FETCH_TIMEOUT_MS 2000
#define READY_TIMEOUT_MS 10000
#define POLL_STEP_MS 20
#define STOP_TIMEOUT_MS 3000
#define REPLY_MAX 65536

static const char *const trust_vars[] = {
    "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "DENO_CERT",
};

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * AK_MS_PER_S + ts.tv_nsec / AK_NS_PER_MS;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / AK_MS_PER_S, (ms % AK_MS_PER_S) * AK_NS_PER_MS };
    nanosleep(&ts, NULL);
}

/* Connects to "host:port" within the time-out; -1 on failure. */
static int dial(const char *addr, int timeout_ms)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof host)
        return -1;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    char *h = host;
    size_t hl = strlen(h);
    if (hl > 2 && h[0] == '[' && h[hl - 1] == ']') {
        h[hl - 1] = '\0';
        h++;
    }
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST }, *ai = NULL;
    if (getaddrinfo(h, colon + 1, &hints, &ai) != 0)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int rc = fd >= 0 ? connect(fd, ai->ai_addr, ai->ai_addrlen) : -1;
    freeaddrinfo(ai);
    if (fd >= 0 && rc != 0 && errno == EINPROGRESS) {
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        int err = 0;
        socklen_t el = sizeof err;
        rc = poll(&p, 1, timeout_ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 &&
                     err == 0 ? 0 : -1;
    }
    if (rc != 0 && fd >= 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* GET CA_PATH from akproxy at addr into `out`; 0 when it answered with a certificate. */
static int ca_fetch(const char *addr, const char *out)
{
    static const char req[] = "GET " CA_PATH " HTTP/1.1\r\nHost: akproxy\r\nConnection: close\r\n\r\n";
    char *buf = malloc(REPLY_MAX + 1);
    int fd = buf ? dial(addr, FETCH_TIMEOUT_MS) : -1;
    size_t n = 0;
    int rc = -1;
    if (fd < 0)
        goto out;
    if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1))
        goto out;
    long long deadline = mono_ms() + FETCH_TIMEOUT_MS;
    while (n < REPLY_MAX) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        long long left = deadline - mono_ms();
        if (left <= 0 || poll(&p, 1, (int)left) != 1)
            goto out;
        ssize_t r = recv(fd, buf + n, REPLY_MAX - n, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    char *body = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0 || !body || !strstr(body, "-----BEGIN CERTIFICATE-----"))
        goto out;
    body += 4;
    int of = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (of < 0)
        goto out;
    size_t bl = strlen(body);
    rc = write(of, body, bl) == (ssize_t)bl ? 0 : -1;
    if (close(of) != 0)
        rc = -1;
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return rc;
}

/* akproxy beside akrun (the build tree, an installed BINDIR), else from PATH. */
static void proxy_binary(char *out, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            int w = snprintf(out, len, "%s/%s", self, PROXY_NAME);
            if (w > 0 && (size_t)w < len && access(out, X_OK) == 0)
                return;
        }
    }
    snprintf(out, len, "%s", PROXY_NAME);
}

static void mkdirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        mkdir(path, 0700);
        *p = '/';
    }
    mkdir(path, 0700);
}

/* A private proxy's CA: AGENTKAVACH_CA_DIR; else, for a user who cannot write the host's,
 * one of their own under ~/.local/share (root uses the config's egress.ca_dir). */
static const char *private_ca_dir(char *buf, size_t len)
{
    const char *env = getenv("AGENTKAVACH_CA_DIR");
    const char *home = getenv("HOME");
    if (env && *env)
        return env;
    if (geteuid() == 0 || !home || !*home)
        return NULL;
    snprintf(buf, len, "%s/.local/share/agentkavach/ca", home);
    mkdirs(buf);
    return buf;
}

static int proxy_start(struct akrun_proxy *p, const struct akrun_opts *o)
{
    char bin[PATH_MAX], ready[PATH_MAX + 16], log[PATH_MAX + 16], cadir[PATH_MAX];
    snprintf(ready, sizeof ready, "%s/ready", p->dir);
    snprintf(log, sizeof log, "%s/akproxy.log", p->dir);
    proxy_binary(bin, sizeof bin);
    const char *ca = private_ca_dir(cadir, sizeof cadir);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setpgid(0, 0);            /* a ^C meant for the command must not stop the proxy first */
        int lf = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (lf >= 0)
            dup2(lf, STDERR_FILENO);
        int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (nul >= 0) {
            dup2(nul, STDIN_FILENO);
            dup2(nul, STDOUT_FILENO);
        }
        char *argv[10];
        int i = 0;
        argv[i++] = bin;
        argv[i++] = "--listen";
        argv[i++] = "127.0.0.1:0";
        argv[i++] = "--ready-file";
        argv[i++] = ready;
        if (ca) {
            argv[i++] = "--ca-dir";
            argv[i++] = (char *)ca;
        }
        (void)o;
        argv[i] = NULL;
        execvp(bin, argv);
        fprintf(stderr, "akrun: cannot run %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    p->private_pid = pid;
    for (long long end = mono_ms() + READY_TIMEOUT_MS; mono_ms() < end; sleep_ms(POLL_STEP_MS)) {
        FILE *f = fopen(ready, "re");
        if (f) {
            bool ok = fgets(p->addr, sizeof p->addr, f) != NULL;
            fclose(f);
            p->addr[strcspn(p->addr, "\n")] = '\0';
            if (ok && p->addr[0])
                return 0;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            p->private_pid = 0;
            return -1;
        }
    }
    return -1;
}

static int bundle_write(const char *path, const char *base, const char *ca)
{
    int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const char *src[2] = { base, ca };
    int rc = out >= 0 ? 0 : -1;
    char buf[65536];
    for (int i = 0; rc == 0 && i < 2; i++) {
        int in = src[i] ? open(src[i], O_RDONLY | O_CLOEXEC) : -1;
        ssize_t n;
        if (in < 0)
            continue;
        while (rc == 0 && (n = read(in, buf, sizeof buf)) > 0)
            rc = write(out, buf, (size_t)n) == n ? 0 : -1;
        if (rc == 0 && write(out, "\n", 1) != 1)
            rc = -1;
        close(in);
    }
    if (out >= 0 && close(out) != 0)
        rc = -1;
    return rc;
}

static int trust_set(const struct akrun_proxy *p)
{
    char ca[PATH_MAX + 16];
    snprintf(ca, sizeof ca, "%s/ca.pem", p->dir);
    for (size_t i = 0; i < sizeof trust_vars / sizeof trust_vars[0]; i++) {
        const char *cur = getenv(trust_vars[i]);
        const char *base = cur && *cur && access(cur, R_OK) == 0 ? cur : SYSTEM_BUNDLE;
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/%s.pem", p->dir, trust_vars[i]);
        if (bundle_write(path, access(base, R_OK) == 0 ? base : NULL, ca) != 0 ||
            setenv(trust_vars[i], path, 1) != 0) {
            fprintf(stderr, "akrun: cannot write %s: %s\n", path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* http://AGENT:@addr, the agent percent-encoded for the URL's user part */
static int proxy_env_set(const struct akrun_proxy *p, const char *agent)
{
    static const char hex[] = "0123456789ABCDEF";
    char url[3 * 256 + 160];
    size_t o = (size_t)snprintf(url, sizeof url, "http://");
    for (const unsigned char *a = (const unsigned char *)agent; *a && o + 4 < sizeof url - 140; a++) {
        if ((*a >= 'a' && *a <= 'z') || (*a >= 'A' && *a <= 'Z') || (*a >= '0' && *a <= '9') ||
            strchr("-._~", *a))
            url[o++] = (char)*a;
        else {
            url[o++] = '%';
            url[o++] = hex[*a >> 4];
            url[o++] = hex[*a & 15];
        }
    }
    /* "AGENT:@": an empty password, which Python requests needs to send the user at all */
    snprintf(url + o, sizeof url - o, ":@%s", p->addr);
    if (setenv("HTTPS_PROXY", url, 1) != 0 || setenv("https_proxy", url, 1) != 0)
        return -1;
    return 0;
}

/* The private proxy's last log line: why it did not start. */
static void log_last_line(const char *dir, char *out, size_t len)
{
    char path[PATH_MAX + 16], line[512];
    snprintf(path, sizeof path, "%s/akproxy.log", dir);
    snprintf(out, len, "no log");
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0])
            snprintf(out, len, "%s", line);
    }
    fclose(f);
}

int akrun_proxy_setup(const struct akrun_opts *o, struct akrun_proxy *p)
{
    char ca[PATH_MAX + 16];
    const char *tmp = getenv("TMPDIR");
    memset(p, 0, sizeof *p);
    snprintf(p->dir, sizeof p->dir, "%s/akrun.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(p->dir)) {
        fprintf(stderr, "akrun: cannot make a directory in %s: %s\n", tmp ? tmp : "/tmp", strerror(errno));
        p->dir[0] = '\0';
        return -1;
    }
    snprintf(ca, sizeof ca, "%s/ca.pem", p->dir);
    const char *env = getenv("AGENTKAVACH_PROXY");
    snprintf(p->addr, sizeof p->addr, "%s", o->proxy ? o->proxy : env && *env ? env : DEFAULT_PROXY);
    if (ca_fetch(p->addr, ca) != 0) {
        char tried[sizeof p->addr];
        snprintf(tried, sizeof tried, "%s", p->addr);
        if (proxy_start(p, o) != 0 || ca_fetch(p->addr, ca) != 0) {
            char why[512];
            log_last_line(p->dir, why, sizeof why);
            fprintf(stderr, "akrun: no akproxy answers at %s and a private one did not start "
                            "(%s): only programs on the system libssl are metered\n", tried, why);
            return -1;
        }
    }
    if (trust_set(p) != 0 || proxy_env_set(p, o->agent) != 0)
        return -1;
    return 0;
}

static void dir_remove(const char *dir)
{
    static const char *const files[] = { "ca.pem", "ready", "akproxy.log" };
    char path[PATH_MAX + 64];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    for (size_t i = 0; i < sizeof trust_vars / sizeof trust_vars[0]; i++) {
        snprintf(path, sizeof path, "%s/%s.pem", dir, trust_vars[i]);
        unlink(path);
    }
    rmdir(dir);
}

void akrun_proxy_stop(struct akrun_proxy *p)
{
    if (p->private_pid > 0) {
        kill(p->private_pid, SIGTERM);
        int st;
        long long end = mono_ms() + STOP_TIMEOUT_MS;
        while (waitpid(p->private_pid, &st, WNOHANG) == 0) {
            if (mono_ms() >= end) {
                kill(p->private_pid, SIGKILL);
                waitpid(p->private_pid, &st, 0);
                break;
            }
            sleep_ms(POLL_STEP_MS);
        }
        p->private_pid = 0;
    }
    if (p->dir[0])
        dir_remove(p->dir);
}
