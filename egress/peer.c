/*
 * peer.c - which process is on the other end of a loopback connection (see peer.h).
 *
 * /proc/net/tcp{,6} lists every TCP socket of the network namespace with its owner uid and
 * inode; the client's socket is the one whose local address is the client's and whose remote
 * address is akproxy's. The uid comes from the kernel, so it cannot be claimed falsely. The
 * process is then found by scanning /proc/PID/fd for "socket:[inode]" (a cost paid once per
 * tunnel, not per call); a non-root akproxy only sees its own user's processes there, and
 * then knows the uid but not the pid.
 */
#include "egress/peer.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/ak.h"

#define LINE_MAX_LEN 512
#define FD_LINK_MAX 64
#define STAT_MAX 1024
#define ENVIRON_MAX (256 * 1024)  /* more than any environment a shell would pass */
#define STAT_STARTTIME_FIELD 22   /* proc(5): starttime, in clock ticks after boot */

struct endpoint {
    int family;
    unsigned char addr[16];
    unsigned port;
};

static void endpoint_of(const struct sockaddr *sa, struct endpoint *e)
{
    memset(e, 0, sizeof *e);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        e->family = AF_INET;
        memcpy(e->addr, &in->sin_addr, 4);
        e->port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        e->family = AF_INET6;
        memcpy(e->addr, &in6->sin6_addr, 16);
        e->port = ntohs(in6->sin6_port);
    }
}

/* The kernel prints each 32-bit word of the address in host order ("%08X"). */
static bool parse_hex_addr(const char *s, struct endpoint *e, int family)
{
    size_t words = family == AF_INET ? 1 : 4;
    memset(e, 0, sizeof *e);
    e->family = family;
    for (size_t i = 0; i < words; i++) {
        char w[9];
        memcpy(w, s + 8 * i, 8);
        w[8] = '\0';
        uint32_t v = (uint32_t)strtoul(w, NULL, 16);
        memcpy(e->addr + 4 * i, &v, 4);
    }
    const char *colon = s + 8 * words;
    if (*colon != ':')
        return false;
    e->port = (unsigned)strtoul(colon + 1, NULL, 16);
    return true;
}

static bool endpoint_eq(const struct endpoint *a, const struct endpoint *b)
{
    size_t n = a->family == AF_INET ? 4 : 16;
    return a->family == b->family && a->port == b->port && memcmp(a->addr, b->addr, n) == 0;
}

static bool scan_table(const char *path, int family, const struct endpoint *cli,
                       const struct endpoint *loc, unsigned *uid, unsigned long *inode)
{
    FILE *f = fopen(path, "re");
    char line[LINE_MAX_LEN];
    bool found = false;
    if (!f)
        return false;
    if (!fgets(line, sizeof line, f)) {      /* the header */
        fclose(f);
        return false;
    }
    while (!found && fgets(line, sizeof line, f)) {
        char la[40], ra[40];
        unsigned st, u;
        unsigned long ino;
        if (sscanf(line, " %*u: %39s %39s %x %*s %*s %*s %u %*d %lu", la, ra, &st, &u, &ino) != 5)
            continue;
        struct endpoint l, r;
        if (!parse_hex_addr(la, &l, family) || !parse_hex_addr(ra, &r, family))
            continue;
        if (endpoint_eq(&l, cli) && endpoint_eq(&r, loc)) {
            *uid = u;
            *inode = ino;
            found = true;
        }
    }
    fclose(f);
    return found;
}

/* v4 endpoints of a dual-stack socket appear in tcp6 as ::ffff:a.b.c.d */
static void mapped_v6(const struct endpoint *v4, struct endpoint *v6)
{
    memset(v6, 0, sizeof *v6);
    v6->family = AF_INET6;
    v6->addr[10] = v6->addr[11] = 0xff;
    memcpy(v6->addr + 12, v4->addr, 4);
    v6->port = v4->port;
}

static bool pid_has_inode(const char *pid, const char *want)
{
    char dir[300], path[600], link[FD_LINK_MAX];
    snprintf(dir, sizeof dir, "/proc/%s/fd", pid);
    DIR *d = opendir(dir);
    bool found = false;
    if (!d)
        return false;
    for (struct dirent *e; !found && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n > 0) {
            link[n] = '\0';
            found = strcmp(link, want) == 0;
        }
    }
    closedir(d);
    return found;
}

static int pid_of_inode(unsigned long inode)
{
    char want[FD_LINK_MAX];
    snprintf(want, sizeof want, "socket:[%lu]", inode);
    DIR *d = opendir("/proc");
    int pid = 0;
    if (!d)
        return 0;
    int self = (int)getpid();
    for (struct dirent *e; !pid && (e = readdir(d));) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        int p = atoi(e->d_name);
        if (p != self && pid_has_inode(e->d_name, want))
            pid = p;
    }
    closedir(d);
    return pid;
}

/* When the process started, on the clock the engine uses (ak_now_ms, which tests pin): now
 * minus the process's age from /proc/uptime and its start tick. */
static long long start_ms_of(int pid)
{
    char path[64], buf[STAT_MAX];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ak_now_ms();
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return ak_now_ms();
    buf[n] = '\0';
    char *p = strrchr(buf, ')');             /* the comm field may hold spaces */
    unsigned long long ticks = 0;
    for (int field = 2; p && field < STAT_STARTTIME_FIELD; field++)
        p = strchr(p + 1, ' ');
    if (p)
        ticks = strtoull(p + 1, NULL, 10);
    double up = 0;
    FILE *f = fopen("/proc/uptime", "re");
    if (f) {
        if (fscanf(f, "%lf", &up) != 1)
            up = 0;
        fclose(f);
    }
    long hz = sysconf(_SC_CLK_TCK);
    double age_s = up - (double)ticks / (double)(hz > 0 ? hz : 100);
    return ak_now_ms() - (long long)(age_s > 0 ? age_s * AK_MS_PER_S : 0);
}

bool peer_find(const struct sockaddr *client, const struct sockaddr *local, struct ak_peer *who)
{
    struct endpoint cli, loc;
    unsigned uid = 0;
    unsigned long inode = 0;
    endpoint_of(client, &cli);
    endpoint_of(local, &loc);
    bool found = false;
    if (cli.family == AF_INET) {
        found = scan_table("/proc/net/tcp", AF_INET, &cli, &loc, &uid, &inode);
        if (!found) {
            struct endpoint c6, l6;
            mapped_v6(&cli, &c6);
            mapped_v6(&loc, &l6);
            found = scan_table("/proc/net/tcp6", AF_INET6, &c6, &l6, &uid, &inode);
        }
    } else if (cli.family == AF_INET6) {
        found = scan_table("/proc/net/tcp6", AF_INET6, &cli, &loc, &uid, &inode);
    }
    if (!found)
        return false;
    who->uid = uid;
    who->pid = inode ? pid_of_inode(inode) : 0;
    who->start_ms = who->pid ? start_ms_of(who->pid) : ak_now_ms();
    return true;
}

bool peer_shim_meters(int pid)
{
    char path[64], line[LINE_MAX_LEN];
    bool shim = false, libssl = false;
    if (pid <= 0)
        return false;
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    while ((!shim || !libssl) && fgets(line, sizeof line, f)) {
        shim = shim || strstr(line, "/libakshim.so") != NULL;
        libssl = libssl || strstr(line, "/libssl.so") != NULL;
    }
    fclose(f);
    return shim && libssl;
}

bool peer_env_agent(int pid, char *agent, size_t len)
{
    static const char key[] = "AGENTKAVACH_AGENT=";
    char path[64];
    bool found = false;
    if (pid <= 0)
        return false;
    snprintf(path, sizeof path, "/proc/%d/environ", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *buf = fd >= 0 ? malloc(ENVIRON_MAX) : NULL;
    size_t n = 0;
    ssize_t r;
    while (buf && n < ENVIRON_MAX - 1 && (r = read(fd, buf + n, ENVIRON_MAX - 1 - n)) > 0)
        n += (size_t)r;
    for (size_t i = 0; buf && i < n && !found; i += strnlen(buf + i, n - i) + 1) {
        size_t l = strnlen(buf + i, n - i);
        if (l > sizeof key - 1 && l - (sizeof key - 1) < len &&
            memcmp(buf + i, key, sizeof key - 1) == 0) {
            memcpy(agent, buf + i + sizeof key - 1, l - (sizeof key - 1));
            agent[l - (sizeof key - 1)] = '\0';
            found = agent[0] != '\0';
        }
    }
    free(buf);
    if (fd >= 0)
        close(fd);
    return found;
}
