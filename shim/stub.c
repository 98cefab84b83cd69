/*
 * stub.c - the hooks of libakshim.so, the object preloaded into every process.
 *
 * Each hook is thin: find the real function in the caller's scope (stub_sym.c), look the SSL*
 * up (stub_conn.c), and either call straight through (every connection that is not an LLM
 * host) or hand over to the LLM paths (stub_io.c). The stub needs nothing beyond libc, starts
 * no thread, opens no file and reads no config until a TLS connection appears; in secure-
 * execution mode (setuid) or with AGENTKAVACH_DISABLE=1 it is a pure pass-through.
 * Every wrapper fails soft: no real function found means -1 (or 0), never abort().
 */
#include "shim/stub.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#define RA() __builtin_return_address(0)

static struct {
    pthread_once_t once;
    bool disabled;
    int log_level;
} proc = { .once = PTHREAD_ONCE_INIT, .log_level = STUB_LOG_WARN };

static void proc_init(void)
{
    static const char *const levels[] = { "off", "error", "warn", "info", "debug" };
    const char *dis = getenv("AGENTKAVACH_DISABLE");
    proc.disabled = getauxval(AT_SECURE) != 0 || (dis && strcmp(dis, "1") == 0);
    const char *lv = getenv("AGENTKAVACH_LOG");
    for (int i = 0; lv && i < (int)(sizeof levels / sizeof levels[0]); i++)
        if (strcmp(lv, levels[i]) == 0)
            proc.log_level = i;
}

bool stub_disabled(void)
{
    pthread_once(&proc.once, proc_init);
    return proc.disabled;
}

/* The stub's own logger: the same line format as core/ak.c's, written again here because the
 * stub must not link anything beyond libc (core/ links OpenSSL for key fingerprints). */
void stub_log(int level, const char *fmt, ...)
{
    pthread_once(&proc.once, proc_init);
    if (level > proc.log_level)
        return;
    static const char *const tags[] = { "", "error", "warning", "info", "debug" };
    char line[512];
    int saved = errno;
    int n = snprintf(line, sizeof line, "agentkavach[%d]: %s: ", (int)getpid(), tags[level]);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    size_t l = strnlen(line, sizeof line - 2);
    line[l++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, l);
    (void)w;
    errno = saved;
}

/* An LLM connection that the stub handles itself; NULL means call straight through. */
static struct sconn *llm_conn(const SSL *s, const void *ra)
{
    struct sconn *c = stub_conn_get(s, ra, false);
    return (c && c->cls == CLS_LLM) ? c : NULL;
}

/* ---- data ---- */

typedef int (*io_fn)(SSL *, void *, int);
typedef int (*io_ex_fn)(SSL *, void *, size_t, size_t *);

STUB_API int SSL_write(SSL *s, const void *buf, int num)
{
    const void *ra = RA();
    io_fn real = (io_fn)stub_sym(SYM_SSL_WRITE, ra);
    if (!real)
        return -1;
    struct sconn *c = num > 0 ? llm_conn(s, ra) : NULL;
    if (!c)
        return real(s, (void *)buf, num);
    size_t w = 0;
    int r = stub_io_write(c, s, buf, (size_t)num, &w, ra, false);
    return r > 0 ? (int)w : r;
}

STUB_API int SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *written)
{
    const void *ra = RA();
    io_ex_fn real = (io_ex_fn)stub_sym(SYM_SSL_WRITE_EX, ra);
    if (!real)
        return 0;
    struct sconn *c = num > 0 ? llm_conn(s, ra) : NULL;
    if (!c)
        return real(s, (void *)buf, num, written);
    size_t w = 0;
    int r = stub_io_write(c, s, buf, num, &w, ra, true);
    if (r > 0 && written)
        *written = w;
    return r > 0 ? 1 : 0;
}

static int read_common(enum stub_sym sym, SSL *s, void *buf, int num, const void *ra, bool peek)
{
    io_fn real = (io_fn)stub_sym(sym, ra);
    if (!real)
        return -1;
    struct sconn *c = num > 0 ? llm_conn(s, ra) : NULL;
    if (!c)
        return real(s, buf, num);
    size_t got = 0;
    int r = stub_io_read(c, s, buf, (size_t)num, &got, ra, false, peek);
    return r > 0 ? (int)got : r;
}

static int read_ex_common(enum stub_sym sym, SSL *s, void *buf, size_t num, size_t *rb,
                          const void *ra, bool peek)
{
    io_ex_fn real = (io_ex_fn)stub_sym(sym, ra);
    if (!real)
        return 0;
    struct sconn *c = num > 0 ? llm_conn(s, ra) : NULL;
    if (!c)
        return real(s, buf, num, rb);
    size_t got = 0;
    int r = stub_io_read(c, s, buf, num, &got, ra, true, peek);
    if (r > 0 && rb)
        *rb = got;
    return r > 0 ? 1 : 0;
}

STUB_API int SSL_read(SSL *s, void *buf, int num)
{
    return read_common(SYM_SSL_READ, s, buf, num, RA(), false);
}

STUB_API int SSL_peek(SSL *s, void *buf, int num)
{
    return read_common(SYM_SSL_PEEK, s, buf, num, RA(), true);
}

STUB_API int SSL_read_ex(SSL *s, void *buf, size_t num, size_t *readbytes)
{
    return read_ex_common(SYM_SSL_READ_EX, s, buf, num, readbytes, RA(), false);
}

STUB_API int SSL_peek_ex(SSL *s, void *buf, size_t num, size_t *readbytes)
{
    return read_ex_common(SYM_SSL_PEEK_EX, s, buf, num, readbytes, RA(), true);
}

/* ---- handshake and lifecycle ---- */

typedef int (*ssl_fn)(SSL *);
typedef void (*ssl_void_fn)(SSL *);

static int handshake_common(enum stub_sym sym, SSL *s, const void *ra)
{
    ssl_fn real = (ssl_fn)stub_sym(sym, ra);
    if (!real)
        return -1;
    if (!stub_disabled() && s) {
        /* only a client calls SSL_connect, whatever SSL_is_server says before it runs */
        struct sconn *c = stub_conn_get(s, ra, sym == SYM_SSL_CONNECT);
        if (c && c->cls == CLS_LLM) {
            stub_conn_strip_h2(c, s, ra);
            stub_fd_enter(c);     /* the ClientHello's send names the socket */
            int r = real(s);
            stub_fd_leave();
            return r;
        }
    }
    return real(s);
}

STUB_API int SSL_connect(SSL *s)
{
    return handshake_common(SYM_SSL_CONNECT, s, RA());
}

STUB_API int SSL_do_handshake(SSL *s)
{
    return handshake_common(SYM_SSL_DO_HANDSHAKE, s, RA());
}

STUB_API int SSL_shutdown(SSL *s)
{
    const void *ra = RA();
    ssl_fn real = (ssl_fn)stub_sym(SYM_SSL_SHUTDOWN, ra);
    if (!real)
        return -1;
    if (s && stub_engine()) {
        struct sconn *c = stub_conn_find(s);
        if (c && c->cls == CLS_LLM && c->ec && !c->dead)
            stub_engine()->on_eof(c->ec);
    }
    return real(s);
}

STUB_API void SSL_free(SSL *s)
{
    const void *ra = RA();
    ssl_void_fn real = (ssl_void_fn)stub_sym(SYM_SSL_FREE, ra);
    if (s)
        stub_conn_drop(s);
    if (real)
        real(s);
}

STUB_API int SSL_clear(SSL *s)
{
    const void *ra = RA();
    ssl_fn real = (ssl_fn)stub_sym(SYM_SSL_CLEAR, ra);
    /* libssl itself calls SSL_clear when a handshake starts: only an SSL that already carried
     * data is being reused for a new connection */
    struct sconn *c = s ? stub_conn_find(s) : NULL;
    if (c && c->used)
        stub_conn_drop(s);
    return real ? real(s) : 0;
}

/* ---- queries kept consistent with what the shim served ---- */

typedef int (*ssl_const_fn)(const SSL *);
typedef int (*get_error_fn)(const SSL *, int);

STUB_API int SSL_pending(const SSL *s)
{
    const void *ra = RA();
    ssl_const_fn real = (ssl_const_fn)stub_sym(SYM_SSL_PENDING, ra);
    if (stub_conn_any_special() && s) {
        struct sconn *c = stub_conn_find(s);
        if (c && c->in_len > c->in_off)
            return (int)(c->in_len - c->in_off > INT_MAX ? INT_MAX : c->in_len - c->in_off);
        if (c && c->dead)
            return 0;
    }
    return real ? real(s) : 0;
}

STUB_API int SSL_has_pending(const SSL *s)
{
    const void *ra = RA();
    ssl_const_fn real = (ssl_const_fn)stub_sym(SYM_SSL_HAS_PENDING, ra);
    if (stub_conn_any_special() && s) {
        struct sconn *c = stub_conn_find(s);
        if (c && c->in_len > c->in_off)
            return 1;
        if (c && c->dead)
            return 0;
    }
    return real ? real(s) : 0;
}

STUB_API int SSL_get_error(const SSL *s, int ret)
{
    const void *ra = RA();
    get_error_fn real = (get_error_fn)stub_sym(SYM_SSL_GET_ERROR, ra);
    if (stub_conn_any_special() && s && ret <= 0) {
        struct sconn *c = stub_conn_find(s);
        if (c && c->err_override)
            return c->err_override;
    }
    return real ? real(s, ret) : SSL_ERROR_SSL;
}

STUB_API int SSL_get_shutdown(const SSL *s)
{
    const void *ra = RA();
    ssl_const_fn real = (ssl_const_fn)stub_sym(SYM_SSL_GET_SHUTDOWN, ra);
    int bits = real ? real(s) : 0;
    if (stub_conn_any_special() && s) {
        struct sconn *c = stub_conn_find(s);
        if (c)
            bits |= c->shutdown_bits;
    }
    return bits;
}

/* ---- ALPN offers, remembered so that LLM connections can be held to HTTP/1.1 ---- */

typedef int (*ctx_alpn_fn)(SSL_CTX *, const unsigned char *, unsigned int);
typedef int (*ssl_alpn_fn)(SSL *, const unsigned char *, unsigned int);

STUB_API int SSL_CTX_set_alpn_protos(SSL_CTX *ctx, const unsigned char *protos, unsigned int len)
{
    const void *ra = RA();
    ctx_alpn_fn real = (ctx_alpn_fn)stub_sym(SYM_SSL_CTX_SET_ALPN, ra);
    if (!real)
        return 1;                 /* OpenSSL's failure value for this function */
    if (!stub_disabled())
        stub_alpn_note_ctx(ctx, protos, len);
    return real(ctx, protos, len);
}

STUB_API int SSL_set_alpn_protos(SSL *s, const unsigned char *protos, unsigned int len)
{
    const void *ra = RA();
    ssl_alpn_fn real = (ssl_alpn_fn)stub_sym(SYM_SSL_SET_ALPN, ra);
    if (!real)
        return 1;
    if (!stub_disabled() && s) {
        struct sconn *c = stub_conn_get(s, ra, false);
        if (c)
            c->alpn_h2 = stub_alpn_has_h2(protos, len);
    }
    return real(s, protos, len);
}
