/*
 * stub.h - internals shared by the files of the preloaded stub (libakshim.so).
 * The stub needs nothing beyond libc: OpenSSL is reached only through real-symbol look-ups
 * in the caller's scope (stub_sym.c), the engine only through engine_api.h (stub_engine.c).
 * Everything the stub keeps lives in one context struct, `stub`, defined in stub_conn.c.
 */
#ifndef AK_STUB_H
#define AK_STUB_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "engine/engine_api.h"

#define STUB_API __attribute__((visibility("default")))
#define STUB_NOINLINE __attribute__((noinline))

/* ---- real OpenSSL functions, resolved in the caller's scope (stub_sym.c) ---- */
enum stub_sym {
    SYM_SSL_WRITE = 0, SYM_SSL_WRITE_EX, SYM_SSL_READ, SYM_SSL_READ_EX, SYM_SSL_PEEK,
    SYM_SSL_PEEK_EX, SYM_SSL_CONNECT, SYM_SSL_DO_HANDSHAKE, SYM_SSL_SHUTDOWN, SYM_SSL_FREE,
    SYM_SSL_CLEAR, SYM_SSL_PENDING, SYM_SSL_HAS_PENDING, SYM_SSL_GET_ERROR, SYM_SSL_GET_SHUTDOWN,
    SYM_SSL_CTX_SET_ALPN, SYM_SSL_SET_ALPN,
    /* used internally */
    SYM_SSL_GET_SERVERNAME, SYM_SSL_GET_FD, SYM_SSL_IS_INIT_FINISHED, SYM_SSL_IN_BEFORE,
    SYM_SSL_IS_SERVER, SYM_SSL_GET_SSL_CTX,
    SYM_BIO_WRITE,
    SYM_COUNT
};

/* The real function `sym` as seen from the code at return address `ra`; NULL if none. */
void *stub_sym(enum stub_sym sym, const void *ra);
void stub_sym_atfork_child(void);

/* ---- per-SSL state (stub_conn.c) ---- */
enum stub_class { CLS_UNKNOWN = 0, CLS_PLAIN, CLS_LLM };

struct sconn {
    const SSL *ssl;
    struct sconn *next;
    uint8_t cls;
    bool client;                  /* seen in SSL_connect: a client whatever SSL_is_server says */
    bool alpn_h2;                 /* the app offered h2 on this SSL */
    bool alpn_checked;
    bool dead;                    /* refused or cut: no more real I/O on this SSL */
    bool fail_closed;             /* an LLM host, no engine, on_error: closed: killed on write */
    bool flushing;                /* a SEND is partly out; the app is retrying its write */
    bool shutdown_pending;        /* close_notify still to send */
    bool special;                 /* counted in n_special: queries must look here */
    bool used;                    /* data went through: SSL_clear then means a new connection */
    uint8_t after_fake;           /* 0, 1 = WANT_READ given, 2 = EOF given */
    int provider;
    int err_override;             /* SSL_get_error answer for the shim's own returns; 0 = none */
    int shutdown_bits;            /* added to SSL_get_shutdown */
    bool fd_known;                /* fd found by stub_fd.c (custom and memory BIOs) */
    int fd;
    dev_t fd_dev;                 /* socket identity at bind time, re-checked before use */
    ino_t fd_ino;
    struct ak_econn *ec;
    const unsigned char *out;     /* SEND in progress (engine-owned) */
    size_t out_len, out_off;
    unsigned char *in;            /* synthetic or transformed bytes still to serve */
    size_t in_len, in_off, in_cap;
};

struct sconn *stub_conn_get(const SSL *s, const void *ra, bool client); /* classifies on first sight */
void stub_conn_drop(const SSL *s);                            /* SSL_free / SSL_clear */
bool stub_conn_any_special(void);                             /* any conn with overrides? */
struct sconn *stub_conn_find(const SSL *s);                   /* no create, no classify */
void stub_conn_mark_special(struct sconn *c);
void stub_alpn_note_ctx(const SSL_CTX *ctx, const unsigned char *protos, unsigned int len);
bool stub_alpn_has_h2(const unsigned char *protos, unsigned int len);
void stub_conn_strip_h2(struct sconn *c, SSL *s, const void *ra);

/* The LLM paths (stub_io.c); return values as the _ex functions: 1 ok, <= 0 the failure code. */
int stub_io_write(struct sconn *c, SSL *s, const void *buf, size_t len, size_t *written,
                  const void *ra, bool ex);
int stub_io_read(struct sconn *c, SSL *s, void *buf, size_t len, size_t *got,
                 const void *ra, bool ex, bool peek);

/* ---- finding the socket of an SSL whose BIO hides it (stub_fd.c) ---- */
/* Marks the thread as inside a real OpenSSL call on c (only when c's fd is still unknown). */
void stub_fd_enter(struct sconn *c);
void stub_fd_leave(void);
/* A socket fd for s that is still the one bound (SSL_get_fd first); -1 when none. */
int stub_fd_socket(struct sconn *c, SSL *s, const void *ra);
void stub_fd_forget(const SSL *s);
void stub_fd_atfork_child(void);          /* called from the connection table's atfork */

/* ---- the engine (stub_engine.c) ---- */
const struct ak_engine_api *stub_engine(void);              /* NULL: not loaded / failed */
const struct ak_engine_api *stub_engine_load(void);         /* loads on first use */
int stub_engine_classify(const char *host, int port);       /* loads the engine if needed */
/* The engine could not be loaded (not: declined, as with mode: off) and the config says
 * on_error: closed: LLM connections are then refused instead of passing unmetered. */
bool stub_engine_fail_closed(void);

/* ---- process-wide bits (stub.c) ---- */
bool stub_disabled(void);                                     /* secure mode, DISABLE=1 */
void stub_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define STUB_LOG_ERROR 1
#define STUB_LOG_WARN 2
#define STUB_LOG_INFO 3
#define STUB_LOG_DEBUG 4

#endif
