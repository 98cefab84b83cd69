/*
 * reqbody.c - reading and rewriting LLM request bodies with cJSON (see reqbody.h). The
 * input estimate sums the bytes of the prompt text (messages[].content strings and text
 * parts, system, input, instructions, prompt, contents[].parts[].text) at ~4 bytes a token
 * plus a small per-message overhead for the chat template; a body with no such text falls
 * back to its whole length.
 */
#include "engine/reqbody.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RB_MSG_OVERHEAD 4             /* template tokens around each message */
#define RB_NUMBER_BYTES 4             /* a token id in a pre-tokenised input: one token */
#define RB_MAX_DEPTH 64               /* deeper prompt structures are not walked */
#define RB_MAX_COUNT 1e12

static const char *const rb_text_keys[] = {
    "messages", "contents", "content", "parts", "text", "system", "systemInstruction",
    "input", "instructions", "prompt",
};

static bool rb_is_text_key(const char *k)
{
    for (size_t i = 0; k && i < AK_ARRAY_LEN(rb_text_keys); i++)
        if (strcmp(k, rb_text_keys[i]) == 0)
            return true;
    return false;
}

/* Bytes of prompt text under node; counts messages (array items of messages/contents). */
static size_t rb_text_bytes(const cJSON *node, int depth, size_t *messages)
{
    size_t total = 0;
    if (depth > RB_MAX_DEPTH)
        return 0;
    if (cJSON_IsString(node))
        return strlen(node->valuestring);
    if (cJSON_IsNumber(node))
        return RB_NUMBER_BYTES;
    const cJSON *c;
    cJSON_ArrayForEach(c, node) {
        if (cJSON_IsObject(node) && !rb_is_text_key(c->string))
            continue;
        if (cJSON_IsArray(c) && c->string &&
            (strcmp(c->string, "messages") == 0 || strcmp(c->string, "contents") == 0))
            *messages += (size_t)cJSON_GetArraySize(c);
        total += rb_text_bytes(c, depth + 1, messages);
    }
    return total;
}

static int64_t rb_int(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > RB_MAX_COUNT)
        return -1;
    return (int64_t)v->valuedouble;
}

static void rb_copy_string(const cJSON *v, char *out, size_t outlen)
{
    if (cJSON_IsString(v) && v->valuestring[0])
        ak_str_copy(out, outlen, v->valuestring);
}

static void rb_limits(const cJSON *root, struct ak_xreq *req)
{
    static const char *const max_keys[] = {
        "max_completion_tokens", "max_output_tokens", "max_tokens",
    };
    const cJSON *gc = cJSON_GetObjectItemCaseSensitive(root, "generationConfig");
    req->max_output_tokens = rb_int(gc, "maxOutputTokens");
    for (size_t i = 0; req->max_output_tokens < 0 && i < AK_ARRAY_LEN(max_keys); i++)
        req->max_output_tokens = rb_int(root, max_keys[i]);
    int64_t n = rb_int(root, "n");
    if (n < 0)
        n = rb_int(gc, "candidateCount");
    req->n_choices = n > 0 ? n : 1;
}

static void rb_customer(const cJSON *root, struct ak_xreq *req)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "metadata");
    rb_copy_string(cJSON_GetObjectItemCaseSensitive(root, "safety_identifier"),
                   req->customer, sizeof req->customer);
    rb_copy_string(cJSON_GetObjectItemCaseSensitive(meta, "user_id"),
                   req->customer, sizeof req->customer);
    rb_copy_string(cJSON_GetObjectItemCaseSensitive(root, "user"),
                   req->customer, sizeof req->customer);
}

bool ak_reqbody_describe(const unsigned char *body, size_t len, struct ak_xreq *req)
{
    cJSON *root = cJSON_ParseWithLength((const char *)body, len);
    bool ok = cJSON_IsObject(root);
    if (!ok)
        goto out;
    rb_copy_string(cJSON_GetObjectItemCaseSensitive(root, "model"), req->model,
                   sizeof req->model);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "stream")))
        req->stream = true;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    req->include_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
    rb_limits(root, req);
    rb_customer(root, req);
    size_t messages = 0;
    size_t text = rb_text_bytes(root, 0, &messages);
    if (text == 0 && messages == 0)
        req->input_estimate = ak_estimate_tokens(body, len);
    else
        req->input_estimate = (int64_t)((text + AK_BYTES_PER_TOKEN - 1) / AK_BYTES_PER_TOKEN) +
                              RB_MSG_OVERHEAD * (int64_t)messages;
out:
    cJSON_Delete(root);
    return ok;
}
