/*
 * dashboard.c - the dashboard's server (see dashboard.h): the libmicrohttpd daemon on
 * dashboard.listen, the bearer token (read, or created 0600 on first start), the routing of
 * each request, the authentication of /api/ requests, the strict headers of every response,
 * and the page's static files (a fixed list: nothing else on disk can be asked for).
 *
 * A control plane, so: the token is compared in constant time; a POST must carry it in the
 * Authorization header (a cookie is never looked at), so a cross-site form cannot act; a
 * POST whose Origin is not this server's is refused; no CORS header is ever sent, so another
 * origin's script can read nothing; bodies are capped at AKD_BODY_MAX.
 */
#include "collector/dashboard_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN_MODE 0600
#define TOKEN_BYTES (AKD_TOKEN_HEX / 2)
#define TOKEN_MIN 16                  /* a hand-written token shorter than this is refused */
#define CONN_LIMIT 64
#define CONN_TIMEOUT_S 60
#define BEARER "Bearer "
#define API_PREFIX "/api/"
#define CHART_JS "/usr/share/javascript/chart.js/chart.min.js"   /* Debian's libjs-chart.js */

#define CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
            "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* ---- responses ---- */

void akd_headers(struct MHD_Response *resp, bool is_api)
{
    MHD_add_response_header(resp, "Content-Security-Policy", CSP);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
    MHD_add_response_header(resp, "Cache-Control", is_api ? "no-store" : "no-cache");
}

enum MHD_Result akd_send(struct akd_req *r, unsigned status, const char *type, const char *body,
                         size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    akd_headers(resp, true);
    MHD_add_response_header(resp, "Content-Type", type);
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"agentkavach\"");
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result akd_json(struct akd_req *r, unsigned status, cJSON *json)
{
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!text)
        return akd_send(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json",
                        "{\"error\":\"out of memory\"}", strlen("{\"error\":\"out of memory\"}"));
    enum MHD_Result ret = akd_send(r, status, "application/json", text, strlen(text));
    free(text);
    return ret;
}

enum MHD_Result akd_error(struct akd_req *r, unsigned status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    if (o && !cJSON_AddStringToObject(o, "error", msg)) {
        cJSON_Delete(o);
        o = NULL;
    }
    return akd_json(r, status, o);
}

const char *akd_arg(struct akd_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* ---- the token ---- */

static enum ak_err token_create(const char *path, char out[AKD_TOKEN_HEX + 1])
{
    unsigned char raw[TOKEN_BYTES];
    static const char hex[] = "0123456789abcdef";
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return AK_ERR_IO;
    for (size_t i = 0; i < sizeof raw; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[AKD_TOKEN_HEX] = '\0';
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, TOKEN_MODE);
    if (fd < 0)
        return AK_ERR_IO;
    char line[AKD_TOKEN_HEX + 2];
    snprintf(line, sizeof line, "%s\n", out);
    bool ok = write(fd, line, strlen(line)) == (ssize_t)strlen(line) && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok)
        unlink(path);
    ak_warn("dashboard: created the token file %s (0600)", path);
    return ok ? AK_OK : AK_ERR_IO;
}

static enum ak_err token_read(const char *path, char out[AKD_TOKEN_HEX + 1])
{
    struct stat st;
    char buf[AKD_TOKEN_HEX + 2];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? AK_ERR_NOTFOUND : AK_ERR_IO;
    enum ak_err rc = AK_ERR_IO;
    if (fstat(fd, &st) != 0)
        goto out;
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        ak_error("dashboard: %s is readable by others (mode %03o); chmod 600 it", path,
                 (unsigned)(st.st_mode & ACCESSPERMS));
        rc = AK_ERR_CONFIG;
        goto out;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n < 0)
        goto out;
    buf[n] = '\0';
    buf[strcspn(buf, " \t\r\n")] = '\0';
    if (strlen(buf) < TOKEN_MIN || strlen(buf) > AKD_TOKEN_HEX) {
        ak_error("dashboard: the token in %s must be %d to %d characters", path, TOKEN_MIN,
                 AKD_TOKEN_HEX);
        rc = AK_ERR_CONFIG;
        goto out;
    }
    memcpy(out, buf, strlen(buf) + 1);
    rc = AK_OK;
out:
    close(fd);
    return rc;
}

static enum ak_err token_load(const char *path, char out[AKD_TOKEN_HEX + 1])
{
    enum ak_err rc = token_read(path, out);
    if (rc == AK_ERR_NOTFOUND)
        rc = token_create(path, out);
    if (rc == AK_ERR_IO)
        ak_error("dashboard: cannot read or create the token file %s: %s", path, strerror(errno));
    return rc;
}

/* Constant time in the token's content. */
static bool token_ok(const struct akd *d, const char *auth)
{
    size_t bl = strlen(BEARER), tl = strlen(d->token);
    if (!auth || strncmp(auth, BEARER, bl) != 0 || strlen(auth + bl) != tl)
        return false;
    return CRYPTO_memcmp(auth + bl, d->token, tl) == 0;
}

/* ---- requests ---- */

static void peer_text(struct MHD_Connection *conn, char out[AKD_PEER_TEXT])
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    snprintf(out, AKD_PEER_TEXT, "?");
    if (!ci || !ci->client_addr)
        return;
    if (ci->client_addr->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ci->client_addr;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
        snprintf(out, AKD_PEER_TEXT, "%s:%u", host, port);
    } else if (ci->client_addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ci->client_addr;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
        snprintf(out, AKD_PEER_TEXT, "[%s]:%u", host, port);
    }
}

/* A POST from a page of another origin: its Origin header names another host than the one
 * asked for (http, or https through a TLS proxy in front when allow_remote is on). */
static bool origin_foreign(struct akd_req *r)
{
    const char *origin = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Host");
    if (!origin)
        return false;
    if (!host)
        return true;
    const char *rest = strncmp(origin, "http://", strlen("http://")) == 0 ? origin + strlen("http://")
                     : strncmp(origin, "https://", strlen("https://")) == 0 ? origin + strlen("https://")
                     : NULL;
    return !rest || strcmp(rest, host) != 0;
}

static const struct { const char *url, *file, *type; } statics[] = {
    { "/", "index.html", "text/html; charset=utf-8" },
    { "/index.html", "index.html", "text/html; charset=utf-8" },
    { "/app.js", "app.js", "text/javascript; charset=utf-8" },
    { "/app.css", "app.css", "text/css; charset=utf-8" },
    { "/vendor/chart.min.js", NULL, "text/javascript; charset=utf-8" },
};

static enum MHD_Result serve_static(struct akd_req *r)
{
    char path[PATH_MAX];
    for (size_t i = 0; i < AK_ARRAY_LEN(statics); i++) {
        if (strcmp(r->url, statics[i].url) != 0)
            continue;
        int n = statics[i].file ? snprintf(path, sizeof path, "%s/%s", r->d->web_dir, statics[i].file)
                                : snprintf(path, sizeof path, "%s", CHART_JS);
        if (n < 0 || (size_t)n >= sizeof path)
            return akd_error(r, MHD_HTTP_NOT_FOUND, "dashboard.web_dir is too long");
        struct stat st;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            if (fd >= 0)
                close(fd);
            return akd_error(r, MHD_HTTP_NOT_FOUND, "%s is not installed", path);
        }
        struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
        if (!resp) {
            close(fd);
            return MHD_NO;
        }
        akd_headers(resp, false);
        MHD_add_response_header(resp, "Content-Type", statics[i].type);
        enum MHD_Result ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    return akd_error(r, MHD_HTTP_NOT_FOUND, "no such page: %s", r->url);
}

static enum MHD_Result route_api(struct akd_req *r)
{
    const char *rest = r->url + strlen(API_PREFIX);
    bool get = strcmp(r->method, MHD_HTTP_METHOD_GET) == 0;
    bool post = strcmp(r->method, MHD_HTTP_METHOD_POST) == 0;
    if (!token_ok(r->d, MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_AUTHORIZATION)))
        return akd_error(r, MHD_HTTP_UNAUTHORIZED,
                         "send the dashboard token as 'Authorization: Bearer TOKEN'");
    if (post && origin_foreign(r))
        return akd_error(r, MHD_HTTP_FORBIDDEN, "cross-origin request refused");
    if (r->too_big)
        return akd_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "the body is larger than %d bytes",
                         AKD_BODY_MAX);
    if (get && strcmp(rest, "status") == 0)
        return akd_api_status(r);
    if (get && strcmp(rest, "events") == 0)
        return akd_api_events(r);
    if (get && strcmp(rest, "report") == 0)
        return akd_api_report(r);
    if (get && strcmp(rest, "health") == 0)
        return akd_api_health(r);
    if (get && strcmp(rest, "stream") == 0)
        return akd_api_stream(r);
    if (post && (strncmp(rest, "agents/", strlen("agents/")) == 0 ||
                 strncmp(rest, "shared/", strlen("shared/")) == 0 ||
                 strncmp(rest, "all/", strlen("all/")) == 0))
        return akd_api_action(r, rest);
    if (!get && !post)
        return akd_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "%s is not served here", r->method);
    return akd_error(r, MHD_HTTP_NOT_FOUND, "no such API: %s %s", r->method, r->url);
}

/* A Content-Length over the cap is refused before any of the body is read. */
static bool length_too_big(struct MHD_Connection *conn)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    return cl && strtoull(cl, NULL, 10) > AKD_BODY_MAX;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    struct akd *d = cls;
    struct akd_req *r = *con_cls;
    if (!r) {                                   /* first call: headers only */
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->d = d;
        r->conn = conn;
        peer_text(conn, r->peer);
        r->too_big = length_too_big(conn);
        *con_cls = r;
        if (!r->too_big || strncmp(url, API_PREFIX, strlen(API_PREFIX)) != 0)
            return MHD_YES;
    }
    r->method = method;
    r->url = url;
    if (*upload_size) {                         /* body bytes: keep up to the cap */
        if (!r->too_big && ak_buf_append(&r->body, upload_data, *upload_size, AKD_BODY_MAX) != AK_OK)
            r->too_big = true;
        *upload_size = 0;
        return MHD_YES;
    }
    if (strncmp(url, API_PREFIX, strlen(API_PREFIX)) == 0)
        return route_api(r);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return akd_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "the page only answers GET");
    return serve_static(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct akd_req *r = *con_cls;
    if (!r)
        return;
    ak_buf_free(&r->body);
    free(r);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    ak_info("dashboard: %s", msg);
}

/* ---- start and stop ---- */

static enum ak_err dash_listen(struct akd *d, const struct ak_config *cfg)
{
    struct sockaddr_storage ss;
    unsigned len = 0;
    bool loopback = false;
    if (!ak_listen_parse(cfg->dashboard_listen, &ss, &len, &loopback))
        return AK_ERR_CONFIG;
    if (!loopback && !cfg->dashboard_allow_remote) {
        ak_error("dashboard: %s is not a loopback address; set dashboard.allow_remote: true to "
                 "serve the control plane beyond this host", cfg->dashboard_listen);
        return AK_ERR_CONFIG;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ERROR_LOG | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    d->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, d,
                              MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, d,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, d,
                              MHD_OPTION_END);
    if (!d->mhd) {
        ak_error("dashboard: cannot listen on %s: %s", cfg->dashboard_listen, strerror(errno));
        return AK_ERR_IO;
    }
    return AK_OK;
}

bool akc_dash_check(const struct ak_config *cfg, char *msg, size_t len)
{
    struct sockaddr_storage ss;
    struct stat st;
    char path[PATH_MAX];
    unsigned sl = 0;
    bool loopback = false;
    if (!cfg->dashboard_listen) {
        snprintf(msg, len, "off (no dashboard.listen)");
        return true;
    }
    if (!ak_listen_parse(cfg->dashboard_listen, &ss, &sl, &loopback) ||
        (!loopback && !cfg->dashboard_allow_remote)) {
        snprintf(msg, len, "%s is not a loopback address (dashboard.allow_remote is false)",
                 cfg->dashboard_listen);
        return false;
    }
    int n = snprintf(path, sizeof path, "%s/index.html", cfg->dashboard_web_dir);
    if (n < 0 || (size_t)n >= sizeof path || access(path, R_OK) != 0) {
        snprintf(msg, len, "the page is not installed in %s", cfg->dashboard_web_dir);
        return false;
    }
    if (stat(cfg->dashboard_token_file, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO))) {
        snprintf(msg, len, "%s is readable by others; chmod 600 it", cfg->dashboard_token_file);
        return false;
    }
    snprintf(msg, len, "http://%s/ (token %s %s)", cfg->dashboard_listen, cfg->dashboard_token_file,
             access(cfg->dashboard_token_file, F_OK) == 0 ? "present" : "created on first start");
    return true;
}

enum ak_err akc_dash_start(struct akc *c)
{
    const struct ak_config *cfg = c->cfg;
    if (!cfg->dashboard_listen)
        return AK_OK;
    struct akd *d = calloc(1, sizeof *d);
    if (!d)
        return AK_ERR_NOMEM;
    d->c = c;
    pthread_mutex_init(&d->mu, NULL);
    snprintf(d->web_dir, sizeof d->web_dir, "%s", cfg->dashboard_web_dir);
    enum ak_err rc = token_load(cfg->dashboard_token_file, d->token);
    if (rc == AK_OK)
        rc = dash_listen(d, cfg);
    if (rc != AK_OK) {
        pthread_mutex_destroy(&d->mu);
        free(d);
        return rc;
    }
    c->dash = d;
    akc_dash_publish(c);
    ak_info("dashboard on http://%s/ (token in %s)", cfg->dashboard_listen,
            cfg->dashboard_token_file);
    return AK_OK;
}

void akc_dash_stop(struct akc *c)
{
    struct akd *d = c->dash;
    if (!d)
        return;
    atomic_store(&d->stopping, true); /* streams notice within one poll */
    MHD_stop_daemon(d->mhd);
    pthread_mutex_destroy(&d->mu);
    free(d);
    c->dash = NULL;
}

void akc_dash_publish(struct akc *c)
{
    struct akd *d = c->dash;
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    d->n_ex = 0;
    for (size_t i = 0; i < c->n_ex && d->n_ex < AKD_MAX_EXPORTERS; i++) {
        const struct akc_exporter *e = c->ex[i];
        struct akd_exporter_health *h = &d->ex[d->n_ex++];
        snprintf(h->name, sizeof h->name, "%s", e->name);
        snprintf(h->kind, sizeof h->kind, "%s", e->ops->kind);
        h->failures = e->backoff.failures;
        h->next_ms = e->backoff.next_ms;
        h->last_export_ms = e->last_export_ms;
    }
    d->published_ms = ak_now_ms();
    pthread_mutex_unlock(&d->mu);
}
