/*
 * akproxy.h - the egress plane's daemon context (akproxy.c owns it) and the tunnel life cycle
 * (tunnel.c). One event loop; every tunnel is two bufferevents (client, upstream), plus a TLS
 * filter on the client side when akproxy terminates an LLM host.
 */
#ifndef AK_AKPROXY_H
#define AK_AKPROXY_H

#include <event2/event.h>
#include <event2/dns.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include <stdbool.h>

#include "core/config.h"
#include "core/hostca.h"
#include "engine/engine_api.h"

#define PX_HIGH_WATER (256 * 1024)   /* a side's output buffer above this stops the other side reading */
#define PX_CHUNK 16384               /* bytes handed to the engine at a time */
#define PX_CA_PATH "/agentkavach/ca.pem"  /* GET on the CONNECT listener: the host CA (akrun) */

struct leaf;

struct proxy {
    struct event_base *base;
    struct evdns_base *dns;
    const struct ak_engine_api *api;
    struct ak_config *cfg;           /* egress keys and hosts (the engine keeps its own copy) */
    const char *config_path;
    struct ak_hostca *ca;
    struct leaf *leaves;             /* one server SSL_CTX per LLM host name, minted on demand */
    SSL_CTX *up_ctx;                 /* toward providers: the system trust store, http/1.1 */
    struct evconnlistener *lis_connect, *lis_transparent;
    struct event *ev_term, *ev_int, *ev_hup;
    int spare_fd;                    /* given up to accept-and-refuse when fds run out */
    unsigned long tunnels;           /* open now */
};

/* tunnel.c */
void tunnel_accept_connect(struct proxy *px, evutil_socket_t fd, const struct sockaddr *sa, int salen);
void tunnel_accept_transparent(struct proxy *px, evutil_socket_t fd, const struct sockaddr *sa, int salen);

/* akproxy.c: the server context for an LLM host (NULL when the CA cannot sign it). */
SSL_CTX *proxy_leaf_ctx(struct proxy *px, const char *host);

#endif
