/*
 * stub_io.c - the write and read paths of an LLM connection.
 *
 * Write: every byte goes to the engine first. HOLD reports the bytes written and sends nothing
 * (the request is held until it is complete and decided); SEND flushes the engine's buffer with
 * the real write, honouring WANT_WRITE retries (the app's retry resumes the flush with the same
 * pointer and length, as OpenSSL's retry rule requires); REFUSE drops the request, arms the
 * synthetic response and wakes the client from the network side: a real close_notify, then
 * shutdown(fd, SHUT_RD) when the SSL has a socket (refusal-experiments.md section 7).
 *
 * Read: synthetic or transformed bytes are served first; after a synthetic response the reads
 * return WANT_READ once, then a clean EOF with SSL_get_shutdown agreeing (asyncio drops bytes on
 * an inconsistent EOF). Otherwise the real read runs and the engine sees what it returned.
 */
#include "shim/stub.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

typedef int (*io_fn)(SSL *, void *, int);
typedef int (*io_ex_fn)(SSL *, void *, size_t, size_t *);
typedef int (*ssl_fn)(SSL *);
typedef int (*ssl_const_fn)(const SSL *);
typedef int (*get_error_fn)(const SSL *, int);

#define IN_MIN_CAP 4096

/* One real call; > 0: bytes moved; <= 0: the failure code to give the app. */
static long real_io(enum stub_sym plain, enum stub_sym ex_sym, SSL *s, void *p, size_t n,
                    const void *ra, bool ex)
{
    if (ex) {
        io_ex_fn fn = (io_ex_fn)stub_sym(ex_sym, ra);
        size_t moved = 0;
        if (!fn)
            return 0;
        return fn(s, p, n, &moved) == 1 ? (long)moved : 0;
    }
    io_fn fn = (io_fn)stub_sym(plain, ra);
    if (!fn)
        return -1;
    return fn(s, p, n > INT_MAX ? INT_MAX : (int)n);
}

/* The real calls run with the thread marked as inside this connection (stub_fd.c). */
static long real_write(struct sconn *c, SSL *s, const void *p, size_t n, const void *ra, bool ex)
{
    stub_fd_enter(c);
    long r = real_io(SYM_SSL_WRITE, SYM_SSL_WRITE_EX, s, (void *)p, n, ra, ex);
    stub_fd_leave();
    return r;
}

static long real_read(struct sconn *c, SSL *s, void *p, size_t n, const void *ra, bool ex, bool peek)
{
    stub_fd_enter(c);
    long r = peek ? real_io(SYM_SSL_PEEK, SYM_SSL_PEEK_EX, s, p, n, ra, ex)
                  : real_io(SYM_SSL_READ, SYM_SSL_READ_EX, s, p, n, ra, ex);
    stub_fd_leave();
    return r;
}

static int done(size_t n, size_t *count)
{
    *count = n;
    return 1;
}

/* ---- synthetic bytes ---- */

/* Like core/buf.c's ak_buf_append, which the libc-only stub cannot link. */
static bool in_append(struct sconn *c, const unsigned char *p, size_t n)
{
    if (c->in_off == c->in_len)
        c->in_off = c->in_len = 0;
    if (c->in_len + n > c->in_cap) {
        size_t cap = c->in_cap ? c->in_cap : IN_MIN_CAP;
        while (cap < c->in_len + n)
            cap *= 2;
        unsigned char *d = realloc(c->in, cap);
        if (!d)
            return false;
        c->in = d;
        c->in_cap = cap;
    }
    memcpy(c->in + c->in_len, p, n);
    c->in_len += n;
    stub_conn_mark_special(c);
    return true;
}

static int in_serve(struct sconn *c, void *buf, size_t len, size_t *got, bool peek)
{
    size_t n = c->in_len - c->in_off;
    if (n > len)
        n = len;
    memcpy(buf, c->in + c->in_off, n);
    if (!peek)
        c->in_off += n;
    return done(n, got);
}

/* After the last synthetic byte: WANT_READ once, then EOF that SSL_get_shutdown agrees with. */
static int after_synthetic(struct sconn *c, bool ex)
{
    stub_conn_mark_special(c);
    if (c->after_fake == 0) {
        c->after_fake = 1;
        c->err_override = SSL_ERROR_WANT_READ;
        return ex ? 0 : -1;
    }
    c->after_fake = 2;
    c->err_override = SSL_ERROR_ZERO_RETURN;
    c->shutdown_bits |= SSL_RECEIVED_SHUTDOWN;
    return 0;
}

/* ---- waking the client ---- */

static void send_close_notify(struct sconn *c, SSL *s, const void *ra)
{
    ssl_fn sd = (ssl_fn)stub_sym(SYM_SSL_SHUTDOWN, ra);
    c->shutdown_pending = !sd || sd(s) < 0;
}

/* SHUT_RD on the SSL's socket. The fd is read now, not cached, so it cannot be stale; it must
 * still be a socket (a memory BIO gives -1). Nothing is sent to the server by SHUT_RD; the
 * kernel wakes every poll/epoll waiter and the socket reads as EOF. */
static void shut_read_side(struct sconn *c, SSL *s, const void *ra)
{
    int fd = stub_fd_socket(c, s, ra);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
        shutdown(fd, SHUT_RD);
    else
        stub_log(STUB_LOG_DEBUG, "no socket known for a refused connection: close_notify only");
}

static void conn_kill(struct sconn *c, SSL *s, const void *ra)
{
    c->dead = true;
    stub_conn_mark_special(c);
    send_close_notify(c, s, ra);
    shut_read_side(c, s, ra);
}

/* ---- write ---- */

static int flush(struct sconn *c, SSL *s, size_t app_len, size_t *written, const void *ra, bool ex)
{
    while (c->out_off < c->out_len) {
        long r = real_write(c, s, c->out + c->out_off, c->out_len - c->out_off, ra, ex);
        if (r <= 0) {
            c->flushing = true;   /* the app will retry its write; we resume here */
            return (int)r;
        }
        c->out_off += (size_t)r;
    }
    c->flushing = false;
    c->out = NULL;
    c->out_len = c->out_off = 0;
    stub_engine()->on_sent(c->ec);
    return done(app_len, written);
}

/* Node and others write the request before the handshake has finished: finish it first, so
 * that a refusal can send close_notify (refusal-experiments.md 3.2, "handshake gate"). */
static int handshake_gate(struct sconn *c, SSL *s, const void *ra)
{
    ssl_const_fn finished = (ssl_const_fn)stub_sym(SYM_SSL_IS_INIT_FINISHED, ra);
    if (!finished || finished(s))
        return 1;
    ssl_fn hs = (ssl_fn)stub_sym(SYM_SSL_DO_HANDSHAKE, ra);
    stub_fd_enter(c);
    int r = hs ? hs(s) : 1;
    stub_fd_leave();
    return r;
}

int stub_io_write(struct sconn *c, SSL *s, const void *buf, size_t len, size_t *written,
                  const void *ra, bool ex)
{
    const struct ak_engine_api *e = stub_engine();
    c->used = true;
    if (c->dead) {
        if (c->shutdown_pending)
            send_close_notify(c, s, ra);
        return done(len, written);    /* a refused connection swallows everything */
    }
    c->err_override = 0;
    if (c->flushing)
        return flush(c, s, len, written, ra, ex);
    if (c->fail_closed) {         /* no engine and on_error: closed: as AK_WR_KILL */
        conn_kill(c, s, ra);
        c->after_fake = 2;
        c->err_override = SSL_ERROR_SSL;
        return ex ? 0 : -1;
    }
    if (!e || !c->ec) {
        long r = real_write(c, s, buf, len, ra, ex);
        return r > 0 ? done((size_t)r, written) : (int)r;
    }
    int hs = handshake_gate(c, s, ra);
    if (hs <= 0)
        return ex ? 0 : hs;

    struct ak_wr_result res = { 0 };
    e->on_write(c->ec, buf, len, &res);
    switch (res.action) {
    case AK_WR_HOLD:
        return done(len, written);
    case AK_WR_SEND:
        c->out = res.out;
        c->out_len = res.out_len;
        c->out_off = 0;
        return flush(c, s, len, written, ra, ex);
    case AK_WR_REFUSE:
        if (!in_append(c, res.out, res.out_len))
            stub_log(STUB_LOG_ERROR, "out of memory for a refusal; the connection is closed");
        conn_kill(c, s, ra);
        return done(len, written);
    case AK_WR_KILL:
        conn_kill(c, s, ra);
        c->after_fake = 2;
        c->err_override = SSL_ERROR_SSL;
        return ex ? 0 : -1;
    case AK_WR_PASS:
        break;
    }
    long r = real_write(c, s, buf, len, ra, ex);
    return r > 0 ? done((size_t)r, written) : (int)r;
}

/* ---- read ---- */

static void note_read_failure(struct sconn *c, SSL *s, long r, const void *ra)
{
    get_error_fn ge = (get_error_fn)stub_sym(SYM_SSL_GET_ERROR, ra);
    int err = ge ? ge(s, (int)r) : SSL_ERROR_SSL;
    if (err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL || err == SSL_ERROR_SSL)
        stub_engine()->on_eof(c->ec);
}

int stub_io_read(struct sconn *c, SSL *s, void *buf, size_t len, size_t *got,
                 const void *ra, bool ex, bool peek)
{
    const struct ak_engine_api *e = stub_engine();
    c->used = true;
    if (c->in_len > c->in_off)
        return in_serve(c, buf, len, got, peek);
    if (c->dead)
        return after_synthetic(c, ex);
    c->err_override = 0;
    if (!e || !c->ec || peek) {
        long r = real_read(c, s, buf, len, ra, ex, peek);
        return r > 0 ? done((size_t)r, got) : (int)r;
    }
    for (;;) {
        long r = real_read(c, s, buf, len, ra, ex, false);
        if (r <= 0) {
            note_read_failure(c, s, r, ra);
            return (int)r;
        }
        struct ak_rd_result res = { 0 };
        e->on_read(c->ec, buf, (size_t)r, &res);
        switch (res.action) {
        case AK_RD_PASS:
            return done((size_t)r, got);
        case AK_RD_REPLACE:
            if (res.out_len && !in_append(c, res.out, res.out_len)) {
                conn_kill(c, s, ra);
                c->after_fake = 1;
                return after_synthetic(c, ex);
            }
            if (c->in_len > c->in_off)
                return in_serve(c, buf, len, got, false);
            continue;             /* nothing for the app yet: read on */
        case AK_RD_CUT:
            conn_kill(c, s, ra);
            c->after_fake = 1;    /* straight to EOF */
            return after_synthetic(c, ex);
        }
    }
}
