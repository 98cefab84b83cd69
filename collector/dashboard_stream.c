/*
 * dashboard_stream.c - GET /api/stream?agent=&after=SEQ: new event records as Server-Sent
 * Events ("id: SEQ", "event: ak-event", "data: RECORD"), from after SEQ (default: from now
 * on). The connection's own thread polls the ledger every STREAM_POLL_MS, so a call the shim
 * records shows within that; a comment line every STREAM_KEEPALIVE_MS keeps proxies and the
 * connection timeout from closing a quiet stream and finds clients that went away. When the
 * collector stops, every stream ends within one poll.
 *
 * The page reads it with fetch() (an EventSource cannot send the Authorization header).
 */
#include "collector/dashboard_impl.h"

#include "core/event.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STREAM_POLL_MS 200
#define STREAM_KEEPALIVE_MS 15000
#define STREAM_BATCH 200
#define STREAM_BLOCK 8192
#define NS_PER_MS 1000000L

struct stream {
    struct akd *d;
    char *agent;                  /* NULL = every agent */
    bool keep_prompts;
    uint64_t after;
    struct ak_buf out;            /* bytes not yet handed to libmicrohttpd */
    size_t off;
    int64_t idle_ms;
};

static int stream_on_record(uint64_t seq, const char *json, size_t len, void *ud)
{
    struct stream *s = ud;
    struct ak_event ev;
    s->after = seq;
    if (ak_event_from_json(json, len, &ev) != AK_OK)
        return 0;
    bool match = !s->agent || strcmp(ev.agent, s->agent) == 0;
    ak_event_clear(&ev);
    if (!match)
        return 0;
    char *text = NULL;
    if (!s->keep_prompts) {              /* the record without a stored prompt */
        cJSON *o = cJSON_ParseWithLength(json, len);
        if (o && cJSON_GetObjectItemCaseSensitive(o, "prompt")) {
            cJSON_DeleteItemFromObjectCaseSensitive(o, "prompt");
            text = cJSON_PrintUnformatted(o);
        }
        cJSON_Delete(o);
    }
    enum ak_err rc = ak_buf_printf(&s->out, "id: %llu\nevent: ak-event\ndata: %.*s\n\n",
                                   (unsigned long long)seq, text ? (int)strlen(text) : (int)len,
                                   text ? text : json);
    free(text);
    return rc != AK_OK;
}

static void stream_sleep(void)
{
    const struct timespec ts = { 0, STREAM_POLL_MS * NS_PER_MS };
    nanosleep(&ts, NULL);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *s = cls;
    while (s->off == s->out.len) {
        ak_buf_reset(&s->out);
        s->off = 0;
        if (atomic_load(&s->d->stopping))
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (ak_ledger_events_scan(s->d->c->ledger, s->after, STREAM_BATCH, stream_on_record, s) != AK_OK)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (s->out.len)
            break;
        stream_sleep();
        s->idle_ms += STREAM_POLL_MS;
        if (s->idle_ms >= STREAM_KEEPALIVE_MS && ak_buf_printf(&s->out, ": keepalive\n\n") == AK_OK)
            break;
    }
    s->idle_ms = 0;
    size_t n = s->out.len - s->off < max ? s->out.len - s->off : max;
    memcpy(buf, s->out.data + s->off, n);
    s->off += n;
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    struct stream *s = cls;
    ak_buf_free(&s->out);
    free(s->agent);
    free(s);
}

enum MHD_Result akd_api_stream(struct akd_req *r)
{
    struct stream *s = calloc(1, sizeof *s);
    const char *agent = akd_arg(r, "agent"), *after = akd_arg(r, "after");
    if (!s)
        return MHD_NO;
    s->d = r->d;
    pthread_rwlock_rdlock(&r->d->c->cfg_lock);
    s->keep_prompts = r->d->c->cfg->save_prompts;
    pthread_rwlock_unlock(&r->d->c->cfg_lock);
    if (agent && *agent && !(s->agent = strdup(agent))) {
        free(s);
        return MHD_NO;
    }
    char *end = NULL;
    if (after && *after) {
        s->after = strtoull(after, &end, 10);
        if (*end || *after == '-') {
            stream_free(s);
            return akd_error(r, MHD_HTTP_BAD_REQUEST, "after: a sequence number");
        }
    } else if (ak_ledger_events_last_seq(r->d->c->ledger, &s->after) != AK_OK) {
        s->after = 0;
    }
    if (ak_buf_printf(&s->out, "retry: 2000\n: agentkavach events after %llu\n\n",
                      (unsigned long long)s->after) != AK_OK) {
        stream_free(s);
        return MHD_NO;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_read, s, stream_free);
    if (!resp) {
        stream_free(s);
        return MHD_NO;
    }
    akd_headers(resp, true);
    MHD_add_response_header(resp, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    enum MHD_Result ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}
