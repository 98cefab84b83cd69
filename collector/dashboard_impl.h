/*
 * dashboard_impl.h - what the dashboard*.c files share: the server's state (one struct,
 * hung off struct akc), one request, and the response helpers. Not used outside them.
 *
 * Threads: libmicrohttpd runs each connection on its own thread. The ledger handle is safe
 * to share between threads; the configuration is read under c->cfg_lock (a SIGHUP reload
 * swaps it); the exporters' health is a snapshot the service loop publishes under `mu`.
 */
#ifndef AKC_DASHBOARD_IMPL_H
#define AKC_DASHBOARD_IMPL_H

#include "collector/collector.h"
#include "collector/dashboard.h"
#include "core/buf.h"

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#define AKD_TOKEN_HEX 64              /* 32 random bytes */
#define AKD_PEER_TEXT 64              /* "[ffff:...]:65535" */
#define AKD_BODY_MAX 4096             /* a POST body larger than this gets 413 */
#define AKD_MAX_EXPORTERS 8

struct akd_exporter_health {
    char name[AKC_EXPORTER_NAME];
    char kind[AKC_EXPORTER_NAME];
    unsigned failures;            /* consecutive */
    int64_t next_ms;              /* next attempt when failing */
    int64_t last_export_ms;
};

struct akd {
    struct akc *c;
    struct MHD_Daemon *mhd;
    char token[AKD_TOKEN_HEX + 1];
    char web_dir[PATH_MAX];
    atomic_bool stopping;         /* streams end when set */
    pthread_mutex_t mu;           /* guards the health snapshot */
    struct akd_exporter_health ex[AKD_MAX_EXPORTERS];
    size_t n_ex;
    int64_t published_ms;
};

/* One request: its connection, the peer ("127.0.0.1:51234"), and a POST body. */
struct akd_req {
    struct akd *d;
    struct MHD_Connection *conn;
    const char *method, *url;
    char peer[AKD_PEER_TEXT];
    struct ak_buf body;
    bool too_big;
};

/* ---- responses (dashboard.c) ---- */
enum MHD_Result akd_send(struct akd_req *r, unsigned status, const char *type, const char *body,
                         size_t len);
/* {"error": message} with the status. */
enum MHD_Result akd_error(struct akd_req *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sends the JSON (and deletes it); 500 when it is NULL (out of memory). */
enum MHD_Result akd_json(struct akd_req *r, unsigned status, cJSON *json);
/* The strict headers every response carries (CSP, nosniff, no-store ...). */
void akd_headers(struct MHD_Response *resp, bool is_api);
/* A query argument, NULL when absent. */
const char *akd_arg(struct akd_req *r, const char *name);

/* ---- the API ---- */
enum MHD_Result akd_api_status(struct akd_req *r);
enum MHD_Result akd_api_events(struct akd_req *r);
enum MHD_Result akd_api_report(struct akd_req *r);
enum MHD_Result akd_api_health(struct akd_req *r);
/* POST /api/agents/NAME/ACTION and /api/shared/NAME/budget; `rest` is what follows /api/. */
enum MHD_Result akd_api_action(struct akd_req *r, const char *rest);
enum MHD_Result akd_api_stream(struct akd_req *r);

#endif
