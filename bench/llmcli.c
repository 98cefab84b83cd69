/*
 * llmcli.c - a minimal OpenAI chat client in C (OpenSSL, one keep-alive connection), the
 * "agent" of the metered-call benches. It does nothing per call beyond writing the request
 * and framing the reply (Content-Length or chunked), so the shim's share of its CPU shows.
 *
 * usage: llmcli -p PORT -S SNI -m MODE [-r ROUND] [-n CALLS] [-w WARMUP] [-s] [-x PROXY_PORT]
 *   -x: through an HTTPS proxy (akproxy) on 127.0.0.1:PROXY_PORT, CONNECT 127.0.0.1:PORT.
 *   without -s: CALLS chat completions; prints p50 and mean latency and CPU per call;
 *   with -s:    CALLS streamed completions (SSE); prints time and CPU per stream and per chunk.
 * The first WARMUP calls are not measured (the shim loads its engine and opens the ledger on
 * the first one). Exits non-zero on any reply that is not a complete 200.
 */
#include "bench/benchlib.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#define RBUF 65536
#define DEFAULT_CALLS 2000
#define DEFAULT_WARMUP 50
#define HTTP_OK 200
#define HDR_END "\r\n\r\n"
#define CRLF "\r\n"
#define HEX 16

#define CHAT_BODY "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\"," \
    "\"content\":\"Say hello.\"}],\"max_tokens\":16}"
#define STREAM_BODY "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\"," \
    "\"content\":\"Count to ten thousand.\"}],\"max_tokens\":16000,\"stream\":true," \
    "\"stream_options\":{\"include_usage\":true}}"

struct conn {
    SSL *ssl;
    char buf[RBUF];
    size_t have;
};

struct reply_info {
    int status;
    long chunks;                  /* HTTP chunks in a chunked body */
};

static int conn_fill(struct conn *c)
{
    size_t n = 0;
    if (c->have == RBUF || SSL_read_ex(c->ssl, c->buf + c->have, RBUF - c->have, &n) != 1)
        return -1;
    c->have += n;
    return 0;
}

static void conn_consume(struct conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->have - n);
    c->have -= n;
}

/* Header value of `name` (with the colon) in the head, or NULL. */
static const char *head_find(const char *head, const char *end, const char *name)
{
    for (const char *p = head; p < end;) {
        if (strncasecmp(p, name, strlen(name)) == 0)
            return p + strlen(name);
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        p = nl + 1;
    }
    return NULL;
}

static int read_chunked(struct conn *c, struct reply_info *ri)
{
    for (;;) {
        char *nl;
        while (!(nl = memmem(c->buf, c->have, CRLF, strlen(CRLF))))
            if (conn_fill(c) != 0)
                return -1;
        size_t line = (size_t)(nl - c->buf) + strlen(CRLF);
        size_t size = strtoul(c->buf, NULL, HEX);
        size_t need = line + size + strlen(CRLF);
        while (c->have < need)
            if (conn_fill(c) != 0)
                return -1;
        conn_consume(c, need);
        if (size == 0)
            return 0;             /* last chunk, no trailers */
        ri->chunks++;
    }
}

static int read_reply(struct conn *c, struct reply_info *ri)
{
    char *end;
    ri->chunks = 0;
    while (!(end = memmem(c->buf, c->have, HDR_END, strlen(HDR_END))))
        if (conn_fill(c) != 0)
            return -1;
    size_t head = (size_t)(end - c->buf) + strlen(HDR_END);
    ri->status = c->have > strlen("HTTP/1.1 ") ? atoi(c->buf + strlen("HTTP/1.1 ")) : 0;
    const char *te = head_find(c->buf, end, "transfer-encoding:");
    const char *cl = head_find(c->buf, end, "content-length:");
    bool chunked = te && strncasecmp(te + strspn(te, " "), "chunked", strlen("chunked")) == 0;
    size_t body = cl ? strtoul(cl, NULL, 10) : 0;
    conn_consume(c, head);
    if (chunked)
        return read_chunked(c, ri);
    while (c->have < body)
        if (conn_fill(c) != 0)
            return -1;
    conn_consume(c, body);
    return 0;
}

static int call_once(struct conn *c, const char *req, size_t len, struct reply_info *ri)
{
    if (bl_ssl_write_all(c->ssl, req, len) != 0 || read_reply(c, ri) != 0)
        return -1;
    return ri->status == HTTP_OK ? 0 : -1;
}

static char *request_build(const char *sni, bool stream, size_t *len)
{
    const char *body = stream ? STREAM_BODY : CHAT_BODY;
    char *req = NULL;
    int n = asprintf(&req, "POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\n"
                     "Authorization: Bearer bench-dummy-key\r\nContent-Type: application/json\r\n"
                     "Accept: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     sni, strlen(body), body);
    if (n < 0)
        return NULL;
    *len = (size_t)n;
    return req;
}

/* A CONNECT tunnel through the proxy on 127.0.0.1:proxy to 127.0.0.1:port; -1 on failure. */
static int connect_via(int proxy, int port)
{
    char head[256], reply[1024];
    int fd = bl_connect("127.0.0.1", proxy);
    int n = snprintf(head, sizeof head, "CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     "Proxy-Authorization: Basic YmVuY2g6\r\n\r\n", port, port);  /* bench: */
    size_t got = 0;
    if (fd < 0 || write(fd, head, (size_t)n) != n)
        goto fail;
    while (got < sizeof reply - 1 && !memmem(reply, got, HDR_END, 4)) {
        ssize_t r = read(fd, reply + got, 1);   /* byte by byte: nothing past the head */
        if (r <= 0)
            goto fail;
        got += (size_t)r;
    }
    if (got < 12 || memcmp(reply, "HTTP/1.1 200", 12) != 0)
        goto fail;
    return fd;
fail:
    if (fd >= 0)
        close(fd);
    return -1;
}

int main(int argc, char **argv)
{
    const char *sni = NULL, *mode = "plain";
    int port = 0, round = 0, calls = DEFAULT_CALLS, warmup = DEFAULT_WARMUP, opt;
    bool stream = false;
    int proxy = 0;
    while ((opt = getopt(argc, argv, "p:S:m:r:n:w:sx:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'S': sni = optarg; break;
        case 'm': mode = optarg; break;
        case 'r': round = atoi(optarg); break;
        case 'n': calls = atoi(optarg); break;
        case 'w': warmup = atoi(optarg); break;
        case 's': stream = true; break;
        case 'x': proxy = atoi(optarg); break;
        default: goto usage;
        }
    }
    if (!port || !sni || calls <= 0 || warmup < 0)
        goto usage;
    size_t len = 0;
    char *req = request_build(sni, stream, &len);
    double *lat = calloc((size_t)calls, sizeof *lat);
    struct conn *c = calloc(1, sizeof *c);
    SSL_CTX *ctx = bl_client_ctx();
    int fd = proxy ? connect_via(proxy, port) : bl_connect("127.0.0.1", port);
    if (!req || !lat || !c || !ctx || fd < 0 || !(c->ssl = bl_client_ssl(ctx, fd, sni))) {
        fprintf(stderr, "llmcli: cannot connect to 127.0.0.1:%d as %s\n", port, sni);
        return 1;
    }
    struct reply_info ri;
    for (int i = 0; i < warmup; i++)
        if (call_once(c, req, len, &ri) != 0)
            goto failed;
    int64_t c0 = bl_cpu_ns(RUSAGE_SELF), w0 = bl_now_ns();
    for (int i = 0; i < calls; i++) {
        int64_t t0 = bl_now_ns();
        if (call_once(c, req, len, &ri) != 0)
            goto failed;
        lat[i] = (double)(bl_now_ns() - t0) / BL_NS_PER_US;
    }
    double cpu_us = (double)(bl_cpu_ns(RUSAGE_SELF) - c0) / BL_NS_PER_US / calls;
    double mean_us = (double)(bl_now_ns() - w0) / BL_NS_PER_US / calls;
    double p50 = bl_median(lat, (size_t)calls);
    if (stream)
        printf("RESULT bench=stream mode=%s round=%d total=%d chunks=%ld us_per_stream=%.1f "
               "ns_per_chunk=%.1f cpu_ns_per_chunk=%.1f\n", mode, round, warmup + calls, ri.chunks, p50,
               p50 * BL_NS_PER_US / (double)ri.chunks, cpu_us * BL_NS_PER_US / (double)ri.chunks);
    else
        printf("RESULT bench=call mode=%s round=%d total=%d p50_us=%.1f mean_us=%.1f cpu_us=%.2f "
               "calls_s=%.0f\n", mode, round, warmup + calls, p50, mean_us, cpu_us, 1e6 / mean_us);
    bl_ssl_close(c->ssl, fd);
    SSL_CTX_free(ctx);
    free(c);
    free(lat);
    free(req);
    return 0;
failed:
    fprintf(stderr, "llmcli: bad or incomplete reply (status %d)\n", ri.status);
    return 1;
usage:
    fprintf(stderr, "usage: llmcli -p PORT -S SNI [-m MODE] [-r ROUND] [-n CALLS] [-w WARMUP] "
                    "[-s]\n");
    return 2;
}
