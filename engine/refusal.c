/*
 * refusal.c - the synthetic 429 served instead of a refused call (DESIGN.md "A refused
 * call"): the provider's own error shape so that its SDK raises its rate-limit/quota
 * error, with x-should-retry: false and Connection: close so it neither retries nor waits.
 * The body is built with cJSON so the message is always correctly escaped.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "engine/exchange.h"

#define REFUSAL_STATUS 429
#define REFUSAL_HEAD "HTTP/1.1 429 Too Many Requests\r\n" REFUSAL_FIELDS
#define UPGRADE_HEAD "HTTP/1.1 426 Upgrade Required\r\n" REFUSAL_FIELDS
#define REFUSAL_FIELDS \
                     "Content-Type: application/json\r\n" \
                     "Content-Length: %zu\r\n" \
                     "Connection: close\r\n" \
                     "x-should-retry: false\r\n" \
                     "\r\n"

/* {"error":{"message":m,"type":"insufficient_quota","param":null,"code":"budget_exceeded"}} */
static bool refusal_openai(cJSON *root, const char *msg)
{
    cJSON *e = cJSON_AddObjectToObject(root, "error");
    return e && cJSON_AddStringToObject(e, "message", msg) &&
           cJSON_AddStringToObject(e, "type", "insufficient_quota") &&
           cJSON_AddNullToObject(e, "param") &&
           cJSON_AddStringToObject(e, "code", "budget_exceeded");
}

/* {"type":"error","error":{"type":"rate_limit_error","message":m}} */
static bool refusal_anthropic(cJSON *root, const char *msg)
{
    cJSON *e;
    return cJSON_AddStringToObject(root, "type", "error") &&
           (e = cJSON_AddObjectToObject(root, "error")) &&
           cJSON_AddStringToObject(e, "type", "rate_limit_error") &&
           cJSON_AddStringToObject(e, "message", msg);
}

/* {"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":m}}. The message ends the way
 * Google words an exhausted quota ("limit: 0"): Gemini CLI retries every other 429 with
 * back-off for minutes, and stops at once on that one. */
#define GEMINI_QUOTA_TAIL " (Quota exceeded for metric: agentkavach budget, limit: 0)"

static bool refusal_gemini(cJSON *root, const char *msg)
{
    char text[AK_EV_REASON + sizeof GEMINI_QUOTA_TAIL];
    snprintf(text, sizeof text, "%s" GEMINI_QUOTA_TAIL, msg);
    cJSON *e = cJSON_AddObjectToObject(root, "error");
    return e && cJSON_AddNumberToObject(e, "code", REFUSAL_STATUS) &&
           cJSON_AddStringToObject(e, "status", "RESOURCE_EXHAUSTED") &&
           cJSON_AddStringToObject(e, "message", text);
}

/* {"object":"error","message":m,"type":"rate_limited","param":null,"code":"budget_exceeded"} */
static bool refusal_mistral(cJSON *root, const char *msg)
{
    return cJSON_AddStringToObject(root, "object", "error") &&
           cJSON_AddStringToObject(root, "message", msg) &&
           cJSON_AddStringToObject(root, "type", "rate_limited") &&
           cJSON_AddNullToObject(root, "param") &&
           cJSON_AddStringToObject(root, "code", "budget_exceeded");
}

static enum ak_err refusal_build(const char *head, enum ak_provider provider, const char *message,
                                 bool json_array, struct ak_buf *out)
{
    enum ak_err err = AK_ERR_NOMEM;
    char *body = NULL;
    const char *msg = message ? message : "budget exceeded";
    cJSON *root = cJSON_CreateObject();
    if (!root || !out)
        goto out;
    bool ok;
    switch (provider) {
    case AK_PROV_ANTHROPIC: ok = refusal_anthropic(root, msg); break;
    case AK_PROV_GEMINI: ok = refusal_gemini(root, msg); break;
    case AK_PROV_MISTRAL: ok = refusal_mistral(root, msg); break;
    case AK_PROV_OPENAI:
    case AK_PROV_NONE:
    default: ok = refusal_openai(root, msg); break;
    }
    if (!ok || !(body = cJSON_PrintUnformatted(root)))
        goto out;
    size_t blen = strlen(body);
    err = ak_buf_printf(out, head, blen + (json_array ? 2 : 0));
    if (err == AK_OK && json_array)
        err = ak_buf_append(out, "[", 1, 0);
    if (err == AK_OK)
        err = ak_buf_append(out, body, blen, 0);
    if (err == AK_OK && json_array)
        err = ak_buf_append(out, "]", 1, 0);
out:
    cJSON_free(body);
    cJSON_Delete(root);
    return err;
}

enum ak_err ak_refusal_build(enum ak_provider provider, const char *message, bool json_array,
                             struct ak_buf *out)
{
    return refusal_build(REFUSAL_HEAD, provider, message, json_array, out);
}

enum ak_err ak_refusal_build_upgrade(enum ak_provider provider, const char *message,
                                     struct ak_buf *out)
{
    return refusal_build(UPGRADE_HEAD, provider, message, false, out);
}
