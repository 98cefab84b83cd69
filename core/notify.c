/*
 * notify.c - the shim's poke to akcollector (see notify.h).
 *
 * The socket is created once per process and cached. Its owner pid is kept with it so that
 * a forked child never shares its parent's socket: the child sees a foreign pid, drops the
 * inherited descriptor and makes its own. The pair (pid, fd) lives in one 64-bit word that
 * is read and replaced atomically, so threads racing on the first poke cost at most one
 * extra socket, which the loser closes. libc only; nothing here logs.
 */
#include "core/notify.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define NOTIFY_BYTE '!'

/* (pid << 32) | fd; 0 = no socket yet (fd 0 is never ours: stdin) */
static uint64_t notify_slot;

static uint64_t slot_pack(pid_t pid, int fd) { return ((uint64_t)(uint32_t)pid << 32) | (uint32_t)fd; }
static pid_t slot_pid(uint64_t s) { return (pid_t)(uint32_t)(s >> 32); }
static int slot_fd(uint64_t s) { return (int)(uint32_t)(s & 0xffffffffu); }

bool ak_notify_socket_path(const char *state_dir, const char *configured, char *out, size_t len)
{
    struct sockaddr_un sa;
    size_t max = len < sizeof sa.sun_path ? len : sizeof sa.sun_path;
    int n;
    if (configured && *configured)
        n = snprintf(out, max, "%s", configured);
    else if (state_dir && *state_dir)
        n = snprintf(out, max, "%s/%s", state_dir, AK_NOTIFY_SOCK_NAME);
    else
        return false;
    return n > 0 && (size_t)n < max;
}

/* This process's socket, made on first use; -1 when none can be made. */
static int notify_fd(void)
{
    pid_t me = getpid();
    uint64_t cur = __atomic_load_n(&notify_slot, __ATOMIC_ACQUIRE);
    if (cur && slot_pid(cur) == me)
        return slot_fd(cur);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd <= 0) {
        if (fd == 0)
            close(fd);
        return -1;
    }
    uint64_t want = slot_pack(me, fd);
    if (__atomic_compare_exchange_n(&notify_slot, &cur, want, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        if (cur)  /* inherited from the parent: not ours to keep */
            close(slot_fd(cur));
        return fd;
    }
    close(fd);    /* another thread won the race; use its socket */
    return slot_pid(cur) == me ? slot_fd(cur) : -1;
}

void ak_notify_collector_at(const char *sock_path)
{
    struct sockaddr_un sa;
    if (!sock_path || !*sock_path)
        return;
    size_t n = strlen(sock_path);
    if (n >= sizeof sa.sun_path)
        return;
    int saved = errno;
    int fd = notify_fd();
    if (fd >= 0) {
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        memcpy(sa.sun_path, sock_path, n + 1);
        static const char byte = NOTIFY_BYTE;
        ssize_t w = sendto(fd, &byte, 1, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa,
                           (socklen_t)sizeof sa);
        (void)w; /* dropped silently: the collector's sweep catches up */
    }
    errno = saved;
}

void ak_notify_collector(const char *state_dir)
{
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    if (ak_notify_socket_path(state_dir, NULL, path, sizeof path))
        ak_notify_collector_at(path);
}
