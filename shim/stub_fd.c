/*
 * stub_fd.c - finds the socket behind an LLM connection whose BIO hides it, so that a refusal
 * can shutdown(fd, SHUT_RD) and wake a client that waits for readability
 * (refusal-experiments.md: SSL_get_fd is -1 for curl's filter BIO, asyncio's MemoryBIO and
 * Node's NodeBIO, and without the fd those clients hang on a kept-alive connection).
 *
 * Two ways, both only for LLM connections whose fd is still unknown, so every other process
 * and connection pays one thread-local load per send:
 *  - nested: curl's BIO sends inside SSL_write/SSL_read; the send family sees the thread's
 *    current SSL (stub_fd_enter) and binds the fd it writes to;
 *  - fingerprint: memory BIOs are flushed by the app after the SSL call returns; BIO_write
 *    (called by libssl while it encrypts) keeps the last bytes of each record, and the send
 *    family binds the fd whose outgoing buffer contains them.
 * A bound fd is re-validated (same device and inode, still a socket) before it is used: fds
 * are reused by later connections (Ruby frees old SSLs late).
 */
#include "shim/stub.h"

#include <dlfcn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define FP_LEN 16                 /* bytes of ciphertext kept per fingerprint */
#define FP_SLOTS 32               /* fingerprints kept at once (a ring) */

struct fingerprint {
    const SSL *ssl;
    unsigned char tail[FP_LEN];
};

static struct {
    pthread_mutex_t lock;
    struct fingerprint fp[FP_SLOTS];
    unsigned next;
    _Atomic int live;             /* > 0: sends must be scanned */
    _Atomic(void *) real[5];      /* write, writev, send, sendto, sendmsg */
} fds = { .lock = PTHREAD_MUTEX_INITIALIZER };

static __thread struct sconn *current __attribute__((tls_model("initial-exec")));  /* the LLM conn this thread is inside, fd unknown */

enum { R_WRITE, R_WRITEV, R_SEND, R_SENDTO, R_SENDMSG };
static const char *const real_names[] = { "write", "writev", "send", "sendto", "sendmsg" };

static STUB_NOINLINE void *real_fn(int which)
{
    void *fn = atomic_load(&fds.real[which]);
    if (!fn) {
        fn = dlsym(RTLD_NEXT, real_names[which]);
        atomic_store(&fds.real[which], fn);
    }
    return fn;
}

void stub_fd_enter(struct sconn *c)
{
    if (c && !c->fd_known)
        current = c;
}

void stub_fd_leave(void)
{
    current = NULL;
}

/* A TCP socket (the only kind a provider connection can be; a unix socket written to in the
 * same call, a log pipe or a file never is). */
static bool is_tcp_socket(int fd)
{
    int type = 0;
    socklen_t tl = sizeof type;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM &&
           getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
           (ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
}

static void bind_fd(struct sconn *c, int fd)
{
    struct stat st;
    if (c->fd_known || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode) || !is_tcp_socket(fd))
        return;
    c->fd = fd;
    c->fd_dev = st.st_dev;
    c->fd_ino = st.st_ino;
    c->fd_known = true;
    stub_log(STUB_LOG_DEBUG, "LLM connection bound to fd %d", fd);
    stub_fd_forget(c->ssl);       /* its fingerprints are no longer needed: sends stop scanning */
}

static void fp_add(const SSL *s, const unsigned char *data, size_t len)
{
    if (len < FP_LEN)
        return;
    pthread_mutex_lock(&fds.lock);
    struct fingerprint *f = &fds.fp[fds.next++ % FP_SLOTS];
    if (!f->ssl)
        atomic_fetch_add(&fds.live, 1);
    f->ssl = s;
    memcpy(f->tail, data + len - FP_LEN, FP_LEN);
    pthread_mutex_unlock(&fds.lock);
}

/* Drops every fingerprint of s (its fd is known now, or it is gone). */
static void fp_drop_locked(const SSL *s)
{
    for (int i = 0; i < FP_SLOTS; i++)
        if (fds.fp[i].ssl == s) {
            fds.fp[i].ssl = NULL;
            atomic_fetch_sub(&fds.live, 1);
        }
}

/* In a forked child: the lock may have been held by a thread that does not exist there (the
 * fingerprints stay: a child may go on with an inherited connection; a half-written slot
 * can only miss, and a bound fd is re-validated before use). */
void stub_fd_atfork_child(void)
{
    pthread_mutex_init(&fds.lock, NULL);
}

void stub_fd_forget(const SSL *s)
{
    if (current && current->ssl == s)
        current = NULL;           /* freed from inside a call on it (SSL_free in a callback) */
    if (atomic_load(&fds.live) == 0)
        return;
    pthread_mutex_lock(&fds.lock);
    fp_drop_locked(s);
    pthread_mutex_unlock(&fds.lock);
}

/* Which fingerprinted SSL (if any) this outgoing buffer belongs to. Runs in every write and
 * send, which a signal handler may call while this thread holds the lock (in fp_add, say):
 * it never waits for the lock; a send it skips is matched by a later one. */
static const SSL *fp_match(const void *buf, size_t len)
{
    const SSL *hit = NULL;
    if (pthread_mutex_trylock(&fds.lock) != 0)
        return NULL;
    for (int i = 0; i < FP_SLOTS && !hit; i++)
        if (fds.fp[i].ssl && memmem(buf, len, fds.fp[i].tail, FP_LEN))
            hit = fds.fp[i].ssl;
    if (hit)
        fp_drop_locked(hit);
    pthread_mutex_unlock(&fds.lock);
    return hit;
}

static void on_send(int fd, const void *buf, size_t len)
{
    if (current) {
        bind_fd(current, fd);
        return;
    }
    if (atomic_load_explicit(&fds.live, memory_order_relaxed) == 0 || !buf || len < FP_LEN)
        return;
    const SSL *s = fp_match(buf, len);
    struct sconn *c = s ? stub_conn_find(s) : NULL;
    if (c)
        bind_fd(c, fd);
}

int stub_fd_socket(struct sconn *c, SSL *s, const void *ra)
{
    typedef int (*getfd_fn)(const SSL *);
    getfd_fn getfd = (getfd_fn)stub_sym(SYM_SSL_GET_FD, ra);
    int fd = getfd ? getfd(s) : -1;
    struct stat st;
    if (fd >= 0)
        return fd;
    if (!c->fd_known || fstat(c->fd, &st) != 0 || !S_ISSOCK(st.st_mode) ||
        st.st_dev != c->fd_dev || st.st_ino != c->fd_ino)
        return -1;
    return c->fd;
}

/* ---- hooks ---- */

typedef int (*bio_write_fn)(BIO *, const void *, int);

STUB_API int BIO_write(BIO *b, const void *data, int dlen)
{
    bio_write_fn real = (bio_write_fn)stub_sym(SYM_BIO_WRITE, __builtin_return_address(0));
    if (!real)
        return -1;
    struct sconn *c = current;
    if (c && !c->fd_known && dlen > 0)
        fp_add(c->ssl, data, (size_t)dlen);
    return real(b, data, dlen);
}

STUB_API ssize_t write(int fd, const void *buf, size_t n)
{
    ssize_t (*real)(int, const void *, size_t) = real_fn(R_WRITE);
    on_send(fd, buf, n);
    return real ? real(fd, buf, n) : -1;
}

STUB_API ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    ssize_t (*real)(int, const void *, size_t, int) = real_fn(R_SEND);
    on_send(fd, buf, n);
    return real ? real(fd, buf, n, flags) : -1;
}

STUB_API ssize_t sendto(int fd, const void *buf, size_t n, int flags,
                        const struct sockaddr *addr, socklen_t alen)
{
    ssize_t (*real)(int, const void *, size_t, int, const struct sockaddr *, socklen_t) = real_fn(R_SENDTO);
    on_send(fd, buf, n);
    return real ? real(fd, buf, n, flags, addr, alen) : -1;
}

STUB_API ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    ssize_t (*real)(int, const struct iovec *, int) = real_fn(R_WRITEV);
    for (int i = 0; iov && i < cnt && (current || atomic_load(&fds.live)); i++)
        on_send(fd, iov[i].iov_base, iov[i].iov_len);
    return real ? real(fd, iov, cnt) : -1;
}

STUB_API ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    ssize_t (*real)(int, const struct msghdr *, int) = real_fn(R_SENDMSG);
    for (size_t i = 0; msg && i < msg->msg_iovlen && (current || atomic_load(&fds.live)); i++)
        on_send(fd, msg->msg_iov[i].iov_base, msg->msg_iov[i].iov_len);
    return real ? real(fd, msg, flags) : -1;
}
