/*
 * tunnel.c - one client connection of akproxy, from accept to close.
 *
 *   CONNECT listener: read the request head (HTTP CONNECT host:port, the agent claimed in
 *   Proxy-Authorization), find the client process and check the claim, answer 200;
 *   transparent listener: the original destination from SO_ORIGINAL_DST.
 *   Then peek the ClientHello (nothing consumed) and route by SNI:
 *     - an LLM host whose client the shim does not already meter: terminate TLS with a leaf
 *       from the host CA, open our own verified TLS connection to the provider when the
 *       engine first lets bytes out, and hand both directions' plaintext to the engine
 *       (the same on_write/on_read calls as the preloaded stub);
 *     - any other host: relay bytes, never decrypted;
 *     - an LLM host that cannot be terminated (no SNI, a name the CA does not cover): an
 *       unmetered event, then relayed or refused as egress.unmetered_tls says.
 * Back-pressure: a side whose output holds more than PX_HIGH_WATER stops the other side
 * reading until it drains, so a slow client never makes akproxy hold a whole reply.
 * Every failure ends this tunnel only, with a clear answer where the protocol allows one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/llmhosts.h"
#include "egress/akproxy.h"
#include "egress/peer.h"
#include "egress/sni.h"

#define HEAD_MAX 8192                /* a CONNECT head longer than this is refused */
#define HEAD_TIMEOUT_S 30            /* for the CONNECT head and the ClientHello */
#define CONNECT_TIMEOUT_S 30         /* upstream connect and handshake */
#define DRAIN_TICK_MS 10             /* a closing tunnel looks whether its last bytes are out */
#define DRAIN_MAX_TICKS 300          /* and gives up after 3 s */
#define WHY_LEN 256

enum tstate { T_HEAD, T_PEEK, T_RELAY, T_LLM, T_CLOSING };

struct tunnel {
    struct proxy *px;
    enum tstate st;
    struct bufferevent *cli;         /* the client's socket */
    struct bufferevent *ctls;        /* TLS terminated over cli (T_LLM); owns cli */
    struct bufferevent *up;          /* toward the server: bytes (T_RELAY) or TLS (T_LLM) */
    struct event *drain;
    int drain_ticks;
    bool transparent;
    struct sockaddr_storage peer_sa; /* the client's address */
    struct sockaddr_storage dst;     /* transparent: the original destination */
    socklen_t dst_len;
    char host[SNI_NAME_MAX];         /* where to connect */
    int port;
    char sni[SNI_NAME_MAX];
    int provider;
    struct ak_peer who;
    struct ak_econn *ec;
    bool up_ready;                   /* upstream connected (and verified) */
    bool answered;                   /* the client got bytes from upstream */
};

static void tunnel_close(struct tunnel *t);

/* ---- life cycle ---- */

/* Requests and replies are small writes answered by reads: Nagle would hold them back. */
static void nodelay(evutil_socket_t fd)
{
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void tunnel_free(struct tunnel *t)
{
    if (t->ec)
        t->px->api->conn_free(t->ec);
    if (t->ctls)
        bufferevent_free(t->ctls);   /* and cli under it */
    else if (t->cli)
        bufferevent_free(t->cli);
    if (t->up)
        bufferevent_free(t->up);
    if (t->drain)
        event_free(t->drain);
    t->px->tunnels--;
    free(t);
}

static struct bufferevent *cside(const struct tunnel *t)
{
    return t->ctls ? t->ctls : t->cli;
}

static size_t out_len(struct bufferevent *b)
{
    return b ? evbuffer_get_length(bufferevent_get_output(b)) : 0;
}

static void drain_tick(evutil_socket_t fd, short what, void *arg)
{
    struct tunnel *t = arg;
    (void)fd;
    (void)what;
    if ((out_len(t->ctls) == 0 && out_len(t->cli) == 0 && out_len(t->up) == 0) ||
        ++t->drain_ticks >= DRAIN_MAX_TICKS) {
        tunnel_free(t);
        return;
    }
    struct timeval tv = { 0, DRAIN_TICK_MS * 1000 };
    event_add(t->drain, &tv);
}

/* Ends the tunnel once what is already queued toward either side has gone out. */
static void tunnel_close(struct tunnel *t)
{
    if (t->st == T_CLOSING)
        return;
    t->st = T_CLOSING;
    if (cside(t))
        bufferevent_disable(cside(t), EV_READ);
    if (t->up)
        bufferevent_disable(t->up, EV_READ);
    t->drain = evtimer_new(t->px->base, drain_tick, t);
    if (!t->drain) {
        tunnel_free(t);
        return;
    }
    drain_tick(-1, 0, t);
}

/* A plain HTTP answer to the proxy client (before the tunnel exists), then close. */
static void reply_close(struct tunnel *t, int code, const char *status, const char *text)
{
    char body[WHY_LEN + 16];
    ak_info("answered %d to pid %d (%s:%d): %s", code, t->who.pid, t->host, t->port, text);
    if (t->transparent && t->st != T_LLM) {   /* the client speaks TLS to someone else: no HTTP */
        tunnel_close(t);
        return;
    }
    int n = snprintf(body, sizeof body, "akproxy: %s\n", text);
    evbuffer_add_printf(bufferevent_get_output(cside(t)),
                        "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                        "Connection: close\r\n%s\r\n%s", code, status, n,
                        code == 407 ? "Proxy-Authenticate: Basic realm=\"agentkavach\"\r\n" : "",
                        body);
    tunnel_close(t);
}

/* ---- back-pressure ---- */

static struct bufferevent *partner(const struct tunnel *t, const struct bufferevent *b)
{
    return b == t->up ? cside(t) : t->up;
}

/* dst's output is past the high-water mark: src stops reading until it drains. */
static bool flow_full(struct bufferevent *src, struct bufferevent *dst)
{
    if (out_len(dst) < PX_HIGH_WATER)
        return false;
    bufferevent_disable(src, EV_READ);
    bufferevent_setwatermark(dst, EV_WRITE, PX_HIGH_WATER / 2, 0);
    return true;
}

static void on_drained(struct bufferevent *dst, void *arg)
{
    struct tunnel *t = arg;
    struct bufferevent *src = partner(t, dst);
    bufferevent_setwatermark(dst, EV_WRITE, 0, 0);
    if (src && t->st != T_CLOSING && !(bufferevent_get_enabled(src) & EV_READ)) {
        bufferevent_enable(src, EV_READ);
        /* bytes that waited in src's input are handed on now */
        struct evbuffer *in = bufferevent_get_input(src);
        if (evbuffer_get_length(in)) {
            bufferevent_data_cb rd;
            bufferevent_getcb(src, &rd, NULL, NULL, NULL);
            if (rd)
                rd(src, t);
        }
    }
}

/* ---- relaying bytes ---- */

static void relay_read(struct bufferevent *src, void *arg)
{
    struct tunnel *t = arg;
    struct bufferevent *dst = partner(t, src);
    if (!dst || t->st == T_CLOSING)
        return;
    evbuffer_add_buffer(bufferevent_get_output(dst), bufferevent_get_input(src));
    flow_full(src, dst);
}

static void up_error_text(struct tunnel *t, int serr, char *why, size_t len)
{
    int dns = bufferevent_socket_get_dns_error(t->up);
    unsigned long e = bufferevent_get_openssl_error(t->up);
    SSL *ssl = bufferevent_openssl_get_ssl(t->up);
    long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (dns)
        snprintf(why, len, "cannot resolve %.100s: %.100s", t->host, evutil_gai_strerror(dns));
    else if (ssl && vr != X509_V_OK)
        snprintf(why, len, "the certificate of %.64s failed verification (%.100s); refused, never downgraded",
                 t->sni, X509_verify_cert_error_string(vr));
    else if (serr && serr != EAGAIN && serr != EINPROGRESS)
        snprintf(why, len, "connection to %.64s:%d failed: %.100s", t->host, t->port, strerror(serr));
    else if (e) {
        char buf[160];
        ERR_error_string_n(e, buf, sizeof buf);
        snprintf(why, len, "TLS with %.64s failed: %.150s", t->sni, buf);
    } else
        snprintf(why, len, "connection to %.64s:%d failed: %.100s", t->host, t->port,
                 errno ? strerror(errno) : "closed");
    while (bufferevent_get_openssl_error(t->up))
        ;
}

static void up_event(struct bufferevent *up, short what, void *arg)
{
    struct tunnel *t = arg;
    char why[WHY_LEN];
    int serr = EVUTIL_SOCKET_ERROR();
    if (what & BEV_EVENT_CONNECTED) {
        t->up_ready = true;
        bufferevent_set_timeouts(up, NULL, NULL);
        nodelay(bufferevent_getfd(up));
        return;
    }
    if (!t->up_ready && t->st == T_LLM && !t->answered) {
        up_error_text(t, serr, why, sizeof why);
        ak_warn("agent '%s' (pid %d): %s", t->who.agent, t->who.pid, why);
        if (t->ec)
            t->px->api->on_eof(t->ec);   /* the exchange ends with no reply: recorded */
        bufferevent_free(t->up);
        t->up = NULL;
        reply_close(t, 502, "Bad Gateway", why);
        return;
    }
    if (!t->up_ready) {
        up_error_text(t, serr, why, sizeof why);
        ak_info("relay for pid %d: %s", t->who.pid, why);
    }
    if (t->st == T_LLM && t->ec) {
        /* the server closed: the engine ends a read-until-close reply; what is queued for
         * the client still goes out */
        t->px->api->on_eof(t->ec);
    }
    bufferevent_free(t->up);
    t->up = NULL;
    tunnel_close(t);
}

static void cli_event(struct bufferevent *b, short what, void *arg)
{
    struct tunnel *t = arg;
    if (what & BEV_EVENT_CONNECTED)
        return;                      /* the client's TLS handshake is done */
    if (t->st == T_LLM && t->ctls && !(what & BEV_EVENT_EOF)) {
        unsigned long e = bufferevent_get_openssl_error(t->ctls);
        if (e && !t->up_ready) {
            char buf[160];
            ERR_error_string_n(e, buf, sizeof buf);
            ak_info("pid %d refused akproxy's certificate for %s (%s): does it trust the host CA? "
                    "(akrun sets that up; or akctl ca trust)", t->who.pid, t->sni, buf);
        }
        while (bufferevent_get_openssl_error(t->ctls))
            ;
    }
    if (what & BEV_EVENT_TIMEOUT)
        ak_info("client pid %d timed out before its tunnel was set up", t->who.pid);
    /* the client is gone: nothing left to deliver to it */
    if (t->ctls)
        bufferevent_free(t->ctls);
    else
        bufferevent_free(t->cli);
    t->ctls = t->cli = NULL;
    if (t->st == T_CLOSING)
        return;                      /* the drain timer frees the rest */
    tunnel_close(t);
}

static bool up_connect(struct tunnel *t)
{
    struct proxy *px = t->px;
    struct timeval tv = { CONNECT_TIMEOUT_S, 0 };
    bufferevent_set_timeouts(t->up, &tv, &tv);
    int rc = t->transparent
                 ? bufferevent_socket_connect(t->up, (struct sockaddr *)&t->dst, (int)t->dst_len)
                 : bufferevent_socket_connect_hostname(t->up, px->dns, AF_UNSPEC, t->host, t->port);
    return rc == 0;
}

static void relay_start(struct tunnel *t)
{
    t->st = T_RELAY;
    t->up = bufferevent_socket_new(t->px->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!t->up) {
        ak_warn("cannot open a connection to %s: %s", t->host, strerror(errno));
        tunnel_close(t);
        return;
    }
    bufferevent_setcb(t->up, relay_read, on_drained, up_event, t);
    bufferevent_setcb(t->cli, relay_read, on_drained, cli_event, t);
    /* bulk bytes move in large reads and writes (libevent's default is 16 KiB a call) */
    bufferevent_set_max_single_read(t->up, PX_HIGH_WATER);
    bufferevent_set_max_single_write(t->cli, PX_HIGH_WATER);
    bufferevent_set_max_single_read(t->cli, PX_HIGH_WATER);
    bufferevent_set_max_single_write(t->up, PX_HIGH_WATER);
    bufferevent_set_timeouts(t->cli, NULL, NULL);
    bufferevent_setwatermark(t->cli, EV_READ, 0, 0);
    bufferevent_enable(t->up, EV_READ | EV_WRITE);
    if (!up_connect(t)) {
        ak_warn("cannot connect to %s:%d: %s", t->host, t->port, strerror(errno));
        tunnel_close(t);
        return;
    }
    relay_read(t->cli, t);           /* the ClientHello that was peeked at */
}

/* ---- terminating an LLM host ---- */

static bool up_start_tls(struct tunnel *t)
{
    SSL *ssl = SSL_new(t->px->up_ctx);
    if (!ssl || SSL_set_tlsext_host_name(ssl, t->sni) != 1 || SSL_set1_host(ssl, t->sni) != 1) {
        SSL_free(ssl);
        return false;
    }
    t->up = bufferevent_openssl_socket_new(t->px->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                           BEV_OPT_CLOSE_ON_FREE);
    if (!t->up)
        return false;                /* libevent freed ssl */
    bufferevent_openssl_set_allow_dirty_shutdown(t->up, 1);
    bufferevent_setcb(t->up, NULL, on_drained, up_event, t);
    bufferevent_enable(t->up, EV_READ | EV_WRITE);
    return up_connect(t);
}

static void llm_up_read(struct bufferevent *up, void *arg);

/* Bytes the engine lets out toward the provider; the connection opens on the first. */
static bool up_send(struct tunnel *t, const unsigned char *p, size_t n)
{
    if (!t->up) {
        if (!up_start_tls(t)) {
            ak_warn("cannot open a TLS connection to %s: %s", t->host, strerror(errno));
            reply_close(t, 502, "Bad Gateway", "cannot open a connection to the provider");
            return false;
        }
        bufferevent_setcb(t->up, llm_up_read, on_drained, up_event, t);
    }
    return evbuffer_add(bufferevent_get_output(t->up), p, n) == 0;
}

static void llm_client_read(struct bufferevent *b, void *arg)
{
    struct tunnel *t = arg;
    const struct ak_engine_api *api = t->px->api;
    struct evbuffer *in = bufferevent_get_input(b);
    unsigned char buf[PX_CHUNK];
    int n;
    while (t->st == T_LLM && (n = evbuffer_remove(in, buf, sizeof buf)) > 0) {
        struct ak_wr_result r;
        api->on_write(t->ec, buf, (size_t)n, &r);
        switch (r.action) {
        case AK_WR_PASS:
            if (!up_send(t, buf, (size_t)n))
                return;
            break;
        case AK_WR_HOLD:
            break;
        case AK_WR_SEND:
            if (!up_send(t, r.out, r.out_len))
                return;
            api->on_sent(t->ec);
            break;
        case AK_WR_REFUSE:
            evbuffer_add(bufferevent_get_output(b), r.out, r.out_len);
            tunnel_close(t);
            return;
        case AK_WR_KILL:
        default:
            tunnel_close(t);
            return;
        }
        if (t->up && flow_full(b, t->up))
            return;
    }
}

static void llm_up_read(struct bufferevent *up, void *arg)
{
    struct tunnel *t = arg;
    const struct ak_engine_api *api = t->px->api;
    struct evbuffer *in = bufferevent_get_input(up);
    unsigned char buf[PX_CHUNK];
    int n;
    while (t->st == T_LLM && cside(t) && (n = evbuffer_remove(in, buf, sizeof buf)) > 0) {
        struct ak_rd_result r;
        struct evbuffer *out = bufferevent_get_output(cside(t));
        api->on_read(t->ec, buf, (size_t)n, &r);
        t->answered = true;
        if (r.action == AK_RD_CUT) {
            tunnel_close(t);
            return;
        }
        if (r.action == AK_RD_REPLACE)
            evbuffer_add(out, r.out, r.out_len);
        else
            evbuffer_add(out, buf, (size_t)n);
        if (flow_full(up, cside(t)))
            return;
    }
}

static void llm_start(struct tunnel *t, SSL_CTX *ctx)
{
    const struct ak_engine_api *api = t->px->api;
    SSL *ssl = SSL_new(ctx);
    t->ec = api->conn_new_peer(t->sni, t->port, t->provider, &t->who);
    if (!ssl || !t->ec) {
        SSL_free(ssl);
        ak_error("out of memory for a tunnel to %s", t->sni);
        tunnel_close(t);
        return;
    }
    bufferevent_setcb(t->cli, NULL, NULL, NULL, NULL);
    bufferevent_set_timeouts(t->cli, NULL, NULL);
    bufferevent_setwatermark(t->cli, EV_READ, 0, 0);
    /* the filter writes into cli no faster than cli drains */
    bufferevent_setwatermark(t->cli, EV_WRITE, 0, PX_HIGH_WATER);
    t->ctls = bufferevent_openssl_filter_new(t->px->base, t->cli, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                             BEV_OPT_CLOSE_ON_FREE);
    if (!t->ctls) {
        tunnel_close(t);
        return;
    }
    t->st = T_LLM;
    bufferevent_openssl_set_allow_dirty_shutdown(t->ctls, 1);
    bufferevent_setcb(t->ctls, llm_client_read, on_drained, cli_event, t);
    bufferevent_enable(t->ctls, EV_READ | EV_WRITE);
    /* the ClientHello is already in cli's input: no new read event will announce it */
    bufferevent_trigger(t->cli, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
    ak_debug("terminating %s for agent '%s' (pid %d)", t->sni, t->who.agent, t->who.pid);
}

/* ---- routing ---- */

static int classify(struct tunnel *t, const char *host)
{
    int p = ak_llm_host_provider(host);
    return p ? p : t->px->api->classify(host, t->port);
}

/* An LLM connection that cannot be terminated: recorded, then relayed or refused. */
static void cannot_meter(struct tunnel *t, const char *host, int provider, const char *why)
{
    bool block = t->px->cfg->unmetered_tls == AK_UNMETERED_BLOCK;
    char reason[WHY_LEN];
    snprintf(reason, sizeof reason, "egress: %s; %s (egress.unmetered_tls: %s)", why,
             block ? "refused" : "relayed unmetered", block ? "block" : "allow");
    t->px->api->record_unmetered(&t->who, host, provider, reason);
    ak_warn("agent '%s' (pid %d) to %s: %s", t->who.agent, t->who.pid, host, reason);
    if (block)
        tunnel_close(t);
    else
        relay_start(t);
}

static void route(struct tunnel *t, enum sni_result sr)
{
    int by_target = classify(t, t->host);
    int by_sni = sr == SNI_FOUND ? classify(t, t->sni) : 0;
    char why[WHY_LEN];
    if (!by_target && !by_sni) {
        relay_start(t);
        return;
    }
    const char *llm = by_sni ? t->sni : t->host;
    if (peer_shim_meters(t->who.pid)) {
        ak_debug("pid %d meters its own TLS (libakshim.so with a shared libssl): relayed", t->who.pid);
        relay_start(t);
        return;
    }
    if (sr == SNI_NOT_TLS || sr == SNI_BAD) {
        cannot_meter(t, llm, by_target, sr == SNI_NOT_TLS ? "not TLS" : "a malformed ClientHello");
        return;
    }
    if (sr == SNI_NONE) {
        cannot_meter(t, llm, by_target, "a ClientHello without SNI");
        return;
    }
    if (!by_sni) {
        snprintf(why, sizeof why, "SNI '%.64s' on a tunnel to %.64s", t->sni, t->host);
        cannot_meter(t, t->host, by_target, why);
        return;
    }
    t->provider = by_sni;
    SSL_CTX *ctx = proxy_leaf_ctx(t->px, t->sni);
    if (!ctx) {
        snprintf(why, sizeof why, "the host CA cannot sign %.64s (added to hosts: after the CA was "
                 "made? run: akctl ca rotate)", t->sni);
        cannot_meter(t, t->sni, by_sni, why);
        return;
    }
    llm_start(t, ctx);
}

static void peek_read(struct bufferevent *b, void *arg)
{
    struct tunnel *t = arg;
    struct evbuffer *in = bufferevent_get_input(b);
    size_t len = evbuffer_get_length(in);
    if (len > SNI_MAX_PEEK)
        len = SNI_MAX_PEEK;
    const unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)len);
    enum sni_result sr = p ? sni_parse(p, len, t->sni) : SNI_BAD;
    if (sr == SNI_MORE)
        return;
    ak_debug("pid %d: ClientHello for %s (%s)", t->who.pid, sr == SNI_FOUND ? t->sni : t->host,
             sr == SNI_FOUND ? "SNI" : sr == SNI_NONE ? "no SNI" : "not a ClientHello");
    route(t, sr);
}

static void peek_start(struct tunnel *t)
{
    t->st = T_PEEK;
    bufferevent_setcb(t->cli, peek_read, NULL, cli_event, t);
    if (evbuffer_get_length(bufferevent_get_input(t->cli)))
        peek_read(t->cli, t);
}

/* ---- the CONNECT head ---- */

/* The agent in "Proxy-Authorization: Basic base64(agent:)" (curl, Go, Node and reqwest send
 * it from a proxy URL's user part). */
static bool head_claim(const char *head, char *agent, size_t len)
{
    static const char key[] = "\r\nproxy-authorization:";
    for (const char *p = head; (p = strchr(p, '\r')); p++) {
        if (strncasecmp(p, key, sizeof key - 1) != 0)
            continue;
        p += sizeof key - 1;
        p += strspn(p, " \t");
        if (strncasecmp(p, "basic ", 6) != 0)
            return false;
        p += 6;
        p += strspn(p, " \t");
        size_t n = strcspn(p, "\r ");
        unsigned char raw[AK_PEER_AGENT_LEN * 2];
        if (n == 0 || n > (sizeof raw / 3) * 4)
            return false;
        int dl = EVP_DecodeBlock(raw, (const unsigned char *)p, (int)n);
        if (dl <= 0)
            return false;
        raw[dl] = '\0';
        size_t user = strcspn((char *)raw, ":");
        if (user == 0 || user >= len)
            return false;
        for (size_t i = 0; i < user; i++)
            if (raw[i] < 0x21 || raw[i] > 0x7e)
                return false;
        memcpy(agent, raw, user);
        agent[user] = '\0';
        return true;
    }
    return false;
}

/* "CONNECT host:port HTTP/1.x" */
static bool head_target(const char *head, struct tunnel *t)
{
    char method[16], target[SNI_NAME_MAX + 16];
    int major = 0, minor = 0;
    if (sscanf(head, "%15s %271s HTTP/%d.%d", method, target, &major, &minor) != 4 ||
        strcmp(method, "CONNECT") != 0 || major != 1)
        return false;
    char *colon = strrchr(target, ':');
    if (!colon || colon == target)
        return false;
    *colon = '\0';
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port <= 0 || port > 65535)
        return false;
    char *host = target;
    if (host[0] == '[') {            /* [v6]:port */
        size_t hl = strlen(host);
        if (hl < 3 || host[hl - 1] != ']')
            return false;
        host[hl - 1] = '\0';
        host++;
    }
    if (!*host || strlen(host) >= sizeof t->host)
        return false;
    snprintf(t->host, sizeof t->host, "%s", host);
    t->port = (int)port;
    return true;
}

/* GET PX_CA_PATH: the host CA's certificate (public), so that akrun can build trust bundles
 * and check that akproxy answers with one request. */
static void ca_serve(struct tunnel *t)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *pem = NULL;
    long n = 0;
    if (b && PEM_write_bio_X509(b, ak_hostca_cert(t->px->ca)) == 1)
        n = BIO_get_mem_data(b, &pem);
    if (n <= 0) {
        BIO_free(b);
        reply_close(t, 500, "Internal Server Error", "cannot write the CA certificate");
        return;
    }
    evbuffer_add_printf(bufferevent_get_output(t->cli),
                        "HTTP/1.1 200 OK\r\nContent-Type: application/x-pem-file\r\n"
                        "Content-Length: %ld\r\nConnection: close\r\n\r\n", n);
    evbuffer_add(bufferevent_get_output(t->cli), pem, (size_t)n);
    BIO_free(b);
    tunnel_close(t);
}

/* Who is behind the socket, and may it be the agent it claims? */
static bool tunnel_identify(struct tunnel *t, const struct sockaddr *remote_of_client)
{
    char why[WHY_LEN] = "";
    if (!peer_find((struct sockaddr *)&t->peer_sa, remote_of_client, &t->who)) {
        reply_close(t, 403, "Forbidden", "akproxy serves processes of this host only "
                    "(the client socket is not in /proc/net/tcp)");
        return false;
    }
    if (!t->who.agent[0])
        peer_env_agent(t->who.pid, t->who.agent, sizeof t->who.agent);
    if (t->px->api->peer_identify(&t->who, why, sizeof why) != 0) {
        ak_warn("pid %d (uid %u) refused: %s", t->who.pid, t->who.uid, why);
        reply_close(t, 407, "Proxy Authentication Required", why);
        return false;
    }
    return true;
}

static void head_read(struct bufferevent *b, void *arg)
{
    struct tunnel *t = arg;
    struct evbuffer *in = bufferevent_get_input(b);
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    char head[HEAD_MAX + 1];
    if (end.pos < 0) {
        if (evbuffer_get_length(in) > HEAD_MAX)
            reply_close(t, 431, "Request Header Fields Too Large", "the CONNECT head is too long");
        return;
    }
    size_t hl = (size_t)end.pos + 4;
    if (hl > HEAD_MAX) {
        reply_close(t, 431, "Request Header Fields Too Large", "the CONNECT head is too long");
        return;
    }
    evbuffer_remove(in, head, hl);
    head[hl] = '\0';
    if (strncmp(head, "GET " PX_CA_PATH " ", sizeof "GET " PX_CA_PATH) == 0) {
        ca_serve(t);
        return;
    }
    if (!head_target(head, t)) {
        bool other = strncmp(head, "CONNECT ", 8) != 0 && strchr(head, ' ') && strchr(head, ' ') - head < 16;
        reply_close(t, other ? 405 : 400, other ? "Method Not Allowed" : "Bad Request",
                    other ? "akproxy only tunnels HTTPS (CONNECT host:port); set HTTPS_PROXY, not HTTP_PROXY"
                          : "a CONNECT line must read: CONNECT host:port HTTP/1.1");
        return;
    }
    head_claim(head, t->who.agent, sizeof t->who.agent);
    struct sockaddr_storage local;
    socklen_t ll = sizeof local;
    if (getsockname(bufferevent_getfd(b), (struct sockaddr *)&local, &ll) != 0) {
        tunnel_close(t);
        return;
    }
    if (!tunnel_identify(t, (struct sockaddr *)&local))
        return;
    ak_debug("CONNECT %s:%d from pid %d (uid %u) as agent '%s'", t->host, t->port, t->who.pid,
             t->who.uid, t->who.agent);
    evbuffer_add_printf(bufferevent_get_output(b), "HTTP/1.1 200 Connection established\r\n\r\n");
    peek_start(t);
}

/* ---- accept ---- */

static struct tunnel *tunnel_new(struct proxy *px, evutil_socket_t fd, const struct sockaddr *sa,
                                 int salen)
{
    struct tunnel *t = calloc(1, sizeof *t);
    if (!t) {
        evutil_closesocket(fd);
        return NULL;
    }
    t->px = px;
    px->tunnels++;
    nodelay(fd);
    memcpy(&t->peer_sa, sa, (size_t)salen < sizeof t->peer_sa ? (size_t)salen : sizeof t->peer_sa);
    t->cli = bufferevent_socket_new(px->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!t->cli) {
        evutil_closesocket(fd);
        px->tunnels--;
        free(t);
        return NULL;
    }
    struct timeval tv = { HEAD_TIMEOUT_S, 0 };
    bufferevent_set_timeouts(t->cli, &tv, NULL);
    bufferevent_setwatermark(t->cli, EV_READ, 0, SNI_MAX_PEEK);
    return t;
}

void tunnel_accept_connect(struct proxy *px, evutil_socket_t fd, const struct sockaddr *sa, int salen)
{
    struct tunnel *t = tunnel_new(px, fd, sa, salen);
    if (!t)
        return;
    bufferevent_setcb(t->cli, head_read, NULL, cli_event, t);
    bufferevent_enable(t->cli, EV_READ | EV_WRITE);
}

static bool original_dst(evutil_socket_t fd, struct sockaddr_storage *dst, socklen_t *len)
{
    *len = sizeof *dst;
    if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, dst, len) == 0)
        return true;
    *len = sizeof *dst;
    return getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, dst, len) == 0;
}

static bool same_endpoint(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

void tunnel_accept_transparent(struct proxy *px, evutil_socket_t fd, const struct sockaddr *sa,
                               int salen)
{
    struct sockaddr_storage local;
    socklen_t ll = sizeof local;
    struct tunnel *t = tunnel_new(px, fd, sa, salen);
    if (!t)
        return;
    t->transparent = true;
    bufferevent_setcb(t->cli, NULL, NULL, cli_event, t);
    bufferevent_enable(t->cli, EV_READ | EV_WRITE);
    if (getsockname(fd, (struct sockaddr *)&local, &ll) != 0 ||
        !original_dst(fd, &t->dst, &t->dst_len) || same_endpoint(&t->dst, &local)) {
        ak_info("a connection to the transparent listener was not redirected there: closed");
        tunnel_close(t);
        return;
    }
    void *addr = t->dst.ss_family == AF_INET ? (void *)&((struct sockaddr_in *)&t->dst)->sin_addr
                                             : (void *)&((struct sockaddr_in6 *)&t->dst)->sin6_addr;
    inet_ntop(t->dst.ss_family, addr, t->host, sizeof t->host);
    t->port = ntohs(t->dst.ss_family == AF_INET ? ((struct sockaddr_in *)&t->dst)->sin_port
                                                : ((struct sockaddr_in6 *)&t->dst)->sin6_port);
    /* the client's socket names the original destination as its peer, not this listener */
    if (!tunnel_identify(t, (struct sockaddr *)&t->dst))
        return;
    peek_start(t);
}
