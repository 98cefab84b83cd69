/*
 * chan_webhook.c - a generic JSON webhook: the alert's fields plus "text". With a secret,
 * the request is signed so that the receiver can check origin and freshness:
 *   X-Agentkavach-Timestamp: <unix seconds>
 *   X-Agentkavach-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
 * A receiver should reject timestamps more than a few minutes old (replays).
 */
#include "collector/alert.h"
#include "collector/logrl.h"
#include "collector/template.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WH_HEADER_LEN 160

/* "sha256=<hex>" of HMAC-SHA256(secret, ts "." body) into out. */
static bool webhook_sign(const char *secret, const char *ts, const char *body, char *out, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    struct ak_buf msg = { 0 };
    bool ok = ak_buf_printf(&msg, "%s.", ts) == AK_OK &&
              ak_buf_append(&msg, body, strlen(body), 0) == AK_OK &&
              HMAC(EVP_sha256(), secret, (int)strlen(secret), msg.data, msg.len, mac, &n) != NULL &&
              len > 7 + 2 * (size_t)n;
    if (ok) {
        memcpy(out, "sha256=", 7);
        for (unsigned i = 0; i < n; i++) {
            out[7 + 2 * i] = hex[mac[i] >> 4];
            out[7 + 2 * i + 1] = hex[mac[i] & 15];
        }
        out[7 + 2 * n] = '\0';
    }
    ak_buf_free(&msg);
    return ok;
}

enum akc_outcome akc_webhook_send(const struct ak_channel *ch, const struct akc_alert *a)
{
    enum akc_outcome out = AKC_RETRY;
    char ts[32], sig[2 * EVP_MAX_MD_SIZE + 8];
    char h_ts[WH_HEADER_LEN], h_sig[WH_HEADER_LEN];
    const char *headers[3] = { NULL, NULL, NULL };
    char *body = NULL, *text = akc_alert_text(a, ch);
    cJSON *root = cJSON_CreateObject();
    if (!text || !root || !akc_alert_fields_json(a, root) ||
        !cJSON_AddStringToObject(root, "text", text) || !(body = cJSON_PrintUnformatted(root)))
        goto out;
    if (ch->secret && *ch->secret) {
        snprintf(ts, sizeof ts, "%lld", (long long)(ak_now_ms() / AK_MS_PER_S));
        if (!webhook_sign(ch->secret, ts, body, sig, sizeof sig))
            goto out;
        snprintf(h_ts, sizeof h_ts, "X-Agentkavach-Timestamp: %s", ts);
        snprintf(h_sig, sizeof h_sig, "X-Agentkavach-Signature: %s", sig);
        headers[0] = h_ts;
        headers[1] = h_sig;
    }
    out = akc_channel_post(ch, "webhook", ch->url, headers, body);
out:
    cJSON_Delete(root);
    free(body);
    free(text);
    return out;
}
