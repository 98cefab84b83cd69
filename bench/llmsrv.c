/*
 * llmsrv.c - a local OpenAI-compatible TLS server that answers at once, so that a client's
 * cost per call is what the bench sees, not the server's. One thread per connection,
 * HTTP/1.1 keep-alive, replies built once at start:
 *   - a fixed chat.completion JSON (Content-Length) for a request without "stream":true;
 *   - an SSE stream (chunked) of CHUNKS chat.completion.chunk events, one TLS record each,
 *     then the usage chunk and [DONE], for a request with "stream":true.
 *
 * usage: llmsrv -c CERT -k KEY -f READY_FILE [-p PORT] [-n CHUNKS]
 * Writes the port it listens on (127.0.0.1) to READY_FILE, then serves until killed.
 */
#include "bench/benchlib.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define REQ_BUF 65536
#define DEFAULT_CHUNKS 10000
#define PROMPT_TOKENS 25
#define CHUNK_HEX_MAX 16          /* "%zx\r\n" framing of one chunk */
#define HDR_END "\r\n\r\n"

#define MODEL "gpt-4o-mini-2024-07-18"
#define CHAT_REPLY \
    "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"created\":1727346169," \
    "\"model\":\"" MODEL "\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\"," \
    "\"content\":\"Hello! How can I help you today?\",\"refusal\":null,\"annotations\":[]}," \
    "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":25," \
    "\"completion_tokens\":9,\"total_tokens\":34,\"prompt_tokens_details\":{\"cached_tokens\":0," \
    "\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0," \
    "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}},\"service_tier\":" \
    "\"default\",\"system_fingerprint\":\"fp_bench\"}"
#define CHUNK_HEAD \
    "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1727346169," \
    "\"model\":\"" MODEL "\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_bench\","
#define CHUNK_TOKEN CHUNK_HEAD \
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" word\"},\"logprobs\":null," \
    "\"finish_reason\":null}],\"usage\":null}\n\n"
#define CHUNK_STOP CHUNK_HEAD \
    "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]," \
    "\"usage\":null}\n\n"
#define CHUNK_USAGE CHUNK_HEAD \
    "\"choices\":[],\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d," \
    "\"total_tokens\":%d,\"completion_tokens_details\":{\"reasoning_tokens\":0}}}\n\n"
#define CHUNK_DONE "data: [DONE]\n\n"

/* A reply: one buffer, cut into the pieces that go out as separate SSL_writes. */
struct reply {
    char *buf;
    size_t len;
    size_t *cut;                  /* end offset of each piece */
    size_t n_cuts;
};

static struct {
    SSL_CTX *ctx;
    struct reply chat, stream;
} srv;

static int reply_add(struct reply *r, size_t cap, const char *piece, size_t len, bool cut)
{
    if (r->len + len > cap)
        return -1;
    memcpy(r->buf + r->len, piece, len);
    r->len += len;
    if (cut)
        r->cut[r->n_cuts++] = r->len;
    return 0;
}

/* One HTTP/1.1 chunk holding `ev`, as its own piece. */
static int reply_add_chunk(struct reply *r, size_t cap, const char *ev, size_t len)
{
    char hex[CHUNK_HEX_MAX];
    int n = snprintf(hex, sizeof hex, "%zx\r\n", len);
    if (n <= 0 || reply_add(r, cap, hex, (size_t)n, false) != 0 ||
        reply_add(r, cap, ev, len, false) != 0)
        return -1;
    return reply_add(r, cap, "\r\n", 2, true);
}

static int build_chat(struct reply *r)
{
    static const char body[] = CHAT_REPLY;
    char head[256];
    int n = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: keep-alive\r\n\r\n", sizeof body - 1);
    size_t cap = (size_t)n + sizeof body;
    r->buf = malloc(cap);
    r->cut = malloc(sizeof *r->cut);
    if (n <= 0 || !r->buf || !r->cut)
        return -1;
    if (reply_add(r, cap, head, (size_t)n, false) != 0)
        return -1;
    return reply_add(r, cap, body, sizeof body - 1, true);
}

static int build_stream(struct reply *r, int chunks)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; "
                               "charset=utf-8\r\nTransfer-Encoding: chunked\r\n"
                               "Connection: keep-alive\r\n\r\n";
    char usage[sizeof CHUNK_USAGE + 3 * CHUNK_HEX_MAX];
    int ul = snprintf(usage, sizeof usage, CHUNK_USAGE, PROMPT_TOKENS, chunks,
                      PROMPT_TOKENS + chunks);
    size_t per = sizeof CHUNK_TOKEN + 2 * CHUNK_HEX_MAX;
    size_t cap = sizeof head + ((size_t)chunks + 3) * per + (size_t)ul + sizeof "0\r\n\r\n";
    r->buf = malloc(cap);
    r->cut = malloc(((size_t)chunks + 5) * sizeof *r->cut);
    if (ul <= 0 || !r->buf || !r->cut || reply_add(r, cap, head, sizeof head - 1, true) != 0)
        return -1;
    for (int i = 0; i < chunks; i++)
        if (reply_add_chunk(r, cap, CHUNK_TOKEN, sizeof CHUNK_TOKEN - 1) != 0)
            return -1;
    if (reply_add_chunk(r, cap, CHUNK_STOP, sizeof CHUNK_STOP - 1) != 0 ||
        reply_add_chunk(r, cap, usage, (size_t)ul) != 0 ||
        reply_add_chunk(r, cap, CHUNK_DONE, sizeof CHUNK_DONE - 1) != 0)
        return -1;
    return reply_add(r, cap, "0\r\n\r\n", 5, true);
}

static int reply_send(SSL *s, const struct reply *r)
{
    size_t off = 0;
    for (size_t i = 0; i < r->n_cuts; i++) {
        if (bl_ssl_write_all(s, r->buf + off, r->cut[i] - off) != 0)
            return -1;
        off = r->cut[i];
    }
    return 0;
}

/* Length of the request at the start of buf (head + Content-Length body); 0 if incomplete. */
static size_t request_len(const char *buf, size_t len)
{
    const char *end = memmem(buf, len, HDR_END, strlen(HDR_END));
    if (!end)
        return 0;
    size_t head = (size_t)(end - buf) + strlen(HDR_END), body = 0;
    for (const char *p = buf; p < end;) {
        if (strncasecmp(p, "content-length:", strlen("content-length:")) == 0)
            body = strtoul(p + strlen("content-length:"), NULL, 10);
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        p = nl + 1;
    }
    return head + body <= len ? head + body : 0;
}

static void *conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char *buf = malloc(REQ_BUF);
    size_t have = 0;
    SSL *s = SSL_new(srv.ctx);
    if (!buf || !s || SSL_set_fd(s, fd) != 1 || SSL_accept(s) != 1)
        goto out;
    for (;;) {
        size_t rl, n = 0;
        while ((rl = request_len(buf, have)) == 0) {
            if (have == REQ_BUF || SSL_read_ex(s, buf + have, REQ_BUF - have, &n) != 1)
                goto out;
            have += n;
        }
        bool stream = memmem(buf, rl, "\"stream\":true", strlen("\"stream\":true")) != NULL;
        if (reply_send(s, stream ? &srv.stream : &srv.chat) != 0)
            goto out;
        memmove(buf, buf + rl, have - rl);
        have -= rl;
    }
out:
    if (s)
        SSL_free(s);
    close(fd);
    free(buf);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *cert = NULL, *key = NULL, *ready = NULL;
    int port = 0, chunks = DEFAULT_CHUNKS, opt;
    while ((opt = getopt(argc, argv, "c:k:f:p:n:")) != -1) {
        switch (opt) {
        case 'c': cert = optarg; break;
        case 'k': key = optarg; break;
        case 'f': ready = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'n': chunks = atoi(optarg); break;
        default: goto usage;
        }
    }
    if (!cert || !key || !ready || chunks <= 0)
        goto usage;
    signal(SIGPIPE, SIG_IGN);
    srv.ctx = bl_server_ctx(cert, key);
    int lfd = bl_listen(port, &port);
    if (!srv.ctx || lfd < 0 || build_chat(&srv.chat) != 0 || build_stream(&srv.stream, chunks) != 0 ||
        bl_ready_file(ready, port) != 0) {
        fprintf(stderr, "llmsrv: cannot start (TLS context, port or ready file)\n");
        return 1;
    }
    for (;;) {
        pthread_t th;
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        if (pthread_create(&th, NULL, conn_main, (void *)(intptr_t)fd) != 0)
            close(fd);
        else
            pthread_detach(th);
    }
usage:
    fprintf(stderr, "usage: llmsrv -c CERT -k KEY -f READY_FILE [-p PORT] [-n CHUNKS]\n");
    return 2;
}
