/*
 * exp_otlp.c - the OpenTelemetry exporter: OTLP/HTTP with JSON encoding, following the GenAI
 * semantic conventions (reference/telemetry-and-alerts.md section 3).
 *
 * Per batch of events it POSTs
 *   <endpoint>/v1/metrics: gen_ai.client.token.usage (histogram, {token}, one point per call
 *     and token type), gen_ai.client.operation.duration (histogram, s) and agentkavach.cost
 *     (monotonic delta sum, USD, with the agent), for the calls that reached the provider;
 *   <endpoint>/v1/traces: one CLIENT span per call named "{operation} {model}" with the
 *     gen_ai.* attributes; refused calls are spans with an error status.
 * Resource: service.name=agentkavach, host.name. OTLP JSON rules: lowerCamelCase keys, hex
 * trace/span ids, integer enums, 64-bit integers as decimal strings.
 * Trace and span ids are derived from the event_id, so a retried batch repeats the same ids.
 * Retry only on 429/502/503/504 and network errors; other refusals are permanent. When the
 * metrics went through but the traces did not, the retry sends only the traces.
 */
#include "collector/exporter.h"
#include "collector/logrl.h"
#include "core/event.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OTLP_URL_MAX 1024
#define OTLP_HOST_MAX 256
#define OTLP_SCOPE_NAME "agentkavach"
#define OTLP_SCOPE_VERSION "1"
#define OTLP_SERVICE_NAME "agentkavach"
#define OTLP_TEMPORALITY_DELTA 1
#define OTLP_SPAN_KIND_CLIENT 3
#define OTLP_STATUS_OK 1
#define OTLP_STATUS_ERROR 2
#define OTLP_TRACE_ID_BYTES 16
#define OTLP_SPAN_ID_BYTES 8
#define HTTP_ERROR_MIN 400

static const long otlp_retry_statuses[] = { 429, 502, 503, 504 };

static const double token_bounds[] = { 1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144,
                                       1048576, 4194304, 16777216, 67108864 };
static const double duration_bounds[] = { 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64,
                                          1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92 };

struct otlp {
    char metrics_url[OTLP_URL_MAX];
    char traces_url[OTLP_URL_MAX];
    char probe_url[OTLP_URL_MAX];
    char host_name[OTLP_HOST_MAX];
    uint64_t metrics_done_upto;   /* last seq whose metrics were accepted (partial batches) */
};

/* ---- attribute helpers (an OTLP KeyValue list) ---- */

static bool attr_add(cJSON *list, const char *key, const char *vkind, cJSON *v)
{
    cJSON *kv = cJSON_CreateObject(), *val = cJSON_CreateObject();
    if (!kv || !val || !v) {
        cJSON_Delete(kv);
        cJSON_Delete(val);
        cJSON_Delete(v);
        return false;
    }
    cJSON_AddItemToObject(val, vkind, v);
    if (!cJSON_AddStringToObject(kv, "key", key)) {
        cJSON_Delete(kv);
        cJSON_Delete(val);
        return false;
    }
    cJSON_AddItemToObject(kv, "value", val);
    cJSON_AddItemToArray(list, kv);
    return true;
}

static bool attr_str(cJSON *list, const char *key, const char *s)
{
    return attr_add(list, key, "stringValue", cJSON_CreateString(s ? s : ""));
}

static bool attr_int(cJSON *list, const char *key, int64_t v)
{
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)v);
    return attr_add(list, key, "intValue", cJSON_CreateString(num));
}

static bool attr_bool(cJSON *list, const char *key, bool v)
{
    return attr_add(list, key, "boolValue", cJSON_CreateBool(v));
}

static bool attr_double(cJSON *list, const char *key, double v)
{
    return attr_add(list, key, "doubleValue", cJSON_CreateNumber(v));
}

static bool add_u64_string(cJSON *obj, const char *key, int64_t v)
{
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)v);
    return cJSON_AddStringToObject(obj, key, num) != NULL;
}

/* ---- GenAI names for our event fields ---- */

static const char *otlp_operation(const struct ak_event *ev)
{
    /* the convention has no "messages" or "responses": both are chat completions */
    enum ak_operation op = ak_operation_parse(ev->operation);
    if (op == AK_OP_MESSAGES || op == AK_OP_RESPONSES)
        return "chat";
    return ev->operation[0] ? ev->operation : "chat";
}

static const char *otlp_provider(const struct ak_event *ev)
{
    switch (ev->provider) {
    case AK_PROV_OPENAI: return "openai";
    case AK_PROV_ANTHROPIC: return "anthropic";
    case AK_PROV_GEMINI:
        return strstr(ev->host, "aiplatform.googleapis.com") ? "gcp.vertex_ai" : "gcp.gemini";
    case AK_PROV_MISTRAL: return "mistral_ai";
    case AK_PROV_NONE: break;
    }
    return "_OTHER";
}

static bool otlp_call_went_out(const struct ak_event *ev)
{
    return ev->decision == AK_DEC_ALLOWED || ev->decision == AK_DEC_UNMETERED;
}

/* error.type: the refusal, or the HTTP status of a failed call; NULL when it succeeded. */
static const char *otlp_error_type(const struct ak_event *ev, char *buf, size_t len)
{
    if (!otlp_call_went_out(ev))
        return ak_decision_name(ev->decision);
    if (ev->status >= HTTP_ERROR_MIN) {
        snprintf(buf, len, "%d", ev->status);
        return buf;
    }
    return NULL;
}

/* The attributes every metric point and span carries. */
static bool otlp_common_attrs(cJSON *list, const struct ak_event *ev)
{
    bool ok = attr_str(list, "gen_ai.operation.name", otlp_operation(ev)) &&
              attr_str(list, "gen_ai.provider.name", otlp_provider(ev)) &&
              attr_str(list, "gen_ai.system", otlp_provider(ev)) &&
              attr_str(list, "gen_ai.request.model", ev->model) &&
              attr_str(list, "gen_ai.response.model", ev->model);
    if (ok && ev->host[0])
        ok = attr_str(list, "server.address", ev->host);
    return ok;
}

/* ---- metrics ---- */

static cJSON *otlp_metric(cJSON *metrics, const char *name, const char *unit, const char *desc,
                          const char *kind)
{
    cJSON *m = cJSON_CreateObject(), *body = cJSON_CreateObject();
    if (!m || !body || !cJSON_AddStringToObject(m, "name", name) ||
        !cJSON_AddStringToObject(m, "unit", unit) ||
        !cJSON_AddStringToObject(m, "description", desc) ||
        !cJSON_AddNumberToObject(body, "aggregationTemporality", OTLP_TEMPORALITY_DELTA)) {
        cJSON_Delete(m);
        cJSON_Delete(body);
        return NULL;
    }
    if (strcmp(kind, "sum") == 0 && !cJSON_AddTrueToObject(body, "isMonotonic")) {
        cJSON_Delete(m);
        cJSON_Delete(body);
        return NULL;
    }
    cJSON_AddItemToObject(m, kind, body);
    cJSON_AddItemToArray(metrics, m);
    return cJSON_AddArrayToObject(body, "dataPoints");
}

static cJSON *otlp_point(cJSON *points, const struct ak_event *ev)
{
    cJSON *p = cJSON_CreateObject();
    if (!p)
        return NULL;
    cJSON_AddItemToArray(points, p);
    if (!add_u64_string(p, "startTimeUnixNano", (ev->ts_ms - ev->duration_ms) * AK_NS_PER_MS) ||
        !add_u64_string(p, "timeUnixNano", ev->ts_ms * AK_NS_PER_MS))
        return NULL;
    cJSON *attrs = cJSON_AddArrayToObject(p, "attributes");
    if (!attrs || !otlp_common_attrs(attrs, ev))
        return NULL;
    return p;
}

/* One histogram point holding the single value v. */
static bool otlp_hist_point(cJSON *points, const struct ak_event *ev, double v,
                            const double *bounds, size_t nb, const char *token_type)
{
    cJSON *p = otlp_point(points, ev);
    if (!p)
        return false;
    cJSON *attrs = cJSON_GetObjectItemCaseSensitive(p, "attributes");
    char et[16];
    const char *err = otlp_error_type(ev, et, sizeof et);
    if (token_type && !attr_str(attrs, "gen_ai.token.type", token_type))
        return false;
    if (!token_type && err && !attr_str(attrs, "error.type", err))
        return false;
    size_t idx = nb;
    for (size_t i = 0; i < nb; i++)
        if (v <= bounds[i]) {
            idx = i;
            break;
        }
    cJSON *counts = cJSON_AddArrayToObject(p, "bucketCounts");
    cJSON *eb = cJSON_CreateDoubleArray(bounds, (int)nb);
    if (!counts || !eb || !cJSON_AddStringToObject(p, "count", "1") ||
        !cJSON_AddNumberToObject(p, "sum", v) || !cJSON_AddNumberToObject(p, "min", v) ||
        !cJSON_AddNumberToObject(p, "max", v)) {
        cJSON_Delete(eb);
        return false;
    }
    cJSON_AddItemToObject(p, "explicitBounds", eb);
    for (size_t i = 0; i <= nb; i++) {
        cJSON *c = cJSON_CreateString(i == idx ? "1" : "0");
        if (!c)
            return false;
        cJSON_AddItemToArray(counts, c);
    }
    return true;
}

static bool otlp_cost_point(cJSON *points, const struct ak_event *ev)
{
    cJSON *p = otlp_point(points, ev);
    if (!p)
        return false;
    cJSON *attrs = cJSON_GetObjectItemCaseSensitive(p, "attributes");
    return attr_str(attrs, "agentkavach.agent", ev->agent) &&
           attr_str(attrs, "gen_ai.agent.name", ev->agent) &&
           cJSON_AddNumberToObject(p, "asDouble", (double)ev->cost_micros / AK_MICROS_PER_USD);
}

/* The resource/scope envelope shared by metrics and traces; returns the scope object. */
static cJSON *otlp_envelope(struct otlp *o, cJSON *root, const char *res_key, const char *scope_key)
{
    cJSON *rl = cJSON_AddArrayToObject(root, res_key);
    cJSON *r = cJSON_CreateObject();
    if (!rl || !r) {
        cJSON_Delete(r);
        return NULL;
    }
    cJSON_AddItemToArray(rl, r);
    cJSON *res = cJSON_AddObjectToObject(r, "resource");
    cJSON *attrs = res ? cJSON_AddArrayToObject(res, "attributes") : NULL;
    if (!attrs || !attr_str(attrs, "service.name", OTLP_SERVICE_NAME) ||
        !attr_str(attrs, "host.name", o->host_name))
        return NULL;
    cJSON *sl = cJSON_AddArrayToObject(r, scope_key);
    cJSON *s = cJSON_CreateObject();
    if (!sl || !s) {
        cJSON_Delete(s);
        return NULL;
    }
    cJSON_AddItemToArray(sl, s);
    cJSON *scope = cJSON_AddObjectToObject(s, "scope");
    if (!scope || !cJSON_AddStringToObject(scope, "name", OTLP_SCOPE_NAME) ||
        !cJSON_AddStringToObject(scope, "version", OTLP_SCOPE_VERSION))
        return NULL;
    return s;
}

static bool otlp_metrics_add(cJSON *tokens, cJSON *durations, cJSON *costs, const struct ak_event *ev)
{
    if (!otlp_call_went_out(ev))
        return true;
    bool ok = otlp_hist_point(tokens, ev, (double)ev->usage.input_tokens, token_bounds,
                              AK_ARRAY_LEN(token_bounds), "input") &&
              otlp_hist_point(tokens, ev, (double)ev->usage.output_tokens, token_bounds,
                              AK_ARRAY_LEN(token_bounds), "output") &&
              otlp_hist_point(durations, ev, (double)ev->duration_ms / ((double)AK_MS_PER_S),
                              duration_bounds, AK_ARRAY_LEN(duration_bounds), NULL) &&
              otlp_cost_point(costs, ev);
    return ok;
}

/* ---- spans ---- */

static void otlp_ids(const char *event_id, char trace[2 * OTLP_TRACE_ID_BYTES + 1],
                     char span[2 * OTLP_SPAN_ID_BYTES + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    memset(md, 0, sizeof md);
    if (!EVP_Digest(event_id, strlen(event_id), md, &n, EVP_sha256(), NULL))
        md[0] = 1; /* an all-zero id is invalid in OTLP */
    for (int i = 0; i < OTLP_TRACE_ID_BYTES; i++) {
        trace[2 * i] = hex[md[i] >> 4];
        trace[2 * i + 1] = hex[md[i] & 15];
    }
    trace[2 * OTLP_TRACE_ID_BYTES] = '\0';
    for (int i = 0; i < OTLP_SPAN_ID_BYTES; i++) {
        unsigned char b = md[OTLP_TRACE_ID_BYTES + i];
        span[2 * i] = hex[b >> 4];
        span[2 * i + 1] = hex[b & 15];
    }
    span[2 * OTLP_SPAN_ID_BYTES] = '\0';
}

static bool otlp_span_attrs(cJSON *a, const struct ak_event *ev)
{
    char et[16];
    const char *err = otlp_error_type(ev, et, sizeof et);
    bool ok = otlp_common_attrs(a, ev) && attr_bool(a, "gen_ai.request.stream", ev->stream) &&
              attr_int(a, "gen_ai.usage.input_tokens", ev->usage.input_tokens) &&
              attr_int(a, "gen_ai.usage.output_tokens", ev->usage.output_tokens) &&
              attr_int(a, "gen_ai.usage.cache_read.input_tokens", ev->usage.cached_input_tokens) &&
              attr_int(a, "gen_ai.usage.cache_creation.input_tokens", ev->usage.cache_write_tokens) &&
              attr_int(a, "gen_ai.usage.reasoning.output_tokens", ev->usage.reasoning_tokens) &&
              attr_str(a, "gen_ai.agent.name", ev->agent) &&
              attr_str(a, "agentkavach.agent", ev->agent) &&
              attr_double(a, "agentkavach.cost_usd", (double)ev->cost_micros / AK_MICROS_PER_USD) &&
              attr_str(a, "agentkavach.cost_source", ak_cost_source_name(ev->cost_source)) &&
              attr_str(a, "agentkavach.decision", ak_decision_name(ev->decision)) &&
              attr_str(a, "agentkavach.event_id", ev->event_id);
    if (ok && ev->status)
        ok = attr_int(a, "http.response.status_code", ev->status);
    if (ok && err)
        ok = attr_str(a, "error.type", err);
    if (ok && ev->reason[0])
        ok = attr_str(a, "agentkavach.reason", ev->reason);
    return ok;
}

static bool otlp_span_add(cJSON *spans, const struct ak_event *ev)
{
    char trace[2 * OTLP_TRACE_ID_BYTES + 1], span[2 * OTLP_SPAN_ID_BYTES + 1];
    char name[AK_EV_NAME + 32], et[16];
    cJSON *s = cJSON_CreateObject();
    if (!s)
        return false;
    cJSON_AddItemToArray(spans, s);
    otlp_ids(ev->event_id, trace, span);
    snprintf(name, sizeof name, "%s %s", otlp_operation(ev), ev->model);
    const char *err = otlp_error_type(ev, et, sizeof et);
    cJSON *attrs, *status;
    if (!cJSON_AddStringToObject(s, "traceId", trace) || !cJSON_AddStringToObject(s, "spanId", span) ||
        !cJSON_AddStringToObject(s, "name", name) ||
        !cJSON_AddNumberToObject(s, "kind", OTLP_SPAN_KIND_CLIENT) ||
        !add_u64_string(s, "startTimeUnixNano", (ev->ts_ms - ev->duration_ms) * AK_NS_PER_MS) ||
        !add_u64_string(s, "endTimeUnixNano", ev->ts_ms * AK_NS_PER_MS) ||
        !(attrs = cJSON_AddArrayToObject(s, "attributes")) || !otlp_span_attrs(attrs, ev) ||
        !(status = cJSON_AddObjectToObject(s, "status")) ||
        !cJSON_AddNumberToObject(status, "code", err ? OTLP_STATUS_ERROR : OTLP_STATUS_OK))
        return false;
    return !err || cJSON_AddStringToObject(status, "message", err) != NULL;
}

/* ---- requests ---- */

struct otlp_docs {
    cJSON *metrics_root, *traces_root;
    cJSON *tokens, *durations, *costs, *spans;
    size_t n_points;
};

static bool otlp_docs_init(struct otlp *o, struct otlp_docs *d)
{
    memset(d, 0, sizeof *d);
    d->metrics_root = cJSON_CreateObject();
    d->traces_root = cJSON_CreateObject();
    if (!d->metrics_root || !d->traces_root)
        return false;
    cJSON *ms = otlp_envelope(o, d->metrics_root, "resourceMetrics", "scopeMetrics");
    cJSON *ts = otlp_envelope(o, d->traces_root, "resourceSpans", "scopeSpans");
    cJSON *metrics = ms ? cJSON_AddArrayToObject(ms, "metrics") : NULL;
    if (!metrics || !ts || !(d->spans = cJSON_AddArrayToObject(ts, "spans")))
        return false;
    d->tokens = otlp_metric(metrics, "gen_ai.client.token.usage", "{token}",
                            "Number of input and output tokens used.", "histogram");
    d->durations = otlp_metric(metrics, "gen_ai.client.operation.duration", "s",
                               "GenAI operation duration.", "histogram");
    d->costs = otlp_metric(metrics, "agentkavach.cost", "USD",
                           "Cost of LLM calls as priced by agentkavach.", "sum");
    return d->tokens && d->durations && d->costs;
}

static void otlp_docs_free(struct otlp_docs *d)
{
    cJSON_Delete(d->metrics_root);
    cJSON_Delete(d->traces_root);
}

static enum akc_outcome otlp_post(const char *url, cJSON *doc)
{
    struct akc_http_result res;
    char *body = cJSON_PrintUnformatted(doc);
    if (!body)
        return AKC_RETRY;
    enum akc_outcome out = akc_http_post_json(url, NULL, body, strlen(body), &res);
    free(body);
    if (res.status)
        out = akc_http_classify(res.status, otlp_retry_statuses, AK_ARRAY_LEN(otlp_retry_statuses));
    if (out != AKC_DELIVERED)
        akc_log_limited(AK_LOG_WARN, url, "otlp: %s: %s%s", url, res.error,
                        out == AKC_RETRY ? " (will retry)" : " (refused; not retried)");
    else
        akc_log_clear(url);
    return out;
}

static enum akc_outcome otlp_deliver(struct akc_exporter *e, const struct akc_batch *b)
{
    struct otlp *o = e->impl;
    struct otlp_docs d;
    enum akc_outcome out = AKC_RETRY;
    uint64_t last = b->n ? b->recs[b->n - 1].seq : 0;
    if (!otlp_docs_init(o, &d))
        goto out;
    for (size_t i = 0; i < b->n; i++) {
        struct ak_event ev;
        if (ak_event_from_json(akc_record_json(b, i), b->recs[i].len, &ev) != AK_OK) {
            akc_log_limited(AK_LOG_WARN, "otlp-parse", "otlp: event #%llu is not a valid record; "
                            "skipped", (unsigned long long)b->recs[i].seq);
            continue;
        }
        if (!ak_event_is_call(&ev)) {       /* an operator's action: not a gen_ai call */
            ak_event_clear(&ev);
            continue;
        }
        bool ok = otlp_metrics_add(d.tokens, d.durations, d.costs, &ev) && otlp_span_add(d.spans, &ev);
        if (otlp_call_went_out(&ev))
            d.n_points++;
        ak_event_clear(&ev);
        if (!ok)
            goto out;
    }
    if (d.n_points && last > o->metrics_done_upto) {
        out = otlp_post(o->metrics_url, d.metrics_root);
        if (out == AKC_RETRY)
            goto out;
        o->metrics_done_upto = last;
    }
    out = cJSON_GetArraySize(d.spans) ? otlp_post(o->traces_url, d.traces_root) : AKC_DELIVERED;
out:
    otlp_docs_free(&d);
    return out;
}

static bool otlp_check(struct akc_exporter *e, char *msg, size_t len)
{
    struct otlp *o = e->impl;
    char err[256];
    if (!akc_http_probe(o->probe_url, err, sizeof err)) {
        snprintf(msg, len, "%s unreachable: %s", o->probe_url, err);
        return false;
    }
    snprintf(msg, len, "%s reachable", o->probe_url);
    return true;
}

static void otlp_destroy(struct akc_exporter *e)
{
    free(e->impl);
    free(e);
}

static const struct akc_exporter_ops otlp_ops = {
    .kind = "otlp", .deliver = otlp_deliver, .check = otlp_check, .destroy = otlp_destroy,
};

enum ak_err akc_otlp_new(const struct ak_config *cfg, struct akc_exporter **out)
{
    struct akc_exporter *e = calloc(1, sizeof *e);
    struct otlp *o = calloc(1, sizeof *o);
    if (!e || !o) {
        free(e);
        free(o);
        return AK_ERR_NOMEM;
    }
    size_t n = strlen(cfg->otlp_endpoint);
    while (n > 0 && cfg->otlp_endpoint[n - 1] == '/')
        n--;
    int a = snprintf(o->metrics_url, sizeof o->metrics_url, "%.*s/v1/metrics", (int)n, cfg->otlp_endpoint);
    int t = snprintf(o->traces_url, sizeof o->traces_url, "%.*s/v1/traces", (int)n, cfg->otlp_endpoint);
    snprintf(o->probe_url, sizeof o->probe_url, "%.*s", (int)n, cfg->otlp_endpoint);
    if (a <= 0 || (size_t)a >= sizeof o->metrics_url || t <= 0 || (size_t)t >= sizeof o->traces_url) {
        free(e);
        free(o);
        return AK_ERR_INVAL;
    }
    if (gethostname(o->host_name, sizeof o->host_name) != 0)
        snprintf(o->host_name, sizeof o->host_name, "unknown");
    o->host_name[sizeof o->host_name - 1] = '\0';
    snprintf(e->name, sizeof e->name, "otlp");
    e->ops = &otlp_ops;
    e->impl = o;
    e->min_interval_ms = (int64_t)(cfg->otlp_interval_s > 0 ? cfg->otlp_interval_s : 0) * AK_MS_PER_S;
    *out = e;
    return AK_OK;
}
