/*
 * http.h - the collector's one way to talk to the network: small synchronous libcurl
 * helpers with short timeouts (an HTTP POST of JSON, an SMTP send, a reachability probe).
 * Results are classified the way every sink documents them: 2xx delivered, 429 / 5xx /
 * network trouble retryable, other 4xx permanent.
 */
#ifndef AKC_HTTP_H
#define AKC_HTTP_H

#include "core/ak.h"
#include "core/buf.h"

#define AKC_HTTP_TIMEOUT_MS 10000
#define AKC_HTTP_CONNECT_TIMEOUT_MS 3000
#define AKC_PROBE_TIMEOUT_MS 2000

enum akc_outcome {
    AKC_DELIVERED = 0,
    AKC_RETRY,                    /* try again later (network, 429, 5xx) */
    AKC_REJECTED,                 /* the receiver refused it for good (4xx) */
};

struct akc_http_result {
    long status;                  /* 0 when no response */
    char error[256];              /* curl's message or "HTTP 400: <body start>" */
};

/* Sets up libcurl once per process (not thread-safe; call from main). */
enum ak_err akc_http_global_init(void);
void akc_http_global_cleanup(void);

/* POSTs body as JSON with the extra headers ("Name: value", NULL-terminated list). */
enum akc_outcome akc_http_post_json(const char *url, const char *const *headers,
                                    const char *body, size_t len, struct akc_http_result *res);
/* Classifies an HTTP status; `retry_statuses` NULL means "429 and every 5xx". */
enum akc_outcome akc_http_classify(long status, const long *retry_statuses, size_t n);

/* Sends a plain-text mail through smtp_url (smtp:// or smtps://). */
enum akc_outcome akc_smtp_send(const char *smtp_url, const char *from, char *const *to,
                               size_t n_to, const char *subject, const char *body,
                               struct akc_http_result *res);

/* Can we open a TCP connection to the URL's host and port? */
bool akc_http_probe(const char *url, char *err, size_t errlen);

#endif
