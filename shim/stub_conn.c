/*
 * stub_conn.c - the per-SSL table: which connections go to an LLM host, and the stub's state
 * for each. Every hooked call on any TLS connection pays one look-up here; a connection is
 * classified once (SNI against the built-in hosts, then the engine for configured hosts) and
 * non-LLM connections are never touched again.
 *
 * Entries are keyed by the SSL* and dropped in SSL_free/SSL_clear (malloc reuses addresses).
 * Buckets have their own locks; pthread_atfork keeps them consistent across fork.
 */
#include "shim/stub.h"
#include "core/llmhosts.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BUCKETS 256
#define H2_CTX_MAX 64             /* SSL_CTXs seen offering h2 (a ring: old ones fall out) */
#define TLSEXT_NAME_HOST 0        /* TLSEXT_NAMETYPE_host_name */

struct bucket {
    pthread_mutex_t lock;
    struct sconn *head;
};

static struct {
    struct bucket b[BUCKETS];
    _Atomic unsigned long drops;  /* bumped by every drop: invalidates the per-thread caches */
    _Atomic int n_special;        /* conns whose SSL_get_error/pending/shutdown are overridden */
    pthread_mutex_t h2_lock;
    const SSL_CTX *h2_ctx[H2_CTX_MAX];
    unsigned h2_next;
    pthread_once_t once;
} tab = { .h2_lock = PTHREAD_MUTEX_INITIALIZER, .once = PTHREAD_ONCE_INIT };


static void tab_prepare(void)
{
    for (int i = 0; i < BUCKETS; i++)
        pthread_mutex_lock(&tab.b[i].lock);
    pthread_mutex_lock(&tab.h2_lock);
}

static void tab_parent(void)
{
    pthread_mutex_unlock(&tab.h2_lock);
    for (int i = BUCKETS - 1; i >= 0; i--)
        pthread_mutex_unlock(&tab.b[i].lock);
}

static void tab_child(void)
{
    for (int i = 0; i < BUCKETS; i++)
        pthread_mutex_init(&tab.b[i].lock, NULL);
    pthread_mutex_init(&tab.h2_lock, NULL);
    stub_sym_atfork_child();
    stub_fd_atfork_child();
    const struct ak_engine_api *e = stub_engine();
    if (e)
        e->atfork_child();
}

static void tab_init(void)
{
    for (int i = 0; i < BUCKETS; i++)
        pthread_mutex_init(&tab.b[i].lock, NULL);
    pthread_atfork(tab_prepare, tab_parent, tab_child);
}

static struct bucket *bucket_of(const SSL *s)
{
    uintptr_t h = (uintptr_t)s;
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ull;
    return &tab.b[(h >> 32) % BUCKETS];
}

/* The last look-up of this thread: a program that streams on one connection finds it again
 * without the bucket lock. Any drop anywhere invalidates every thread's entry. */
static __thread struct {
    const SSL *ssl;
    struct sconn *conn;
    unsigned long drops;
} last __attribute__((tls_model("initial-exec")));

struct sconn *stub_conn_find(const SSL *s)
{
    unsigned long drops = atomic_load_explicit(&tab.drops, memory_order_acquire);
    if (last.ssl == s && last.conn && last.drops == drops)
        return last.conn;
    pthread_once(&tab.once, tab_init);
    struct bucket *b = bucket_of(s);
    pthread_mutex_lock(&b->lock);
    struct sconn *c = b->head;
    while (c && c->ssl != s)
        c = c->next;
    pthread_mutex_unlock(&b->lock);
    if (c) {
        last.ssl = s;
        last.conn = c;
        last.drops = drops;
    }
    return c;
}

/* Two threads may see a new SSL first at once: the second finds the first one's entry under
 * the lock and uses it (two entries for one SSL left one stale, with its own engine state). */
static struct sconn *conn_insert(const SSL *s)
{
    struct sconn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->ssl = s;
    struct bucket *b = bucket_of(s);
    pthread_mutex_lock(&b->lock);
    struct sconn *had = b->head;
    while (had && had->ssl != s)
        had = had->next;
    if (!had) {
        c->next = b->head;
        b->head = c;
    }
    pthread_mutex_unlock(&b->lock);
    if (had) {
        free(c);
        return had;
    }
    return c;
}

static int builtin_provider(const char *host)
{
    return ak_llm_host_provider(host);
}

typedef const char *(*servername_fn)(const SSL *, int);
typedef int (*ssl_int_fn)(const SSL *);

static int ssl_query(enum stub_sym sym, const SSL *s, const void *ra, int dflt)
{
    ssl_int_fn fn = (ssl_int_fn)stub_sym(sym, ra);
    return fn ? fn(s) : dflt;
}

/* The server's port, and its address as text when `ip` is given, when the SSL has a socket;
 * port 0 (unknown) for custom and memory BIOs. */
static int peer_port(const SSL *s, const void *ra, char *ip, size_t iplen)
{
    int fd = ssl_query(SYM_SSL_GET_FD, s, ra, -1);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (ip && iplen)
        ip[0] = '\0';
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        if (ip)
            inet_ntop(AF_INET, &in->sin_addr, ip, (socklen_t)iplen);
        return ntohs(in->sin_port);
    }
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        if (ip)
            inet_ntop(AF_INET6, &in6->sin6_addr, ip, (socklen_t)iplen);
        return ntohs(in6->sin6_port);
    }
    return 0;
}

/* Decides CLS_PLAIN or CLS_LLM once there is enough to go on; stays CLS_UNKNOWN otherwise. */
static void conn_classify(struct sconn *c, const SSL *s, const void *ra)
{
    bool finished = ssl_query(SYM_SSL_IS_INIT_FINISHED, s, ra, 1);
    if (!c->client && ssl_query(SYM_SSL_IS_SERVER, s, ra, 0)) {
        /* Ruby's SSL* reads as a server until SSL_connect: only trust it once finished */
        if (finished)
            c->cls = CLS_PLAIN;
        return;
    }
    servername_fn sn = (servername_fn)stub_sym(SYM_SSL_GET_SERVERNAME, ra);
    const char *host = sn ? sn(s, TLSEXT_NAME_HOST) : NULL;
    char addr[INET6_ADDRSTRLEN];
    int port = 0;
    if (!host || !*host) {
        if (!finished)
            return;               /* SNI may still be set before the handshake */
        /* no SNI (a server named by its IP address): the config's hosts may list the address */
        port = peer_port(s, ra, addr, sizeof addr);
        if (!addr[0]) {
            c->cls = CLS_PLAIN;
            return;
        }
        host = addr;
    }
    int prov = builtin_provider(host);
    if (!prov) {
        if (!port)
            port = peer_port(s, ra, NULL, 0);
        prov = stub_engine_classify(host, port);
    }
    const struct ak_engine_api *api = prov ? stub_engine_load() : NULL;
    if (!api && prov && stub_engine_fail_closed()) {
        c->provider = prov;
        c->cls = CLS_LLM;
        c->fail_closed = true;
        return;
    }
    if (api) {
        c->ec = api->conn_new(host, port, prov);
        if (c->ec) {
            c->provider = prov;
            c->cls = CLS_LLM;
            stub_log(STUB_LOG_DEBUG, "LLM connection to %s", host);
            return;
        }
    }
    c->cls = CLS_PLAIN;
}

struct sconn *stub_conn_get(const SSL *s, const void *ra, bool client)
{
    if (!s || stub_disabled())
        return NULL;
    struct sconn *c = stub_conn_find(s);
    if (!c)
        c = conn_insert(s);
    if (c && client)
        c->client = true;
    if (c && c->cls == CLS_UNKNOWN)
        conn_classify(c, s, ra);
    return c;
}

void stub_conn_drop(const SSL *s)
{
    pthread_once(&tab.once, tab_init);
    struct bucket *b = bucket_of(s);
    pthread_mutex_lock(&b->lock);
    struct sconn **pp = &b->head, *c = NULL;
    while (*pp && (*pp)->ssl != s)
        pp = &(*pp)->next;
    if (*pp) {
        c = *pp;
        *pp = c->next;
        atomic_fetch_add_explicit(&tab.drops, 1, memory_order_release);
    }
    pthread_mutex_unlock(&b->lock);
    if (!c)
        return;
    stub_fd_forget(s);
    if (c->ec && stub_engine())
        stub_engine()->conn_free(c->ec);
    if (c->special)
        atomic_fetch_sub(&tab.n_special, 1);
    free(c->in);
    free(c);
}

bool stub_conn_any_special(void)
{
    return atomic_load_explicit(&tab.n_special, memory_order_relaxed) > 0;
}

void stub_conn_mark_special(struct sconn *c)
{
    if (!c->special) {
        c->special = true;
        atomic_fetch_add(&tab.n_special, 1);
    }
}

/* ---- ALPN: LLM connections speak HTTP/1.1 unless the engine parses HTTP/2 ---- */

bool stub_alpn_has_h2(const unsigned char *protos, unsigned int len)
{
    for (unsigned int i = 0; protos && i < len;) {
        unsigned int l = protos[i];
        if (l == 2 && i + 1 + l <= len && memcmp(protos + i + 1, "h2", 2) == 0)
            return true;
        i += 1 + l;
    }
    return false;
}

void stub_alpn_note_ctx(const SSL_CTX *ctx, const unsigned char *protos, unsigned int len)
{
    if (!ctx || !stub_alpn_has_h2(protos, len))
        return;
    pthread_mutex_lock(&tab.h2_lock);
    tab.h2_ctx[tab.h2_next++ % H2_CTX_MAX] = ctx;
    pthread_mutex_unlock(&tab.h2_lock);
}

static bool ctx_offers_h2(const SSL_CTX *ctx)
{
    bool yes = false;
    pthread_mutex_lock(&tab.h2_lock);
    for (int i = 0; i < H2_CTX_MAX && !yes; i++)
        yes = ctx && tab.h2_ctx[i] == ctx;
    pthread_mutex_unlock(&tab.h2_lock);
    return yes;
}

typedef SSL_CTX *(*get_ctx_fn)(const SSL *);
typedef int (*set_alpn_fn)(SSL *, const unsigned char *, unsigned int);

void stub_conn_strip_h2(struct sconn *c, SSL *s, const void *ra)
{
    static const unsigned char http11[] = "\x08http/1.1";
    if (c->alpn_checked || c->cls != CLS_LLM)
        return;
    if (!ssl_query(SYM_SSL_IN_BEFORE, s, ra, 0))
        return;
    c->alpn_checked = true;
    get_ctx_fn gc = (get_ctx_fn)stub_sym(SYM_SSL_GET_SSL_CTX, ra);
    if (!c->alpn_h2 && !(gc && ctx_offers_h2(gc(s))))
        return;
    const struct ak_engine_api *e = stub_engine();
    if (e && e->http2_native())
        return;                   /* http2: native: h2 stays in the offer */
    set_alpn_fn set = (set_alpn_fn)stub_sym(SYM_SSL_SET_ALPN, ra);
    if (set && set(s, http11, sizeof http11 - 1) == 0)
        stub_log(STUB_LOG_DEBUG, "ALPN offer to an LLM host limited to http/1.1");
}
