/*
 * http.c - libcurl helpers (see http.h). Every call uses a fresh easy handle: the collector
 * sends a few requests per second at most, and a fresh handle keeps state from leaking
 * between sinks. Bodies of error responses are kept short for the one log line.
 */
#include "collector/http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define HTTP_ERRBODY_MAX 160      /* bytes of an error response quoted in the log */
#define HTTP_RESP_MAX (64 * 1024) /* response bytes kept; the rest is read and dropped */
#define HTTP_STATUS_OK_MIN 200
#define HTTP_STATUS_OK_MAX 299
#define HTTP_STATUS_CLIENT_MIN 400
#define HTTP_STATUS_TOO_MANY 429
#define HTTP_STATUS_SERVER_MIN 500
#define MAIL_DATE_LEN 64

enum ak_err akc_http_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? AK_OK : AK_ERR_INTERNAL;
}

void akc_http_global_cleanup(void) { curl_global_cleanup(); }

static size_t http_sink(char *p, size_t size, size_t n, void *ud)
{
    struct ak_buf *b = ud;
    size_t len = size * n;
    if (b->len < HTTP_RESP_MAX)
        (void)ak_buf_append(b, p, len < HTTP_RESP_MAX - b->len ? len : HTTP_RESP_MAX - b->len, 0);
    return len;
}

enum akc_outcome akc_http_classify(long status, const long *retry_statuses, size_t n)
{
    if (status >= HTTP_STATUS_OK_MIN && status <= HTTP_STATUS_OK_MAX)
        return AKC_DELIVERED;
    if (retry_statuses) {
        for (size_t i = 0; i < n; i++)
            if (retry_statuses[i] == status)
                return AKC_RETRY;
        return status >= HTTP_STATUS_CLIENT_MIN ? AKC_REJECTED : AKC_RETRY;
    }
    if (status == HTTP_STATUS_TOO_MANY || status >= HTTP_STATUS_SERVER_MIN)
        return AKC_RETRY;
    return status >= HTTP_STATUS_CLIENT_MIN ? AKC_REJECTED : AKC_RETRY;
}

static void http_easy_common(CURL *c, struct ak_buf *resp)
{
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)AKC_HTTP_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)AKC_HTTP_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "akcollector/1");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,smtp,smtps");
    if (resp) {
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_sink);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    }
}

enum akc_outcome akc_http_post_json(const char *url, const char *const *headers,
                                    const char *body, size_t len, struct akc_http_result *res)
{
    enum akc_outcome out = AKC_RETRY;
    struct curl_slist *hl = NULL, *tmp;
    struct ak_buf resp = { 0 };
    CURL *c = NULL;
    memset(res, 0, sizeof *res);
    if (!url || !*url) {
        snprintf(res->error, sizeof res->error, "no URL configured");
        out = AKC_REJECTED;
        goto out;
    }
    c = curl_easy_init();
    if (!c) {
        snprintf(res->error, sizeof res->error, "curl_easy_init failed");
        goto out;
    }
    tmp = curl_slist_append(hl, "Content-Type: application/json");
    if (!tmp)
        goto out;
    hl = tmp;
    for (size_t i = 0; headers && headers[i]; i++) {
        tmp = curl_slist_append(hl, headers[i]);
        if (!tmp)
            goto out;
        hl = tmp;
    }
    http_easy_common(c, &resp);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        snprintf(res->error, sizeof res->error, "%s", curl_easy_strerror(rc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
    out = akc_http_classify(res->status, NULL, 0);
    if (out != AKC_DELIVERED)
        snprintf(res->error, sizeof res->error, "HTTP %ld: %.*s", res->status,
                 (int)(resp.len < HTTP_ERRBODY_MAX ? resp.len : HTTP_ERRBODY_MAX),
                 resp.data ? (const char *)resp.data : "");
out:
    if (c)
        curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    ak_buf_free(&resp);
    return out;
}

struct mail_src {
    const char *p;
    size_t left;
};

static size_t mail_read(char *dst, size_t size, size_t n, void *ud)
{
    struct mail_src *m = ud;
    size_t want = size * n;
    if (want > m->left)
        want = m->left;
    memcpy(dst, m->p, want);
    m->p += want;
    m->left -= want;
    return want;
}

/* The message: headers, a blank line and the body, with CRLF line ends. */
static enum ak_err mail_build(struct ak_buf *msg, const char *from, char *const *to, size_t n_to,
                              const char *subject, const char *body)
{
    char date[MAIL_DATE_LEN];
    time_t t = (time_t)(ak_now_ms() / AK_MS_PER_S);   /* the clock tests pin */
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    enum ak_err err = ak_buf_printf(msg, "Date: %s\r\nFrom: %s\r\nTo: ", date, from);
    for (size_t i = 0; err == AK_OK && i < n_to; i++)
        err = ak_buf_printf(msg, "%s%s", i ? ", " : "", to[i]);
    if (err == AK_OK)
        err = ak_buf_printf(msg, "\r\nSubject: %s\r\nMIME-Version: 1.0\r\n"
                                 "Content-Type: text/plain; charset=utf-8\r\n\r\n", subject);
    for (const char *p = body; err == AK_OK && *p; p++)
        err = *p == '\n' ? ak_buf_append(msg, "\r\n", 2, 0) : ak_buf_append(msg, p, 1, 0);
    if (err == AK_OK)
        err = ak_buf_append(msg, "\r\n", 2, 0);
    return err;
}

enum akc_outcome akc_smtp_send(const char *smtp_url, const char *from, char *const *to,
                               size_t n_to, const char *subject, const char *body,
                               struct akc_http_result *res)
{
    enum akc_outcome out = AKC_RETRY;
    struct curl_slist *rcpt = NULL, *tmp;
    struct ak_buf msg = { 0 };
    CURL *c = NULL;
    memset(res, 0, sizeof *res);
    if (!smtp_url || !*smtp_url || !from || !*from || n_to == 0) {
        snprintf(res->error, sizeof res->error, "smtp_url, from and to are required");
        out = AKC_REJECTED;
        goto out;
    }
    if (mail_build(&msg, from, to, n_to, subject, body) != AK_OK)
        goto out;
    for (size_t i = 0; i < n_to; i++) {
        tmp = curl_slist_append(rcpt, to[i]);
        if (!tmp)
            goto out;
        rcpt = tmp;
    }
    c = curl_easy_init();
    if (!c)
        goto out;
    struct mail_src src = { (const char *)msg.data, msg.len };
    http_easy_common(c, NULL);
    curl_easy_setopt(c, CURLOPT_URL, smtp_url);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, mail_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &src);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
    if (rc == CURLE_OK) {
        out = AKC_DELIVERED;
        goto out;
    }
    snprintf(res->error, sizeof res->error, "%s (SMTP %ld)", curl_easy_strerror(rc), res->status);
    /* SMTP 5xx replies are permanent refusals; 4xx and network trouble are worth a retry */
    out = res->status >= HTTP_STATUS_SERVER_MIN ? AKC_REJECTED : AKC_RETRY;
out:
    if (c)
        curl_easy_cleanup(c);
    curl_slist_free_all(rcpt);
    ak_buf_free(&msg);
    return out;
}

bool akc_http_probe(const char *url, char *err, size_t errlen)
{
    bool ok = false;
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "curl_easy_init failed");
        return false;
    }
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)AKC_PROBE_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)AKC_PROBE_TIMEOUT_MS);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        ok = true;
    else
        snprintf(err, errlen, "%s", curl_easy_strerror(rc));
    curl_easy_cleanup(c);
    return ok;
}
