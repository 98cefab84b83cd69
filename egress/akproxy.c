/*
 * akproxy.c - the egress plane: meters and enforces the LLM calls of programs whose TLS the
 * preloaded shim cannot see (static binaries, Bun, official Node builds, Go, rustls, Java),
 * with the same engine and ledger as the shim. See egress/README.md.
 *
 * One event loop, libevent's bufferevents with OpenSSL (Debian's libevent-dev), rather than a
 * hand-written epoll loop: bufferevents give non-blocking TLS in both roles (terminating the
 * client, verifying the provider), asynchronous DNS (evdns, /etc/hosts included), watermarks
 * for back-pressure and a TLS filter over an already-read socket (the ClientHello is peeked
 * for its SNI before deciding), all of which an epoll loop would have to re-implement. A
 * tunnel costs two bufferevents and no thread, so thousands of idle keep-alive connections
 * and hundreds of streams share one core; the engine's calls (one LMDB transaction per
 * metered call) run on the loop.
 *
 * This file owns the daemon: options, the config, the host CA and the leaf certificates it
 * mints (one server SSL_CTX per LLM host name, cached), the client SSL_CTX toward providers,
 * the listeners (with a spare descriptor so that fd exhaustion refuses one connection
 * instead of spinning), and signals: TERM/INT stop, HUP reloads the config.
 *
 * Usage: akproxy [--config FILE] [--listen ADDR] [--transparent ADDR] [--ca-dir DIR]
 *                [--ready-file FILE]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/err.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "egress/akproxy.h"

#define LISTEN_BACKLOG 1024
#define MAX_CA_NAMES 256
#define ADDR_TEXT 128
#define REFUSAL_503 "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n" \
                    "Content-Length: 40\r\nConnection: close\r\n\r\n" \
                    "akproxy: out of file descriptors; retry\n"

const struct ak_engine_api *ak_engine_get(void);   /* engine/engine.c, linked in */

struct leaf {
    struct leaf *next;
    char host[256];
    SSL_CTX *ctx;
};

struct options {
    const char *config, *listen, *transparent, *ca_dir, *ready_file;
};

/* ---- leaves ---- */

static int alpn_http11(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char h11[] = "\x08http/1.1";
    (void)ssl;
    (void)arg;
    /* http/1.1 only: the engine parses HTTP/1.1 (DESIGN.md "Byte-exact transparency") */
    if (SSL_select_next_proto((unsigned char **)out, outlen, h11, sizeof h11 - 1, in, inlen) ==
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_OK;
    return SSL_TLSEXT_ERR_NOACK;
}

static SSL_CTX *leaf_ctx_new(struct proxy *px, const char *host)
{
    EVP_PKEY *key = NULL;
    X509 *cert = ak_hostca_leaf(px->ca, host, &key);
    SSL_CTX *ctx = cert ? SSL_CTX_new(TLS_server_method()) : NULL;
    if (!ctx || SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
        SSL_CTX_add1_chain_cert(ctx, ak_hostca_cert(px->ca)) != 1 ||
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        ak_error("cannot make a certificate for %s", host);
        SSL_CTX_free(ctx);
        ctx = NULL;
    } else {
        SSL_CTX_set_alpn_select_cb(ctx, alpn_http11, NULL);
        SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    }
    X509_free(cert);
    ERR_clear_error();
    return ctx;
}

SSL_CTX *proxy_leaf_ctx(struct proxy *px, const char *host)
{
    for (struct leaf *l = px->leaves; l; l = l->next)
        if (strcasecmp(l->host, host) == 0)
            return l->ctx;
    if (!ak_hostca_covers(px->ca, host))
        return NULL;
    struct leaf *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    snprintf(l->host, sizeof l->host, "%s", host);
    l->ctx = leaf_ctx_new(px, host);
    if (!l->ctx) {
        free(l);
        return NULL;
    }
    l->next = px->leaves;
    px->leaves = l;
    return l->ctx;
}

static void leaves_free(struct proxy *px)
{
    while (px->leaves) {
        struct leaf *l = px->leaves;
        px->leaves = l->next;
        SSL_CTX_free(l->ctx);
        free(l);
    }
}

/* ---- set-up ---- */

static SSL_CTX *upstream_ctx_new(void)
{
    static const unsigned char h11[] = "\x08http/1.1";
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || SSL_CTX_set_default_verify_paths(ctx) != 1 ||
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_alpn_protos(ctx, h11, sizeof h11 - 1) != 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);   /* chain and host name, as curl does */
    return ctx;
}

static enum ak_err proxy_load_config(struct proxy *px)
{
    char err[AK_CONFIG_ERRLEN] = "";
    const char *path = ak_config_path_from_env();
    struct ak_config *cfg = NULL;
    enum ak_err e = ak_config_load(path, &cfg, err, sizeof err);
    if (e == AK_ERR_IO && !getenv("AGENTKAVACH_CONFIG"))
        e = ak_config_defaults(&cfg);
    if (e != AK_OK) {
        ak_error("%s", err[0] ? err : ak_strerror(e));
        return e;
    }
    ak_config_free(px->cfg);
    px->cfg = cfg;
    return AK_OK;
}

static enum ak_err proxy_open_ca(struct proxy *px, const char *dir)
{
    const char *names[MAX_CA_NAMES];
    char err[AK_HOSTCA_ERRLEN] = "";
    size_t n = ak_hostca_names(px->cfg, names, MAX_CA_NAMES);
    enum ak_err e = ak_hostca_open(dir, names, n, true, &px->ca, err, sizeof err);
    if (e != AK_OK) {
        ak_error("host CA in %s: %s", dir, err);
        return e;
    }
    for (size_t i = 0; i < n; i++)
        if (!ak_hostca_covers(px->ca, names[i]))
            ak_warn("the host CA in %s does not cover %s (added to hosts: later?); its calls are "
                    "not metered until: akctl ca rotate", dir, names[i]);
    return AK_OK;
}

static void proxy_fd_exhausted(struct proxy *px, evutil_socket_t lfd)
{
    /* accept with the spare descriptor, answer, close: the connection gets a clear error and
     * the listener does not spin on a backlog it cannot drain */
    if (px->spare_fd >= 0)
        close(px->spare_fd);
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) {
        ssize_t w = send(fd, REFUSAL_503, sizeof REFUSAL_503 - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w;
        close(fd);
    }
    px->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    static int logged;
    if (!logged++)
        ak_error("out of file descriptors (%lu tunnels open): new connections are refused until "
                 "some close (raise LimitNOFILE)", px->tunnels);
}

static void on_accept_error(struct evconnlistener *lis, void *arg)
{
    struct proxy *px = arg;
    int e = EVUTIL_SOCKET_ERROR();
    if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
        proxy_fd_exhausted(px, evconnlistener_get_fd(lis));
    else if (e != EAGAIN && e != ECONNABORTED && e != EINTR)
        ak_warn("accept: %s", evutil_socket_error_to_string(e));
}

static void on_connect_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                              int salen, void *arg)
{
    (void)lis;
    tunnel_accept_connect(arg, fd, sa, salen);
}

static void on_transparent_accept(struct evconnlistener *lis, evutil_socket_t fd,
                                  struct sockaddr *sa, int salen, void *arg)
{
    (void)lis;
    tunnel_accept_transparent(arg, fd, sa, salen);
}

/* "host:port" or "[v6]:port"; port 0 picks a free one (akrun's private proxy). */
static bool parse_addr(const char *addr, struct sockaddr_storage *ss, int *sl)
{
    char host[ADDR_TEXT];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof host)
        return false;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || port < 0 || port > 65535)
        return false;
    memset(ss, 0, sizeof *ss);
    size_t hl = strlen(host);
    if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        host[hl - 1] = '\0';
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *sl = sizeof *in6;
        return inet_pton(AF_INET6, host + 1, &in6->sin6_addr) == 1;
    }
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    *sl = sizeof *in;
    return inet_pton(AF_INET, host, &in->sin_addr) == 1;
}

static struct evconnlistener *listen_on(struct proxy *px, const char *addr, evconnlistener_cb cb,
                                        char *bound, size_t bound_len)
{
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    if (!parse_addr(addr, &ss, &sl)) {
        ak_error("bad listen address '%s' (host:port, [v6]:port)", addr);
        return NULL;
    }
    struct evconnlistener *l = evconnlistener_new_bind(
        px->base, cb, px, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
        LISTEN_BACKLOG, (struct sockaddr *)&ss, sl);
    if (!l) {
        ak_error("cannot listen on %s: %s", addr, strerror(errno));
        return NULL;
    }
    evconnlistener_set_error_cb(l, on_accept_error);
    socklen_t bl = sizeof ss;
    char host[ADDR_TEXT] = "";
    if (getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&ss, &bl) == 0) {
        void *a = ss.ss_family == AF_INET ? (void *)&((struct sockaddr_in *)&ss)->sin_addr
                                          : (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
        int port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                 : ((struct sockaddr_in6 *)&ss)->sin6_port);
        evutil_inet_ntop(ss.ss_family, a, host, sizeof host);
        snprintf(bound, bound_len, ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host, port);
    }
    return l;
}

/* ---- signals ---- */

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    struct proxy *px = arg;
    (void)what;
    ak_info("signal %d: stopping (%lu tunnels open)", (int)sig, px->tunnels);
    event_base_loopbreak(px->base);
}

static void on_reload(evutil_socket_t sig, short what, void *arg)
{
    struct proxy *px = arg;
    (void)sig;
    (void)what;
    if (proxy_load_config(px) != AK_OK || px->api->reload() != 0) {
        ak_error("SIGHUP: the config was not reloaded; the old one stays in force");
        return;
    }
    evdns_base_load_hosts(px->dns, NULL);
    ak_info("SIGHUP: config reloaded (listen addresses and ca_dir take effect on restart)");
}

/* ---- main ---- */

static int usage(void)
{
    fprintf(stderr, "usage: akproxy [--config FILE] [--listen ADDR] [--transparent ADDR] "
                    "[--ca-dir DIR] [--ready-file FILE]\n");
    return 2;
}

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longs[] = {
        { "config", required_argument, NULL, 'c' },
        { "listen", required_argument, NULL, 'l' },
        { "transparent", required_argument, NULL, 't' },
        { "ca-dir", required_argument, NULL, 'a' },
        { "ready-file", required_argument, NULL, 'r' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "c:l:t:a:r:h", longs, NULL)) != -1) {
        switch (c) {
        case 'c': o->config = optarg; break;
        case 'l': o->listen = optarg; break;
        case 't': o->transparent = optarg; break;
        case 'a': o->ca_dir = optarg; break;
        case 'r': o->ready_file = optarg; break;
        default: return -1;
        }
    }
    return optind == argc ? 0 : -1;
}

static bool write_ready(const char *path, const char *bound)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "we");
    if (!f)
        return false;
    bool ok = fprintf(f, "%s\n", bound) > 0;
    ok = fclose(f) == 0 && ok;
    return ok && rename(tmp, path) == 0;
}

/* libevent's own messages (evdns: "nameserver failed") go to our log at debug level. */
static void libevent_log(int severity, const char *msg)
{
    (void)severity;
    ak_debug("libevent: %s", msg);
}

static int proxy_start(struct proxy *px, const struct options *o)
{
    char bound[ADDR_TEXT] = "", tbound[ADDR_TEXT] = "";
    px->api = ak_engine_get();
    if (px->api->init() != 0) {
        ak_error("the metering engine did not start (mode off, or no usable config): nothing to do");
        return 1;
    }
    if (proxy_load_config(px) != AK_OK)
        return 1;
    if (proxy_open_ca(px, o->ca_dir ? o->ca_dir : px->cfg->egress_ca_dir) != AK_OK)
        return 1;
    if (!(px->up_ctx = upstream_ctx_new())) {
        ak_error("cannot set up TLS toward providers (system trust store?)");
        return 1;
    }
    event_set_log_callback(libevent_log);
    /* the changelist folds the enable/disable pairs a bufferevent makes around each write
     * into one epoll_ctl per loop pass (bench/egress.sh: 4 epoll_ctl per call without it) */
    struct event_config *ec = event_config_new();
    if (ec)
        event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    px->base = ec ? event_base_new_with_config(ec) : NULL;
    event_config_free(ec);
    px->dns = px->base ? evdns_base_new(px->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                                      EVDNS_BASE_DISABLE_WHEN_INACTIVE) : NULL;
    if (!px->dns) {
        ak_error("cannot start the event loop or the resolver");
        return 1;
    }
    px->lis_connect = listen_on(px, o->listen ? o->listen : px->cfg->egress_listen,
                                on_connect_accept, bound, sizeof bound);
    const char *tr = o->transparent ? o->transparent : px->cfg->egress_transparent;
    if (!px->lis_connect ||
        (tr && !(px->lis_transparent = listen_on(px, tr, on_transparent_accept, tbound, sizeof tbound))))
        return 1;
    px->ev_term = evsignal_new(px->base, SIGTERM, on_stop, px);
    px->ev_int = evsignal_new(px->base, SIGINT, on_stop, px);
    px->ev_hup = evsignal_new(px->base, SIGHUP, on_reload, px);
    if (!px->ev_term || !px->ev_int || !px->ev_hup || event_add(px->ev_term, NULL) ||
        event_add(px->ev_int, NULL) || event_add(px->ev_hup, NULL))
        return 1;
    px->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ak_info("listening on %s (CONNECT)%s%s", bound, tr ? ", transparent on " : "", tr ? tbound : "");
    if (o->ready_file && !write_ready(o->ready_file, bound)) {
        ak_error("cannot write %s: %s", o->ready_file, strerror(errno));
        return 1;
    }
    return 0;
}

static void proxy_stop(struct proxy *px)
{
    if (px->lis_connect)
        evconnlistener_free(px->lis_connect);
    if (px->lis_transparent)
        evconnlistener_free(px->lis_transparent);
    if (px->ev_term)
        event_free(px->ev_term);
    if (px->ev_int)
        event_free(px->ev_int);
    if (px->ev_hup)
        event_free(px->ev_hup);
    if (px->dns)
        evdns_base_free(px->dns, 0);
    if (px->base)
        event_base_free(px->base);
    leaves_free(px);
    SSL_CTX_free(px->up_ctx);
    ak_hostca_free(px->ca);
    ak_config_free(px->cfg);
    if (px->spare_fd >= 0)
        close(px->spare_fd);
}

int main(int argc, char **argv)
{
    struct options o = { 0 };
    struct proxy px = { .spare_fd = -1 };
    if (parse_options(argc, argv, &o) != 0)
        return usage();
    if (o.config && setenv("AGENTKAVACH_CONFIG", o.config, 1) != 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    ak_log_init();
    int rc = proxy_start(&px, &o);
    if (rc == 0 && event_base_dispatch(px.base) < 0)
        rc = 1;
    proxy_stop(&px);
    return rc;
}
